import { prefixUpperBound } from './bytes.js';
import { decodeSessionKey, encodeSessionKey, encodeSessionKeyPrefix, encodeSessionLowerBound, type DecodedSessionKey } from './session-key-layout.js';
import { deleteExpiredEntries, TimeRetainedStore, type TimeRetainedStoreOptions } from './time-retained-store.js';

/** Sessions that ended before stream time − `retentionMs` are dropped (at least inactivity gap + grace). */
export type SessionStoreOptions<K, V> = TimeRetainedStoreOptions<K, V>;

/** A session window of one key: [startMs, endMs], both inclusive (the first and last record's times). */
export interface SessionRef<K> {
  readonly key: K;
  readonly startMs: number;
  readonly endMs: number;
}

export interface SessionValue<K, V> extends SessionRef<K> {
  readonly value: V;
}

/**
 * A typed session store: a value per (key, session start, session end), over a `WriteBackCache`
 * with the layout of `session-key-layout.ts` (key, then end, then start).
 *
 * `get`/`put`/`remove` of a known session are synchronous after `preload`; `findSessions` — the
 * query that merging a record into its sessions asks — reads through the cache asynchronously.
 */
export class SessionStore<K, V> extends TimeRetainedStore<K, V> {
  /** Sessions that end before `retentionCutoffMs` are expired. */
  constructor(options: SessionStoreOptions<K, V>) {
    super('session store', options);
  }

  async preload(sessions: Iterable<SessionRef<K>>): Promise<void> {
    const keys: Buffer[] = [];
    for (const session of sessions) keys.push(this.storeKey(session));
    await this.cache.preload(keys);
  }

  get(session: SessionRef<K>): V | null {
    if (session.endMs < this.retentionCutoffMs) return null;
    return this.readValue(this.storeKey(session));
  }

  /** Writes the session's value (`null` removes it); returns false, writing nothing, when the session is already expired. */
  put(session: SessionRef<K>, value: V | null): boolean {
    const storeKey = this.storeKey(session);
    if (session.endMs < this.retentionCutoffMs) return false;
    this.writeValue(storeKey, value);
    return true;
  }

  remove(session: SessionRef<K>): void {
    this.cache.delete(this.storeKey(session));
  }

  /**
   * The sessions of `key` with end >= `earliestSessionEndMs` and start <= `latestSessionStartMs`
   * (those a record at time t with inactivity gap g merges with: t − g and t + g), ordered by end, then start.
   */
  async findSessions(key: K, earliestSessionEndMs: number, latestSessionStartMs: number): Promise<Array<SessionValue<K, V>>> {
    if (!Number.isSafeInteger(earliestSessionEndMs) || !Number.isSafeInteger(latestSessionStartMs)) {
      throw this.invalidArgument(`findSessions needs safe integer times, got ${earliestSessionEndMs} and ${latestSessionStartMs}.`);
    }
    const keyBytes = this.serializeKey(key);
    const earliestEndMs = Math.max(earliestSessionEndMs, this.retentionCutoffMs);
    const found: Array<SessionValue<K, V>> = [];
    const from = encodeSessionLowerBound(keyBytes, earliestEndMs);
    const to = prefixUpperBound(encodeSessionKeyPrefix(keyBytes));
    for await (const entry of this.cache.range(from, to)) {
      const decoded = this.decode(entry.key);
      if (decoded.startMs > latestSessionStartMs) continue;
      found.push({ key, startMs: decoded.startMs, endMs: decoded.endMs, value: this.valueSerde.deserialize(entry.value, this.valueContext)! });
    }
    return found;
  }

  /** Every live session of `key`, ordered by end, then start. */
  fetchSessions(key: K): Promise<Array<SessionValue<K, V>>> {
    return this.findSessions(key, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  }

  /**
   * Deletes, from the cache and the store, every session that ended before the retention cutoff
   * (after `observeStreamTime(streamTimeMs)`); scans the whole store (see the layout). Returns how
   * many store entries it deleted.
   */
  async dropExpired(streamTimeMs: number): Promise<number> {
    this.observeStreamTime(streamTimeMs);
    const cutoffMs = this.retentionCutoffMs;
    if (cutoffMs === Number.NEGATIVE_INFINITY) return 0;
    const expired = (storeKey: Buffer): boolean => this.decode(storeKey).endMs < cutoffMs;
    this.cache.discardWhere(expired);
    const store = this.cache.store;
    return deleteExpiredEntries(store, store.range(), expired);
  }

  private storeKey(session: SessionRef<K>): Buffer {
    const { startMs, endMs } = session;
    if (!Number.isSafeInteger(startMs) || !Number.isSafeInteger(endMs) || startMs > endMs) {
      throw this.invalidArgument(`a session needs safe integer times with start <= end, got [${startMs}, ${endMs}].`);
    }
    return encodeSessionKey(this.serializeKey(session.key), endMs, startMs);
  }

  private decode(storeKey: Buffer): DecodedSessionKey {
    const decoded = decodeSessionKey(storeKey);
    if (decoded === undefined) throw this.corruptKey(storeKey, 'a session key');
    return decoded;
  }
}
