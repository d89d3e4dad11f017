import { readTextIfExists, writeFileAtomically } from '@defter/log';
import { crc32c } from '@defter/protocol';
import { StateStoreError } from './state-store-error.js';

/** The file in a task's state directory that says how far its stores reflect their changelogs. */
export const CHECKPOINT_FILE_NAME = '.checkpoint';
const HEADER = 'defter-state-checkpoint 1';
const TOPIC_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;
const OFFSET_PATTERN = /^(0|[1-9][0-9]{0,18})$/;
const PARTITION_PATTERN = /^(0|[1-9][0-9]{0,9})$/;
const INT64_MAX = 2n ** 63n - 1n;

/** One changelog partition and the offset the local store has applied up to (the next offset to restore from). */
export interface CheckpointEntry {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

/**
 * The checkpoint's text:
 *
 *   defter-state-checkpoint 1
 *   <entry count>
 *   <topic> <partition> <offset>        (one line per changelog partition, sorted)
 *   crc32c <8 hex digits>               (CRC-32C of every byte before this line)
 *
 * Written atomically (temporary file, fsync, rename), so a crash leaves the old or the new file;
 * the count and the CRC still reject a file cut short or damaged some other way, and a rejected
 * checkpoint means "restore from the changelog's start", never a wrong offset.
 */
export function encodeCheckpoint(entries: Iterable<CheckpointEntry>): string {
  const sorted = [...entries].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  const seen = new Set<string>();
  let body = `${HEADER}\n${sorted.length}\n`;
  for (const { topic, partition, offset } of sorted) {
    if (!TOPIC_PATTERN.test(topic)) throw new StateStoreError('checkpoint', 'invalid-argument', `checkpoint: ${JSON.stringify(topic)} is not a valid topic name.`);
    if (!Number.isSafeInteger(partition) || partition < 0 || partition > 0x7fffffff) throw new StateStoreError('checkpoint', 'invalid-argument', `checkpoint: partition ${partition} of topic "${topic}" is not a valid partition.`);
    if (offset < 0n || offset > INT64_MAX) throw new StateStoreError('checkpoint', 'invalid-argument', `checkpoint: offset ${offset} of ${topic}-${partition} is not a valid offset.`);
    const id = `${topic} ${partition}`;
    if (seen.has(id)) throw new StateStoreError('checkpoint', 'invalid-argument', `checkpoint: ${topic}-${partition} appears twice.`);
    seen.add(id);
    body += `${topic} ${partition} ${offset}\n`;
  }
  return `${body}crc32c ${crcHex(body)}\n`;
}

/** Parses a checkpoint's text; throws `StateStoreError` (`corrupt`) naming `source` when it is not a whole, valid one. */
export function decodeCheckpoint(text: string, source: string): CheckpointEntry[] {
  const corrupt = (why: string): StateStoreError => new StateStoreError('checkpoint', 'corrupt', `the state checkpoint ${source} is corrupt: ${why}.`);
  const crcLineStart = text.lastIndexOf('crc32c ');
  if (crcLineStart < 0 || !text.endsWith('\n')) throw corrupt('it does not end with its checksum line (a torn or truncated write)');
  const body = text.slice(0, crcLineStart);
  const crcLine = text.slice(crcLineStart, -1);
  if (crcLine !== `crc32c ${crcHex(body)}`) throw corrupt('its checksum does not match its contents');
  const lines = body.split('\n');
  lines.pop(); // the body ends with a newline
  if (lines[0] !== HEADER) throw corrupt(`its first line is not "${HEADER}"`);
  const count = Number(lines[1]);
  if (!Number.isSafeInteger(count) || count < 0 || lines.length !== count + 2) throw corrupt(`it announces ${lines[1]} entries and holds ${lines.length - 2}`);
  const entries: CheckpointEntry[] = [];
  for (const line of lines.slice(2)) {
    const fields = line.split(' ');
    if (fields.length !== 3 || !TOPIC_PATTERN.test(fields[0]!) || !PARTITION_PATTERN.test(fields[1]!) || !OFFSET_PATTERN.test(fields[2]!)) {
      throw corrupt(`the line ${JSON.stringify(line)} is not "<topic> <partition> <offset>"`);
    }
    const offset = BigInt(fields[2]!);
    const partition = Number(fields[1]);
    if (offset > INT64_MAX || partition > 0x7fffffff) throw corrupt(`the line ${JSON.stringify(line)} is out of range`);
    entries.push({ topic: fields[0]!, partition, offset });
  }
  return entries;
}

/** Writes the checkpoint file atomically. */
export async function writeCheckpoint(filePath: string, entries: Iterable<CheckpointEntry>): Promise<void> {
  await writeFileAtomically(filePath, encodeCheckpoint(entries));
}

/** The checkpoint's entries, or undefined when there is no file; throws `StateStoreError` (`corrupt`) on a bad one. */
export async function readCheckpoint(filePath: string): Promise<CheckpointEntry[] | undefined> {
  const text = await readTextIfExists(filePath);
  return text === undefined ? undefined : decodeCheckpoint(text, filePath);
}

function crcHex(text: string): string {
  return crc32c(Buffer.from(text, 'utf8')).toString(16).padStart(8, '0');
}
