import { crc32 } from '@node-rs/crc32';
import { decompress, DECOMPRESSED_BYTES_MAX_DEFAULT } from '../compression/index.js';
import { DecodeError } from '../decode-error.js';
import { Reader } from '../primitives/reader.js';
import type { Record, RecordBatch, RecordBatchesDecodeOptions } from './batch.js';
import { iterateBatchBounds } from './batch.js';
import { ATTRIBUTE_COMPRESSION_MASK, ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND, BATCH_OFFSET_MAGIC, CompressionType } from './header.js';

/*
 * Legacy message sets (magic 0 and 1, before Kafka 0.11), decoded into the RecordBatch shape so
 * that the broker can up-convert them:
 *
 *   MessageSet => [offset int64, messageSize int32, message]      (no array count)
 *   message v0 => crc uint32, magic int8 (0), attributes int8, key bytes, value bytes
 *   message v1 => crc uint32, magic int8 (1), attributes int8, timestamp int64, key bytes, value bytes
 *
 * The crc is CRC-32 (IEEE, not Castagnoli) over [magic, end of value]. Attributes bits 0-2 are the
 * compression codec (gzip, snappy, lz4) and bit 3 (v1) the timestamp type: the same bits as v2.
 * A compressed message ("wrapper") has a null key and, as value, a compressed message set of
 * uncompressed inner messages of the same magic. In v0 the inner offsets are absolute; in v1 they
 * are relative and the wrapper carries the absolute offset of the last inner message.
 *
 * Each top-level message becomes one RecordBatch (as Kafka's own legacy batches do): a plain
 * message a batch of one record, a wrapper a batch of its inner messages.
 */

export const MAGIC_V0 = 0;
export const MAGIC_V1 = 1;

const OFFSET_CRC = 12;
const NO_TIMESTAMP = -1n;
const INT32_MAX = 0x7fffffff;

/** A decoded legacy message (or wrapper), in the v2 batch shape, remembering its magic. */
export interface LegacyRecordBatch extends RecordBatch {
  magic: typeof MAGIC_V0 | typeof MAGIC_V1;
}

/**
 * The magic byte of the batch or message at `position` (it sits at byte 16 in every format), so
 * the broker can decide to decode v2, convert v0/v1, or reject (UNSUPPORTED_VERSION, CORRUPT_MESSAGE).
 */
export function detectMagic(buf: Buffer, position = 0): number {
  if (position < 0 || position + BATCH_OFFSET_MAGIC + 1 > buf.length) {
    throw new DecodeError(`truncated entry: no room for the magic byte`, position, 'RecordBatch.magic');
  }
  return buf.readInt8(position + BATCH_OFFSET_MAGIC);
}

interface LegacyMessage {
  offset: bigint;
  magic: typeof MAGIC_V0 | typeof MAGIC_V1;
  attributes: number;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
}

/** Reads and CRC-checks the message whose entry [position, position + size) is known to be in `buf`. */
function readMessage(buf: Buffer, position: number, size: number): LegacyMessage {
  const reader = new Reader(buf, position, position + size);
  const offset = reader.int64();
  reader.int32(); // messageSize: already used to find the entry
  const storedCrc = reader.uint32();
  const magicAt = reader.position;
  const magic = reader.int8();
  if (magic !== MAGIC_V0 && magic !== MAGIC_V1) {
    throw new DecodeError(`unsupported magic ${magic} in a legacy message set`, magicAt, 'Message.magic');
  }
  const computedCrc = crc32(buf.subarray(magicAt, position + size)) >>> 0;
  if (computedCrc !== storedCrc) {
    throw new DecodeError(
      `CRC-32 mismatch: stored 0x${storedCrc.toString(16)}, computed 0x${computedCrc.toString(16)}`,
      position + OFFSET_CRC,
      'Message.crc',
    );
  }
  const attributes = reader.int8();
  const timestamp = magic === MAGIC_V1 ? reader.int64() : NO_TIMESTAMP;
  const key = reader.nullableBytes();
  const value = reader.nullableBytes();
  reader.assertFullyConsumed('Message');
  return { offset, magic, attributes, timestamp, key, value };
}

/**
 * Decodes a legacy message set (magic 0 or 1). A bad CRC, a truncated message or a malformed
 * wrapper is a DecodeError; an incomplete message at the end is one too unless
 * `partialTrailingBatch: 'ignore'` (Fetch responses may end in one).
 */
