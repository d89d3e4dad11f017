import { compress, decompress, DECOMPRESSED_BYTES_MAX_DEFAULT } from '../compression/index.js';
import { crc32c } from '../crc32c.js';
import { DecodeError } from '../decode-error.js';
import { Reader } from '../primitives/reader.js';
import { Writer } from '../primitives/writer.js';
import {
  ATTRIBUTE_COMPRESSION_MASK,
  ATTRIBUTE_CONTROL,
  ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND,
  ATTRIBUTE_TRANSACTIONAL,
  BATCH_HEADER_BYTES,
  BATCH_OFFSET_ATTRIBUTES,
  BATCH_OFFSET_CRC,
  BATCH_OFFSET_LENGTH,
  CompressionType,
  CURRENT_MAGIC,
  LOG_OVERHEAD_BYTES,
  readBatchHeader,
  type BatchHeader,
} from './header.js';
import { decodeRecord, encodedRecordBytes, encodeRecord, measureRecord, RECORD_BYTES_MIN, type Record, type RecordHeader } from './record.js';

export type { Record, RecordHeader } from './record.js';

/**
 * A decoded RecordBatch v2: the header fields that are not derived from the bytes (length, magic,
 * CRC and count are), and the records. Keys and values are views of the input (or of the
 * inflated payload).
 */
export interface RecordBatch extends Omit<BatchHeader, 'batchLength' | 'magic' | 'crc' | 'recordsCount'> {
  records: Record[];
}

/** What a producer (or the log cleaner) encodes. Omitted fields take Kafka's "none" values. */
export interface RecordBatchInput {
  baseOffset?: bigint;
  partitionLeaderEpoch?: number;
  compression?: CompressionType;
  timestampType?: 'create' | 'log-append';
  transactional?: boolean;
  control?: boolean;
  producerId?: bigint;
  producerEpoch?: number;
  baseSequence?: number;
  /** Defaults to the last record's offsetDelta (0 for no records); the cleaner sets it to keep a batch's last offset. */
  lastOffsetDelta?: number;
  /** Defaults to the first absolute `timestamp` given in the records, else 0 (-1 for no records). */
  baseTimestamp?: bigint;
  /** Defaults to the largest record timestamp (-1 for no records). */
  maxTimestamp?: bigint;
  /**
   * Each record's time is `timestamp` (absolute) when given, else `baseTimestamp + timestampDelta`
   * (delta 0 when neither is given). offsetDelta defaults to the record's index.
   */
  records: Array<{
    offsetDelta?: number;
    timestamp?: bigint;
    timestampDelta?: bigint;
    key?: Buffer | null;
    value?: Buffer | null;
    headers?: RecordHeader[];
  }>;
}

export interface RecordBatchDecodeOptions {
  /** Largest payload a compressed batch may inflate to; more is a DecodeError. */
  decompressedBytesMax?: number;
}

export interface RecordBatchesDecodeOptions extends RecordBatchDecodeOptions {
  /**
   * What to do with an incomplete batch at the end of the buffer. A Fetch response may end in one
   * (the broker cuts at its byte limit; consumers ignore it); in a Produce request it is corruption.
   * Default 'error'.
   */
  partialTrailingBatch?: 'error' | 'ignore';
}

const NO_TIMESTAMP = -1n;
const NO_PRODUCER_ID = -1n;
const NO_PRODUCER_EPOCH = -1;
const NO_SEQUENCE = -1;
const NO_PARTITION_LEADER_EPOCH = -1;

/**
 * Encodes a RecordBatch v2 and computes its CRC-32C. Synchronous and pure: every codec used has a
 * synchronous native implementation.
 */
