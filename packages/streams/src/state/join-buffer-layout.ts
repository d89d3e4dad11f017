import { readOrderedTimestamp, TIMESTAMP_BYTES, writeOrderedTimestamp } from './bytes.js';

/**
 * The byte layout of a stream–stream join buffer: one key-value store per join holds both sides'
 * records, a time index over them, and one meta entry. Three kinds of keys, told by the first byte:
 *
 *   meta:   0x00                                                      → next sequence (8) | stream time (8, ordered)
 *   record: 0x01 | side (1) | key length (4) | key | time (8, ordered) | sequence (8) → matched (1) | value bytes
 *   expiry: 0x02 | time (8, ordered) | side (1) | key length (4) | key | sequence (8) → 0x00
 *
 * Why a sequence: a join buffers every record, and one key can have several records with one
 * timestamp (a window store keeps one value per key and window start). Why side and key before
 * time in record keys: a record looks up the other side's records of its key within
 * [t − window, t + window], one contiguous range. Why the expiry index, time first: once stream
 * time passes t + window + grace a record can no longer join, so the left/outer joins emit it when
 * it never matched, and every join deletes it; the index finds those records in one range from
 * its start, whatever their keys.
 */
export type JoinSide = 0 | 1;

const META_TAG = 0x00;
const RECORD_TAG = 0x01;
const EXPIRY_TAG = 0x02;
const SEQUENCE_BYTES = 8;

export const JOIN_META_KEY: Buffer = Buffer.from([META_TAG]);
const EXPIRY_MARK = Buffer.from([0]);

export interface JoinBufferMeta {
  readonly nextSequence: number;
  /** The join's stream time: the largest timestamp it accepted (`Number.MIN_SAFE_INTEGER` before any). */
  readonly streamTimeMs: number;
}

export interface DecodedJoinRecordKey {
  readonly side: JoinSide;
  readonly key: Buffer;
  readonly timestampMs: number;
  readonly sequence: number;
}

export const EMPTY_JOIN_META: JoinBufferMeta = { nextSequence: 0, streamTimeMs: Number.MIN_SAFE_INTEGER };

export function encodeJoinMeta(meta: JoinBufferMeta): Buffer {
  const bytes = Buffer.allocUnsafe(SEQUENCE_BYTES + TIMESTAMP_BYTES);
  writeOrderedTimestamp(bytes, 0, meta.nextSequence);
  writeOrderedTimestamp(bytes, SEQUENCE_BYTES, meta.streamTimeMs);
  return bytes;
}

export function decodeJoinMeta(bytes: Buffer | null): JoinBufferMeta {
  if (bytes === null) return EMPTY_JOIN_META;
  if (bytes.length !== SEQUENCE_BYTES + TIMESTAMP_BYTES) throw new RangeError(`a join buffer's meta entry has ${bytes.length} bytes, not ${SEQUENCE_BYTES + TIMESTAMP_BYTES}`);
  return { nextSequence: readOrderedTimestamp(bytes, 0), streamTimeMs: readOrderedTimestamp(bytes, SEQUENCE_BYTES) };
}

export function encodeJoinRecordKey(side: JoinSide, key: Buffer, timestampMs: number, sequence: number): Buffer {
  const bytes = Buffer.allocUnsafe(2 + 4 + key.length + TIMESTAMP_BYTES + SEQUENCE_BYTES);
  bytes[0] = RECORD_TAG;
  bytes[1] = side;
  bytes.writeUInt32BE(key.length, 2);
  key.copy(bytes, 6);
  writeOrderedTimestamp(bytes, 6 + key.length, timestampMs);
  writeOrderedTimestamp(bytes, 6 + key.length + TIMESTAMP_BYTES, sequence);
  return bytes;
}

