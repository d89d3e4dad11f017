import { crc32c } from '../crc32c.js';
import { DecodeError } from '../decode-error.js';

/*
 * RecordBatch v2 header (61 bytes), as stored and as carried on the wire:
 *
 *   baseOffset            int64   @0
 *   batchLength           int32   @8    bytes after this field (total size - 12)
 *   partitionLeaderEpoch  int32   @12
 *   magic                 int8    @16   = 2
 *   crc                   uint32  @17   CRC-32C of bytes [21, end)
 *   attributes            int16   @21
 *   lastOffsetDelta       int32   @23
 *   baseTimestamp         int64   @27
 *   maxTimestamp          int64   @35
 *   producerId            int64   @43
 *   producerEpoch         int16   @51
 *   baseSequence          int32   @53
 *   recordsCount          int32   @57
 *
 * The CRC covers neither baseOffset nor partitionLeaderEpoch, so the broker assigns both
 * by patching bytes in place and never recomputes the checksum.
 */
export const BATCH_OFFSET_BASE_OFFSET = 0;
export const BATCH_OFFSET_LENGTH = 8;
export const BATCH_OFFSET_PARTITION_LEADER_EPOCH = 12;
export const BATCH_OFFSET_MAGIC = 16;
export const BATCH_OFFSET_CRC = 17;
export const BATCH_OFFSET_ATTRIBUTES = 21;
export const BATCH_OFFSET_LAST_OFFSET_DELTA = 23;
export const BATCH_OFFSET_BASE_TIMESTAMP = 27;
export const BATCH_OFFSET_MAX_TIMESTAMP = 35;
export const BATCH_OFFSET_PRODUCER_ID = 43;
export const BATCH_OFFSET_PRODUCER_EPOCH = 51;
export const BATCH_OFFSET_BASE_SEQUENCE = 53;
export const BATCH_OFFSET_RECORDS_COUNT = 57;
export const BATCH_HEADER_BYTES = 61;
/** baseOffset + batchLength: the prefix that every message format shares (log overhead). */
export const LOG_OVERHEAD_BYTES = 12;
export const CURRENT_MAGIC = 2;

/** Attribute bits of a v2 batch. */
export const ATTRIBUTE_COMPRESSION_MASK = 0x07;
export const ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND = 0x08;
export const ATTRIBUTE_TRANSACTIONAL = 0x10;
export const ATTRIBUTE_CONTROL = 0x20;
export const ATTRIBUTE_DELETE_HORIZON = 0x40;

export enum CompressionType {
  None = 0,
  Gzip = 1,
  Snappy = 2,
  Lz4 = 3,
  Zstd = 4,
}

export interface BatchHeader {
  baseOffset: bigint;
  /** Bytes after the batchLength field; the whole batch is `batchLength + 12` bytes. */
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
}

/** Total size in bytes of the batch starting at `position`, read from its batchLength field. */
export function batchSizeAt(buf: Buffer, position = 0): number {
  if (position + LOG_OVERHEAD_BYTES > buf.length) {
    throw new DecodeError('truncated batch: no room for baseOffset and batchLength', position, 'RecordBatch');
  }
  return buf.readInt32BE(position + BATCH_OFFSET_LENGTH) + LOG_OVERHEAD_BYTES;
}

/**
 * Reads the fixed 61-byte header of the v2 batch at `position`. Checks only what is needed to
 * read it safely (room for the header, magic 2, a batchLength that fits the buffer); the CRC is
 * checked separately by `verifyBatchCrc` because the hot path decides when it pays for that.
 */