export function decodeLegacyMessageSet(buf: Buffer, options: RecordBatchesDecodeOptions = {}): LegacyRecordBatch[] {
  const batches: LegacyRecordBatch[] = [];
  let position = 0;
  for (const bounds of iterateBatchBounds(buf)) {
    batches.push(decodeLegacyEntry(buf, bounds.position, bounds.size, options));
    position = bounds.position + bounds.size;
  }
  if (position !== buf.length && options.partialTrailingBatch !== 'ignore') {
    throw new DecodeError(`truncated message: ${buf.length - position} trailing bytes do not hold a whole message`, position, 'MessageSet');
  }
  return batches;
}

function decodeLegacyEntry(buf: Buffer, position: number, size: number, options: RecordBatchesDecodeOptions): LegacyRecordBatch {
  const message = readMessage(buf, position, size);
  const compression = (message.attributes & ATTRIBUTE_COMPRESSION_MASK) as CompressionType;
  if (compression === CompressionType.None) {
    return toBatch(message, message.offset, [message]);
  }
  if (compression > CompressionType.Lz4) {
    throw new DecodeError(`compression type ${compression} is not valid for magic ${message.magic}`, position + BATCH_OFFSET_MAGIC + 1, 'Message.attributes');
  }
  if (message.value === null) throw new DecodeError('compressed message with a null value', position, 'Message.value');
  let inflated: Buffer;
  try {
    inflated = decompress(compression, message.value, options.decompressedBytesMax ?? DECOMPRESSED_BYTES_MAX_DEFAULT);
  } catch (error) {
    if (error instanceof DecodeError) throw new DecodeError(error.message, position, error.field ?? 'Message.value');
    throw error;
  }
  const inner = readInnerMessages(inflated, message, position);
  const first = inner[0]!;
  const last = inner[inner.length - 1]!;
  // v1 inner offsets are relative; the wrapper holds the absolute offset of the last one.
  const baseOffset = message.magic === MAGIC_V0 ? first.offset : message.offset - last.offset + first.offset;
  return toBatch(message, baseOffset, inner);
}

function readInnerMessages(inflated: Buffer, wrapper: LegacyMessage, wrapperAt: number): LegacyMessage[] {
  const inner: LegacyMessage[] = [];
  let position = 0;
  try {
    for (const bounds of iterateBatchBounds(inflated)) {
      const message = readMessage(inflated, bounds.position, bounds.size);
      if (message.magic !== wrapper.magic) {
        throw new DecodeError(`inner magic ${message.magic} differs from the wrapper's ${wrapper.magic}`, bounds.position, 'Message.magic');
      }
      if ((message.attributes & ATTRIBUTE_COMPRESSION_MASK) !== 0) {
        throw new DecodeError('compressed message nested in a compressed message', bounds.position, 'Message.attributes');
      }
      inner.push(message);
      position = bounds.position + bounds.size;
    }
    if (position !== inflated.length) throw new DecodeError('truncated inner message', position, 'MessageSet');
    if (inner.length === 0) throw new DecodeError('compressed message set with no inner messages', 0, 'MessageSet');
  } catch (error) {
    if (error instanceof DecodeError) {
      throw new DecodeError(`in the inflated value at byte ${error.offset}: ${error.message}`, wrapperAt, error.field ?? 'Message.value');
    }
    throw error;
  }
  return inner;
}

function toBatch(wrapper: LegacyMessage, baseOffset: bigint, messages: LegacyMessage[]): LegacyRecordBatch {
  const logAppendTime = wrapper.magic === MAGIC_V1 && (wrapper.attributes & ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND) !== 0;
  const timestampOf = (message: LegacyMessage): bigint => (logAppendTime ? wrapper.timestamp : message.timestamp);
  const firstOffset = messages[0]!.offset;
  const baseTimestamp = timestampOf(messages[0]!);
  let maxTimestamp = baseTimestamp;
  const records: Record[] = messages.map((message) => {
    const offsetDelta = message.offset - firstOffset;
    if (offsetDelta < 0n || offsetDelta > BigInt(INT32_MAX)) {
      throw new DecodeError(`inner message offset ${message.offset} is not within int32 after ${firstOffset}`, 0, 'Message.offset');
    }
    const timestamp = timestampOf(message);
    if (timestamp > maxTimestamp) maxTimestamp = timestamp;
    return { offsetDelta: Number(offsetDelta), timestampDelta: timestamp - baseTimestamp, key: message.key, value: message.value, headers: [] };
  });
  return {
    magic: wrapper.magic,
    baseOffset,
    partitionLeaderEpoch: -1,
    // Compression and timestamp type sit in the same bits as in v2; nothing else applies.
    attributes: wrapper.attributes & (ATTRIBUTE_COMPRESSION_MASK | ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND),
    lastOffsetDelta: records[records.length - 1]!.offsetDelta,
    baseTimestamp,
    maxTimestamp,
    producerId: -1n,
    producerEpoch: -1,
    baseSequence: -1,
    records,
  };
}