export function decodeJoinRecordKey(bytes: Buffer): DecodedJoinRecordKey {
  const keyLength = bytes.length >= 6 ? bytes.readUInt32BE(2) : -1;
  if (bytes[0] !== RECORD_TAG || bytes.length !== 6 + keyLength + TIMESTAMP_BYTES + SEQUENCE_BYTES || (bytes[1] !== 0 && bytes[1] !== 1)) {
    throw new RangeError(`0x${bytes.toString('hex')} is not a join buffer record key`);
  }
  return {
    side: bytes[1] as JoinSide,
    key: bytes.subarray(6, 6 + keyLength),
    timestampMs: readOrderedTimestamp(bytes, 6 + keyLength),
    sequence: readOrderedTimestamp(bytes, 6 + keyLength + TIMESTAMP_BYTES),
  };
}

/** The record keys of `side` and `key` with a time in [fromMs, toMs]: `from` inclusive, `to` exclusive. */
export function joinRecordRange(side: JoinSide, key: Buffer, fromMs: number, toMs: number): { readonly from: Buffer; readonly to: Buffer } {
  return { from: encodeJoinRecordKey(side, key, fromMs, 0), to: encodeJoinRecordKey(side, key, toMs + 1, 0) };
}

export function encodeJoinExpiryKey(record: DecodedJoinRecordKey): Buffer {
  const { side, key, timestampMs, sequence } = record;
  const bytes = Buffer.allocUnsafe(1 + TIMESTAMP_BYTES + 1 + 4 + key.length + SEQUENCE_BYTES);
  bytes[0] = EXPIRY_TAG;
  writeOrderedTimestamp(bytes, 1, timestampMs);
  bytes[1 + TIMESTAMP_BYTES] = side;
  bytes.writeUInt32BE(key.length, 2 + TIMESTAMP_BYTES);
  key.copy(bytes, 6 + TIMESTAMP_BYTES);
  writeOrderedTimestamp(bytes, 6 + TIMESTAMP_BYTES + key.length, sequence);
  return bytes;
}

export function decodeJoinExpiryKey(bytes: Buffer): DecodedJoinRecordKey {
  const keyLength = bytes.length >= 6 + TIMESTAMP_BYTES ? bytes.readUInt32BE(2 + TIMESTAMP_BYTES) : -1;
  const side = bytes[1 + TIMESTAMP_BYTES];
  if (bytes[0] !== EXPIRY_TAG || bytes.length !== 6 + TIMESTAMP_BYTES + keyLength + SEQUENCE_BYTES || (side !== 0 && side !== 1)) {
    throw new RangeError(`0x${bytes.toString('hex')} is not a join buffer expiry key`);
  }
  return {
    side: side as JoinSide,
    timestampMs: readOrderedTimestamp(bytes, 1),
    key: bytes.subarray(6 + TIMESTAMP_BYTES, 6 + TIMESTAMP_BYTES + keyLength),
    sequence: readOrderedTimestamp(bytes, 6 + TIMESTAMP_BYTES + keyLength),
  };
}

/** The expiry keys of records with a time below `beforeMs`: `from` inclusive, `to` exclusive. */
export function joinExpiryRange(beforeMs: number): { readonly from: Buffer; readonly to: Buffer } {
  const to = Buffer.allocUnsafe(1 + TIMESTAMP_BYTES);
  to[0] = EXPIRY_TAG;
  writeOrderedTimestamp(to, 1, beforeMs);
  return { from: Buffer.from([EXPIRY_TAG]), to };
}

export function joinExpiryValue(): Buffer {
  return EXPIRY_MARK;
}

export function encodeJoinRecordValue(matched: boolean, value: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(1 + value.length);
  bytes[0] = matched ? 1 : 0;
  value.copy(bytes, 1);
  return bytes;
}

export function decodeJoinRecordValue(bytes: Buffer): { readonly matched: boolean; readonly value: Buffer } {
  if (bytes.length < 1 || bytes[0]! > 1) throw new RangeError(`0x${bytes.toString('hex').slice(0, 32)} is not a join buffer record value`);
  return { matched: bytes[0] === 1, value: bytes.subarray(1) };
}
