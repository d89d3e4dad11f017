import type { Serde, SerdeContext } from '../serde/serde.js';
import { prefixUpperBound } from './bytes.js';
import { decodeSessionKey, encodeSessionKey, encodeSessionKeyPrefix, encodeSessionLowerBound, type DecodedSessionKey } from './session-key-layout.js';
import { StateStoreError } from './state-store-error.js';
import type { WriteBackCache } from './write-back-cache.js';

export interface SessionStoreOptions<K, V> {
  readonly cache: WriteBackCache;
  readonly keySerde: Serde<K>;
  readonly valueSerde: Serde<V>;
  readonly changelogTopic: string;
  /** Sessions that ended before stream time − `retentionMs` are dropped (at least inactivity gap + grace). */
  readonly retentionMs: number;
}

/** A session window of one key: [startMs, endMs], both inclusive (the first and last record's times). */
export interface SessionRef<K> {
  readonly key: K;
  readonly startMs: number;
  readonly endMs: number;
}

export interface SessionValue<K, V> extends SessionRef<K> {
  readonly value: V;
}

const DROP_BATCH_KEYS = 1_000;

/**
 * A typed session store: a value per (key, session start, session end), over a `WriteBackCache`
 * with the layout of `session-key-layout.ts` (key, then end, then start).
 *
 * `get`/`put`/`remove` of a known session are synchronous after `preload`; `findSessions` — the
 * query that merging a record into its sessions asks — reads through the cache asynchronously.
 */
export class SessionStore<K, V> {
  readonly name: string;
  readonly retentionMs: number;
  private readonly cache: WriteBackCache;
  private readonly keySerde: Serde<K>;
  private readonly valueSerde: Serde<V>;
  private readonly keyContext: SerdeContext;
  private readonly valueContext: SerdeContext;
  private streamTimeMs = Number.NEGATIVE_INFINITY;

  constructor(options: SessionStoreOptions<K, V>) {
    this.cache = options.cache;
    this.name = options.cache.storeName;
    if (!Number.isSafeInteger(options.retentionMs) || options.retentionMs < 0) {
      throw new StateStoreError(this.name, 'invalid-argument', `session store "${this.name}": retentionMs must be a non-negative integer, got ${options.retentionMs}.`);
    }
    this.retentionMs = options.retentionMs;
    this.keySerde = options.keySerde;
    this.valueSerde = options.valueSerde;
    this.keyContext = { topic: options.changelogTopic, role: 'key' };
    this.valueContext = { topic: options.changelogTopic, role: 'value' };
  }

  /** Sessions that end before this are expired. */
  get retentionCutoffMs(): number {
    return this.streamTimeMs - this.retentionMs;
  }

  observeStreamTime(streamTimeMs: number): void {
    if (streamTimeMs > this.streamTimeMs) this.streamTimeMs = streamTimeMs;
  }

  async preload(sessions: Iterable<SessionRef<K>>): Promise<void> {
    const keys: Buffer[] = [];
    for (const session of sessions) keys.push(this.storeKey(session));
    await this.cache.preload(keys);
  }

  get(session: SessionRef<K>): V | null {
    if (session.endMs < this.retentionCutoffMs) return null;
    const bytes = this.cache.get(this.storeKey(session));
    return bytes === null ? null : this.valueSerde.deserialize(bytes, this.valueContext);
  }

  /** Writes the session's value (`null` removes it); returns false, writing nothing, when the session is already expired. */
  put(session: SessionRef<K>, value: V | null): boolean {
    const storeKey = this.storeKey(session);
    if (session.endMs < this.retentionCutoffMs) return false;
    const valueBytes = value === null ? null : this.valueSerde.serialize(value, this.valueContext);
    this.cache.put(storeKey, valueBytes);
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
      throw new StateStoreError(this.name, 'invalid-argument', `session store "${this.name}": findSessions needs safe integer times, got ${earliestSessionEndMs} and ${latestSessionStartMs}.`);
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
    let deleted = 0;
    let doomed: Buffer[] = [];
    for await (const entry of store.range()) {
      if (!expired(entry.key)) continue;
      doomed.push(Buffer.from(entry.key));
      if (doomed.length >= DROP_BATCH_KEYS) {
        await store.writeBatch([], doomed);
        deleted += doomed.length;
        doomed = [];
      }
    }
    if (doomed.length > 0) {
      await store.writeBatch([], doomed);
      deleted += doomed.length;
    }
    return deleted;
  }

  private storeKey(session: SessionRef<K>): Buffer {
    const { startMs, endMs } = session;
    if (!Number.isSafeInteger(startMs) || !Number.isSafeInteger(endMs) || startMs > endMs) {
      throw new StateStoreError(this.name, 'invalid-argument', `session store "${this.name}": a session needs safe integer times with start <= end, got [${startMs}, ${endMs}].`);
    }
    return encodeSessionKey(this.serializeKey(session.key), endMs, startMs);
  }

  private serializeKey(key: K): Buffer {
    const bytes = this.keySerde.serialize(key, this.keyContext);
    if (bytes === null) throw new StateStoreError(this.name, 'invalid-argument', `session store "${this.name}": a key may not be null.`);
    return bytes;
  }

  private decode(storeKey: Buffer): DecodedSessionKey {
    const decoded = decodeSessionKey(storeKey);
    if (decoded === undefined) {
      throw new StateStoreError(this.name, 'corrupt', `session store "${this.name}": the stored key 0x${storeKey.toString('hex')} is not a session key.`);
    }
    return decoded;
  }
}
