import { readOrderedTimestamp, TIMESTAMP_BYTES, writeOrderedTimestamp } from './bytes.js';

/**
 * The byte layout of a window store key:
 *
 *   segment id (8, ordered) | key length (4, uint32 BE) | key bytes | window start (8, ordered)
 *
 * Why segment first: retention drops whole segments — every window of a segment is one contiguous
 * key range, deleted in one pass — and `fetchAll(from, to)` reads only the segments that overlap
 * [from, to]. Why the key next, length-prefixed: inside a segment all of one key's windows are
 * contiguous and ordered by start time, so `fetch(key, from, to)` is one short scan per live
 * segment; the length prefix keeps a key that is a prefix of another ("ab" vs "abc") from
 * interleaving with it. Why not time first: `fetch(key)` — what joins and aggregations ask —
 * would scan every key's windows in the range. Ordered timestamps (sign bit flipped, big-endian)
 * make bytewise order the numeric order, negative times included.
 */
export const WINDOW_KEY_OVERHEAD_BYTES = TIMESTAMP_BYTES + 4 + TIMESTAMP_BYTES;

export interface DecodedWindowKey {
  readonly segmentId: number;
  readonly key: Buffer;
  readonly windowStartMs: number;
}

export function windowSegmentId(windowStartMs: number, segmentIntervalMs: number): number {
  return Math.floor(windowStartMs / segmentIntervalMs);
}

export function encodeWindowKey(segmentId: number, key: Buffer, windowStartMs: number): Buffer {
  const bytes = Buffer.allocUnsafe(WINDOW_KEY_OVERHEAD_BYTES + key.length);
  writeOrderedTimestamp(bytes, 0, segmentId);
  bytes.writeUInt32BE(key.length, TIMESTAMP_BYTES);
  key.copy(bytes, TIMESTAMP_BYTES + 4);
  writeOrderedTimestamp(bytes, TIMESTAMP_BYTES + 4 + key.length, windowStartMs);
  return bytes;
}

/** The prefix every key of a segment starts with. */
export function encodeSegmentPrefix(segmentId: number): Buffer {
  const bytes = Buffer.allocUnsafe(TIMESTAMP_BYTES);
  writeOrderedTimestamp(bytes, 0, segmentId);
  return bytes;
}

/** The prefix every window of `key` in a segment starts with. */
export function encodeSegmentKeyPrefix(segmentId: number, key: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(TIMESTAMP_BYTES + 4 + key.length);
  writeOrderedTimestamp(bytes, 0, segmentId);
  bytes.writeUInt32BE(key.length, TIMESTAMP_BYTES);
  key.copy(bytes, TIMESTAMP_BYTES + 4);
  return bytes;
}

/** Decodes a window store key; undefined when the bytes are not one (a corrupt store). */
export function decodeWindowKey(bytes: Buffer): DecodedWindowKey | undefined {
  if (bytes.length < WINDOW_KEY_OVERHEAD_BYTES) return undefined;
  const keyLength = bytes.readUInt32BE(TIMESTAMP_BYTES);
  if (bytes.length !== WINDOW_KEY_OVERHEAD_BYTES + keyLength) return undefined;
  const keyStart = TIMESTAMP_BYTES + 4;
  return {
    segmentId: readOrderedTimestamp(bytes, 0),
    key: bytes.subarray(keyStart, keyStart + keyLength),
    windowStartMs: readOrderedTimestamp(bytes, keyStart + keyLength),
  };
}