export function encodeRecordBatch(input: RecordBatchInput): Buffer {
  const records = input.records;
  const compression = input.compression ?? CompressionType.None;
  const firstAbsolute = records.find((record) => record.timestamp !== undefined)?.timestamp;
  const baseTimestamp = input.baseTimestamp ?? firstAbsolute ?? (records.length === 0 ? NO_TIMESTAMP : 0n);
  let maxTimestamp = NO_TIMESTAMP;
  const resolved = records.map((record, index) => {
    const timestamp = record.timestamp ?? baseTimestamp + (record.timestampDelta ?? 0n);
    if (index === 0 || timestamp > maxTimestamp) maxTimestamp = timestamp;
    return {
      offsetDelta: record.offsetDelta ?? index,
      timestampDelta: timestamp - baseTimestamp,
      key: record.key ?? null,
      value: record.value ?? null,
      headers: record.headers ?? [],
    };
  });
  // Exact sizes up front: the writers never grow, and each record is measured once.
  const measures = resolved.map(measureRecord);
  let payloadBytes = 0;
  for (const measure of measures) payloadBytes += encodedRecordBytes(measure);
  const lastOffsetDelta = input.lastOffsetDelta ?? resolved[resolved.length - 1]?.offsetDelta ?? 0;

  let attributes = compression & ATTRIBUTE_COMPRESSION_MASK;
  if (input.timestampType === 'log-append') attributes |= ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND;
  if (input.transactional === true) attributes |= ATTRIBUTE_TRANSACTIONAL;
  if (input.control === true) attributes |= ATTRIBUTE_CONTROL;

  let compressed: Buffer | null = null;
  if (compression !== CompressionType.None) {
    const payload = new Writer(payloadBytes);
    for (let i = 0; i < resolved.length; i++) encodeRecord(payload, resolved[i]!, measures[i]);
    compressed = compress(compression, payload.finish());
  }
  const writer = new Writer(BATCH_HEADER_BYTES + (compressed === null ? payloadBytes : compressed.length));
  writer
    .int64(input.baseOffset ?? 0n)
    .int32(0) // batchLength, patched below
    .int32(input.partitionLeaderEpoch ?? NO_PARTITION_LEADER_EPOCH)
    .int8(CURRENT_MAGIC)
    .uint32(0) // crc, patched below
    .int16(attributes)
    .int32(lastOffsetDelta)
    .int64(baseTimestamp)
    .int64(input.maxTimestamp ?? maxTimestamp)
    .int64(input.producerId ?? NO_PRODUCER_ID)
    .int16(input.producerEpoch ?? NO_PRODUCER_EPOCH)
    .int32(input.baseSequence ?? NO_SEQUENCE)
    .int32(resolved.length);
  if (compressed === null) {
    for (let i = 0; i < resolved.length; i++) encodeRecord(writer, resolved[i]!, measures[i]);
  } else {
    writer.raw(compressed);
  }
  const batch = writer.finish();
  writer.patchInt32(BATCH_OFFSET_LENGTH, batch.length - LOG_OVERHEAD_BYTES);
  batch.writeUInt32BE(crc32c(batch, BATCH_OFFSET_ATTRIBUTES, batch.length), BATCH_OFFSET_CRC);
  return batch;
}

/**
 * Decodes the v2 batch at `position`: checks magic, length and CRC-32C (a mismatch is a
 * DecodeError, Kafka's CORRUPT_MESSAGE), inflates a compressed payload (bounded), and requires the
 * records to use exactly the declared bytes and count.
 */
