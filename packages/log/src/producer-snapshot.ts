import { open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { crc32c } from '@defter/protocol';
import { ATOMIC_TEMP_SUFFIX, writeFileAtomically } from './atomic-file.js';
import { LogError } from './errors.js';
import type { IndexFileSync } from './index-file.js';

/*
 * Kafka's producer-state snapshot file, `<20-digit offset>.snapshot` in the partition directory
 * (ProducerSnapshot.json, version 1, not flexible). The offset in the name is the producer-state
 * map's end offset when it was written: the snapshot covers every batch below it.
 *
 *   version               int16   @0   = 1
 *   crc                   uint32  @2   CRC-32C of bytes [6, end)
 *   producerEntries       int32   @6   count, then that many 46-byte entries:
 *     producerId            int64
 *     epoch                 int16
 *     lastSequence          int32
 *     lastOffset            int64   -1 when the producer has no data batch in the log
 *     offsetDelta           int32   lastOffset - firstOffset of its last batch (= lastSeq - firstSeq)
 *     timestamp             int64   max timestamp of its last batch (or marker)
 *     coordinatorEpoch      int32
 *     currentTxnFirstOffset int64   -1 when no transaction is open
 *
 * Only the last batch of each producer is kept (as in Kafka): after a restart, deduplication
 * covers that batch plus whatever the replay of the log tail adds.
 */

export const PRODUCER_SNAPSHOT_VERSION = 1;
export const PRODUCER_SNAPSHOT_SUFFIX = '.snapshot';
export const PRODUCER_SNAPSHOT_HEADER_BYTES = 10;
export const PRODUCER_SNAPSHOT_ENTRY_BYTES = 46;
/** Larger files are refused as corrupt rather than read into memory (about 11 million producers). */
export const PRODUCER_SNAPSHOT_BYTES_MAX_DEFAULT = 512 * 1024 * 1024;

const CRC_AT = 2;
const COUNT_AT = 6;
const TEMP_SUFFIX = ATOMIC_TEMP_SUFFIX;
const SNAPSHOT_FILE_PATTERN = /^(\d{20})\.snapshot$/;

/** One producer as a snapshot stores it. */
export interface ProducerSnapshotEntry {
  producerId: bigint;
  producerEpoch: number;
  lastSequence: number;
  lastOffset: bigint;
  offsetDelta: number;
  timestampMs: bigint;
  coordinatorEpoch: number;
  /** -1n: no open transaction. */
  currentTxnFirstOffset: bigint;
}

/** A snapshot that cannot be trusted (bad version, CRC, size): the caller rebuilds from the log instead. */
export class CorruptSnapshotError extends LogError {
  override readonly kafkaErrorName = 'CORRUPT_MESSAGE';
}

export function producerSnapshotFileName(offset: bigint): string {
  return `${offset.toString().padStart(20, '0')}${PRODUCER_SNAPSHOT_SUFFIX}`;
}

/** The offset in a snapshot file name, or undefined for any other name (temporary files included). */
export function parseProducerSnapshotFileName(name: string): bigint | undefined {
  const match = SNAPSHOT_FILE_PATTERN.exec(name);
  return match === null ? undefined : BigInt(match[1]!);
}

export function encodeProducerSnapshot(entries: readonly ProducerSnapshotEntry[]): Buffer {
  const bytes = Buffer.alloc(PRODUCER_SNAPSHOT_HEADER_BYTES + entries.length * PRODUCER_SNAPSHOT_ENTRY_BYTES);
  bytes.writeInt16BE(PRODUCER_SNAPSHOT_VERSION, 0);
  bytes.writeInt32BE(entries.length, COUNT_AT);
  let at = PRODUCER_SNAPSHOT_HEADER_BYTES;
  for (const entry of entries) {
    bytes.writeBigInt64BE(entry.producerId, at);
    bytes.writeInt16BE(entry.producerEpoch, at + 8);
    bytes.writeInt32BE(entry.lastSequence, at + 10);
    bytes.writeBigInt64BE(entry.lastOffset, at + 14);
    bytes.writeInt32BE(entry.offsetDelta, at + 22);
    bytes.writeBigInt64BE(entry.timestampMs, at + 26);
    bytes.writeInt32BE(entry.coordinatorEpoch, at + 34);
    bytes.writeBigInt64BE(entry.currentTxnFirstOffset, at + 38);
    at += PRODUCER_SNAPSHOT_ENTRY_BYTES;
  }
  bytes.writeUInt32BE(crc32c(bytes, COUNT_AT, bytes.length), CRC_AT);
  return bytes;
}

/** Decodes a whole snapshot file; anything off (version, CRC, sizes, field ranges) is a CorruptSnapshotError. */
export function decodeProducerSnapshot(bytes: Buffer): ProducerSnapshotEntry[] {
  if (bytes.length < PRODUCER_SNAPSHOT_HEADER_BYTES) {
    throw new CorruptSnapshotError(`snapshot has ${bytes.length} bytes, its header needs ${PRODUCER_SNAPSHOT_HEADER_BYTES}`);
  }
  const version = bytes.readInt16BE(0);
  if (version !== PRODUCER_SNAPSHOT_VERSION) throw new CorruptSnapshotError(`snapshot contained an unknown file version ${version}`);
  const storedCrc = bytes.readUInt32BE(CRC_AT);
  const computedCrc = crc32c(bytes, COUNT_AT, bytes.length);
  if (storedCrc !== computedCrc) {
    throw new CorruptSnapshotError(`snapshot is corrupt (CRC is no longer valid): stored 0x${storedCrc.toString(16)}, computed 0x${computedCrc.toString(16)}`);
  }
  const count = bytes.readInt32BE(COUNT_AT);
  const expectedBytes = PRODUCER_SNAPSHOT_HEADER_BYTES + count * PRODUCER_SNAPSHOT_ENTRY_BYTES;
  if (count < 0 || expectedBytes !== bytes.length) {
    throw new CorruptSnapshotError(`snapshot declares ${count} entries but has ${bytes.length - PRODUCER_SNAPSHOT_HEADER_BYTES} bytes of entries`);
  }
  const entries = new Array<ProducerSnapshotEntry>(count);
  for (let i = 0, at = PRODUCER_SNAPSHOT_HEADER_BYTES; i < count; i++, at += PRODUCER_SNAPSHOT_ENTRY_BYTES) {
    const entry: ProducerSnapshotEntry = {
      producerId: bytes.readBigInt64BE(at),
      producerEpoch: bytes.readInt16BE(at + 8),
      lastSequence: bytes.readInt32BE(at + 10),
      lastOffset: bytes.readBigInt64BE(at + 14),
      offsetDelta: bytes.readInt32BE(at + 22),
      timestampMs: bytes.readBigInt64BE(at + 26),
      coordinatorEpoch: bytes.readInt32BE(at + 34),
      currentTxnFirstOffset: bytes.readBigInt64BE(at + 38),
    };
    // A CRC-valid file can still come from a buggy writer: refuse what the state could not hold.
    if (entry.producerId < 0n) throw new CorruptSnapshotError(`snapshot entry ${i} has producer id ${entry.producerId}`);
    if (entry.lastOffset >= 0n && (entry.offsetDelta < 0 || BigInt(entry.offsetDelta) > entry.lastOffset)) {
      throw new CorruptSnapshotError(`snapshot entry ${i} has offset delta ${entry.offsetDelta} for last offset ${entry.lastOffset}`);
    }
    entries[i] = entry;
  }
  return entries;
}

/** Reads and decodes one snapshot file; a file larger than `bytesMax` is a CorruptSnapshotError. */
export async function readProducerSnapshotFile(filePath: string, bytesMax = PRODUCER_SNAPSHOT_BYTES_MAX_DEFAULT): Promise<ProducerSnapshotEntry[]> {
  const file = await open(filePath, 'r');
  try {
    const { size } = await file.stat();
    if (size > bytesMax) throw new CorruptSnapshotError(`snapshot ${filePath} has ${size} bytes, more than the ${bytesMax} allowed`);
    const bytes = Buffer.alloc(size);
    let read = 0;
    while (read < size) {
      const { bytesRead } = await file.read(bytes, read, size - read, read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    return decodeProducerSnapshot(bytes.subarray(0, read));
  } finally {
    await file.close();
  }
}

/**
 * Writes a snapshot so that a crash leaves the old file or the new one, never a mix: a temporary
 * file, fsynced, renamed into place, then the directory fsynced.
 */
export async function writeProducerSnapshotFile(
  filePath: string,
  entries: readonly ProducerSnapshotEntry[],
  fileSync: IndexFileSync = (file) => file.sync(),
): Promise<void> {
  await writeFileAtomically(filePath, encodeProducerSnapshot(entries), fileSync);
}

/** The snapshot files in `dir` by offset (ascending); leftover temporary files are removed. */
export async function listProducerSnapshots(dir: string): Promise<bigint[]> {
  const offsets: bigint[] = [];
  for (const name of await readdir(dir)) {
    const offset = parseProducerSnapshotFileName(name);
    if (offset !== undefined) {
      offsets.push(offset);
    } else if (name.endsWith(PRODUCER_SNAPSHOT_SUFFIX + TEMP_SUFFIX)) {
      await rm(path.join(dir, name), { force: true });
    }
  }
  offsets.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return offsets;
}
