import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  DecodeError,
  batchSizeAt,
  compressionOf,
  CompressionType,
  decodeRecordBatch,
  hasLogAppendTime,
  isControl,
  isTransactional,
  lastOffsetOf,
  readBatchHeader,
  verifyBatchCrc,
} from '@defter/protocol';

/** One printed line per batch (and per record with `records`), in the spirit of kafka-dump-log. */
export interface DumpOptions {
  records: boolean;
  write: (line: string) => void;
}

export interface DumpSummary {
  batches: number;
  records: number;
  /** Byte position of the first invalid batch, or null when the whole file is valid. */
  invalidAtPosition: number | null;
}

const BASE_OFFSET_DIGITS = 20;

/** Prints any of a segment's files, chosen by extension. */
export async function dumpFile(path: string, options: DumpOptions): Promise<DumpSummary> {
  const bytes = await readFile(path);
  if (path.endsWith('.log')) return dumpLogSegment(bytes, options);
  const baseOffset = baseOffsetOfFile(path);
  if (path.endsWith('.index')) return dumpOffsetIndex(bytes, baseOffset, options);
  if (path.endsWith('.timeindex')) return dumpTimeIndex(bytes, baseOffset, options);
  throw new Error(`${basename(path)} is not a segment file: expected a .log, .index or .timeindex file.`);
}

function baseOffsetOfFile(path: string): bigint {
  const stem = basename(path).split('.')[0] ?? '';
  if (stem.length !== BASE_OFFSET_DIGITS || !/^\d+$/.test(stem)) {
    throw new Error(`${basename(path)} is not named by a 20-digit base offset, so its relative offsets cannot be resolved.`);
  }
  return BigInt(stem);
}

/** Walks the batches of a `.log` file, checking each CRC; stops at the first torn or corrupt batch. */
export function dumpLogSegment(bytes: Buffer, options: DumpOptions): DumpSummary {
  let position = 0;
  let batches = 0;
  let records = 0;
  while (position < bytes.length) {
    let size: number;
    let header;
    try {
      header = readBatchHeader(bytes, position);
      size = batchSizeAt(bytes, position);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      options.write(`position: ${position} INVALID: ${error.message}`);
      return { batches, records, invalidAtPosition: position };
    }
    const crcValid = verifyBatchCrc(bytes, position);
    options.write(
      [
        `baseOffset: ${header.baseOffset}`,
        `lastOffset: ${lastOffsetOf(header)}`,
        `count: ${header.recordsCount}`,
        `position: ${position}`,
        `size: ${size}`,
        `partitionLeaderEpoch: ${header.partitionLeaderEpoch}`,
        `compression: ${CompressionType[compressionOf(header.attributes)]}`,
        `${hasLogAppendTime(header.attributes) ? 'LogAppendTime' : 'CreateTime'}: ${header.maxTimestamp}`,
        `producerId: ${header.producerId}`,
        `producerEpoch: ${header.producerEpoch}`,
        `baseSequence: ${header.baseSequence}`,
        `isTransactional: ${isTransactional(header.attributes)}`,
        `isControl: ${isControl(header.attributes)}`,
        `crc: ${header.crc} ${crcValid ? 'valid' : 'INVALID'}`,
      ].join(' | '),
    );
    if (!crcValid) return { batches, records, invalidAtPosition: position };
    batches++;
    records += header.recordsCount;
    if (options.records) {
      const batch = decodeRecordBatch(bytes.subarray(position, position + size));
      for (const record of batch.records) {
        options.write(
          `  | offset: ${batch.baseOffset + BigInt(record.offsetDelta)}` +
            ` timestamp: ${batch.baseTimestamp + record.timestampDelta}` +
            ` key: ${printable(record.key)} value: ${printable(record.value)}` +
            (record.headers.length > 0 ? ` headers: ${record.headers.map((h) => `${h.key}=${printable(h.value)}`).join(',')}` : ''),
        );
      }
    }
    position += size;
  }
  return { batches, records, invalidAtPosition: null };
}

const OFFSET_INDEX_ENTRY_BYTES = 8;
const TIME_INDEX_ENTRY_BYTES = 12;

function dumpOffsetIndex(bytes: Buffer, baseOffset: bigint, options: DumpOptions): DumpSummary {
  const entries = Math.floor(bytes.length / OFFSET_INDEX_ENTRY_BYTES);
  for (let i = 0; i < entries; i++) {
    const at = i * OFFSET_INDEX_ENTRY_BYTES;
    options.write(`offset: ${baseOffset + BigInt(bytes.readInt32BE(at))} position: ${bytes.readInt32BE(at + 4)}`);
  }
  return { batches: 0, records: 0, invalidAtPosition: bytes.length % OFFSET_INDEX_ENTRY_BYTES === 0 ? null : entries * OFFSET_INDEX_ENTRY_BYTES };
}

function dumpTimeIndex(bytes: Buffer, baseOffset: bigint, options: DumpOptions): DumpSummary {
  const entries = Math.floor(bytes.length / TIME_INDEX_ENTRY_BYTES);
  for (let i = 0; i < entries; i++) {
    const at = i * TIME_INDEX_ENTRY_BYTES;
    options.write(`timestamp: ${bytes.readBigInt64BE(at)} offset: ${baseOffset + BigInt(bytes.readInt32BE(at + 8))}`);
  }
  return { batches: 0, records: 0, invalidAtPosition: bytes.length % TIME_INDEX_ENTRY_BYTES === 0 ? null : entries * TIME_INDEX_ENTRY_BYTES };
}

/** UTF-8 when the bytes are printable text, hex otherwise; `null` for a null key or value. */
function printable(bytes: Buffer | null): string {
  if (bytes === null) return 'null';
  const text = bytes.toString('utf8');
  // eslint-disable-next-line no-control-regex
  return /^[^\u0000-\u0008\u000e-\u001f\ufffd]*$/.test(text) ? JSON.stringify(text) : `0x${bytes.toString('hex')}`;
}
