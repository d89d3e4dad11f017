import { readOrderedTimestamp, TIMESTAMP_BYTES, writeOrderedTimestamp } from './bytes.js';

/**
 * The byte layout of a session store key:
 *
 *   key length (4, uint32 BE) | key bytes | session end (8, ordered) | session start (8, ordered)
 *
 * Why key first: merging a record into sessions asks `findSessions(key, earliestEnd, latestStart)`
 * — one key's sessions are contiguous, and ordered by end, so the scan starts at the first session
 * that ends late enough and reads only that key's later sessions (few: sessions of one key do not
 * overlap). Why end before start: the lower bound of the query is on the end. Retention (sessions
 * that ended before stream time − retention) has to scan the whole store; it runs rarely.
 */
export const SESSION_KEY_OVERHEAD_BYTES = 4 + TIMESTAMP_BYTES + TIMESTAMP_BYTES;

export interface DecodedSessionKey {
  readonly key: Buffer;
  readonly startMs: number;
  readonly endMs: number;
}

export function encodeSessionKey(key: Buffer, endMs: number, startMs: number): Buffer {
  const bytes = Buffer.allocUnsafe(SESSION_KEY_OVERHEAD_BYTES + key.length);
  bytes.writeUInt32BE(key.length, 0);
  key.copy(bytes, 4);
  writeOrderedTimestamp(bytes, 4 + key.length, endMs);
  writeOrderedTimestamp(bytes, 4 + key.length + TIMESTAMP_BYTES, startMs);
  return bytes;
}

/** The prefix every session of `key` starts with. */
export function encodeSessionKeyPrefix(key: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(4 + key.length);
  bytes.writeUInt32BE(key.length, 0);
  key.copy(bytes, 4);
  return bytes;
}

/** The first possible store key of `key`'s sessions that end at `endMs` or later. */
export function encodeSessionLowerBound(key: Buffer, endMs: number): Buffer {
  const bytes = Buffer.allocUnsafe(4 + key.length + TIMESTAMP_BYTES);
  bytes.writeUInt32BE(key.length, 0);
  key.copy(bytes, 4);
  writeOrderedTimestamp(bytes, 4 + key.length, endMs);
  return bytes;
}

export function decodeSessionKey(bytes: Buffer): DecodedSessionKey | undefined {
  if (bytes.length < SESSION_KEY_OVERHEAD_BYTES) return undefined;
  const keyLength = bytes.readUInt32BE(0);
  if (bytes.length !== SESSION_KEY_OVERHEAD_BYTES + keyLength) return undefined;
  return {
    key: bytes.subarray(4, 4 + keyLength),
    endMs: readOrderedTimestamp(bytes, 4 + keyLength),
    startMs: readOrderedTimestamp(bytes, 4 + keyLength + TIMESTAMP_BYTES),
  };
}