export function readBatchHeader(buf: Buffer, position = 0): BatchHeader {
  if (position + BATCH_HEADER_BYTES > buf.length) {
    throw new DecodeError(`truncated batch: ${buf.length - position} bytes, header needs ${BATCH_HEADER_BYTES}`, position, 'RecordBatch');
  }
  const magic = buf.readInt8(position + BATCH_OFFSET_MAGIC);
  if (magic !== CURRENT_MAGIC) {
    throw new DecodeError(`unsupported magic ${magic} (expected ${CURRENT_MAGIC})`, position + BATCH_OFFSET_MAGIC, 'RecordBatch.magic');
  }
  const batchLength = buf.readInt32BE(position + BATCH_OFFSET_LENGTH);
  if (batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) {
    throw new DecodeError(`batchLength ${batchLength} is smaller than the batch header`, position + BATCH_OFFSET_LENGTH, 'RecordBatch.batchLength');
  }
  if (position + LOG_OVERHEAD_BYTES + batchLength > buf.length) {
    throw new DecodeError(
      `truncated batch: batchLength ${batchLength} runs past the end of the buffer`,
      position + BATCH_OFFSET_LENGTH,
      'RecordBatch.batchLength',
    );
  }
  return {
    baseOffset: buf.readBigInt64BE(position + BATCH_OFFSET_BASE_OFFSET),
    batchLength,
    partitionLeaderEpoch: buf.readInt32BE(position + BATCH_OFFSET_PARTITION_LEADER_EPOCH),
    magic,
    crc: buf.readUInt32BE(position + BATCH_OFFSET_CRC),
    attributes: buf.readInt16BE(position + BATCH_OFFSET_ATTRIBUTES),
    lastOffsetDelta: buf.readInt32BE(position + BATCH_OFFSET_LAST_OFFSET_DELTA),
    baseTimestamp: buf.readBigInt64BE(position + BATCH_OFFSET_BASE_TIMESTAMP),
    maxTimestamp: buf.readBigInt64BE(position + BATCH_OFFSET_MAX_TIMESTAMP),
    producerId: buf.readBigInt64BE(position + BATCH_OFFSET_PRODUCER_ID),
    producerEpoch: buf.readInt16BE(position + BATCH_OFFSET_PRODUCER_EPOCH),
    baseSequence: buf.readInt32BE(position + BATCH_OFFSET_BASE_SEQUENCE),
    recordsCount: buf.readInt32BE(position + BATCH_OFFSET_RECORDS_COUNT),
  };
}

/** CRC-32C of the batch at `position` over the byte range the format defines: [attributes, end). */
export function computeBatchCrc(buf: Buffer, position = 0): number {
  const end = position + batchSizeAt(buf, position);
  return crc32c(buf, position + BATCH_OFFSET_ATTRIBUTES, end);
}

/** True when the stored CRC of the batch at `position` matches its bytes. */
export function verifyBatchCrc(buf: Buffer, position = 0): boolean {
  return buf.readUInt32BE(position + BATCH_OFFSET_CRC) === computeBatchCrc(buf, position);
}

/** Assigns the batch's base offset in place. Leaves the CRC valid (it does not cover this field). */
export function patchBaseOffset(buf: Buffer, baseOffset: bigint, position = 0): void {
  buf.writeBigInt64BE(baseOffset, position + BATCH_OFFSET_BASE_OFFSET);
}

/** Assigns the batch's partition leader epoch in place. Leaves the CRC valid. */
export function patchPartitionLeaderEpoch(buf: Buffer, epoch: number, position = 0): void {
  buf.writeInt32BE(epoch, position + BATCH_OFFSET_PARTITION_LEADER_EPOCH);
}

export function compressionOf(attributes: number): CompressionType {
  return (attributes & ATTRIBUTE_COMPRESSION_MASK) as CompressionType;
}

export function isTransactional(attributes: number): boolean {
  return (attributes & ATTRIBUTE_TRANSACTIONAL) !== 0;
}

export function isControl(attributes: number): boolean {
  return (attributes & ATTRIBUTE_CONTROL) !== 0;
}

export function hasLogAppendTime(attributes: number): boolean {
  return (attributes & ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND) !== 0;
}

/** Offset of the last record in the batch: baseOffset + lastOffsetDelta. */
export function lastOffsetOf(header: Pick<BatchHeader, 'baseOffset' | 'lastOffsetDelta'>): bigint {
  return header.baseOffset + BigInt(header.lastOffsetDelta);
}