export function decodeRecordBatch(buf: Buffer, position = 0, options: RecordBatchDecodeOptions = {}): RecordBatch {
  const header = readBatchHeader(buf, position);
  const end = position + LOG_OVERHEAD_BYTES + header.batchLength;
  const crc = crc32c(buf, position + BATCH_OFFSET_ATTRIBUTES, end);
  if (crc !== header.crc) {
    throw new DecodeError(
      `CRC-32C mismatch: stored 0x${header.crc.toString(16)}, computed 0x${crc.toString(16)}`,
      position + BATCH_OFFSET_CRC,
      'RecordBatch.crc',
    );
  }
  if (header.recordsCount < 0) {
    throw new DecodeError(`negative records count ${header.recordsCount}`, position + BATCH_HEADER_BYTES - 4, 'RecordBatch.recordsCount');
  }
  const payloadStart = position + BATCH_HEADER_BYTES;
  const compression = (header.attributes & ATTRIBUTE_COMPRESSION_MASK) as CompressionType;
  let reader: Reader;
  if (compression === CompressionType.None) {
    reader = new Reader(buf, payloadStart, end);
  } else {
    let inflated: Buffer;
    try {
      inflated = decompress(compression, buf.subarray(payloadStart, end), options.decompressedBytesMax ?? DECOMPRESSED_BYTES_MAX_DEFAULT);
    } catch (error) {
      if (error instanceof DecodeError) {
        throw new DecodeError(error.message, payloadStart + error.offset, error.field ?? 'RecordBatch.records');
      }
      throw error;
    }
    reader = new Reader(inflated);
  }
  const records = decodeRecords(reader, header.recordsCount, compression === CompressionType.None ? null : payloadStart);
  return {
    baseOffset: header.baseOffset,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
    attributes: header.attributes,
    lastOffsetDelta: header.lastOffsetDelta,
    baseTimestamp: header.baseTimestamp,
    maxTimestamp: header.maxTimestamp,
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    records,
  };
}

/** `count` records that must fill the reader exactly. Errors in an inflated payload name the payload's start. */
function decodeRecords(reader: Reader, count: number, inflatedAt: number | null): Record[] {
  try {
    if (count * RECORD_BYTES_MIN > reader.remaining) {
      throw new DecodeError(`${count} records cannot fit in ${reader.remaining} bytes`, reader.position, 'RecordBatch.recordsCount');
    }
    const records = new Array<Record>(count);
    for (let i = 0; i < count; i++) records[i] = decodeRecord(reader);
    if (reader.remaining !== 0) {
      throw new DecodeError(`${reader.remaining} bytes left after ${count} records`, reader.position, 'RecordBatch.records');
    }
    return records;
  } catch (error) {
    if (inflatedAt !== null && error instanceof DecodeError) {
      throw new DecodeError(`in the inflated payload at byte ${error.offset}: ${error.message}`, inflatedAt, error.field ?? 'RecordBatch.records');
    }
    throw error;
  }
}

/** Decodes a concatenation of v2 batches, as carried in a Produce or Fetch `records` field. */
export function decodeRecordBatches(buf: Buffer, options: RecordBatchesDecodeOptions = {}): RecordBatch[] {
  const batches: RecordBatch[] = [];
  let position = 0;
  for (const bounds of iterateBatchBounds(buf)) {
    batches.push(decodeRecordBatch(buf, bounds.position, options));
    position = bounds.position + bounds.size;
  }
  if (position !== buf.length && options.partialTrailingBatch !== 'ignore') {
    throw new DecodeError(`truncated batch: ${buf.length - position} trailing bytes do not hold a whole batch`, position, 'RecordBatch');
  }
  return batches;
}

/**
 * Smallest batchLength of any message format (a magic-0 message: crc, magic, attributes and two
 * null lengths), so that this walk also serves legacy message sets, which share the 12-byte prefix.
 */
const ENTRY_LENGTH_MIN = 14;

/**
 * The position and size of each batch in `buf`, from the 12-byte prefixes only: no decode, no CRC.
 * An incomplete batch at the end (as a Fetch response may carry) ends the walk without error; a
 * length that no batch can have is a DecodeError.
 */
export function* iterateBatchBounds(buf: Buffer): Generator<{ position: number; size: number }> {
  let position = 0;
  while (buf.length - position >= LOG_OVERHEAD_BYTES) {
    const batchLength = buf.readInt32BE(position + BATCH_OFFSET_LENGTH);
    if (batchLength < ENTRY_LENGTH_MIN) {
      throw new DecodeError(`invalid batchLength ${batchLength}`, position + BATCH_OFFSET_LENGTH, 'RecordBatch.batchLength');
    }
    const size = LOG_OVERHEAD_BYTES + batchLength;
    if (size > buf.length - position) return;
    yield { position, size };
    position += size;
  }
}
