import type { Serde, SerdeContext } from '../serde/serde.js';
import { prefixUpperBound } from './bytes.js';
import { StateStoreError } from './state-store-error.js';
import {
  decodeWindowKey,
  encodeSegmentKeyPrefix,
  encodeSegmentPrefix,
  encodeWindowKey,
  windowSegmentId,
  type DecodedWindowKey,
} from './window-key-layout.js';
import type { WriteBackCache } from './write-back-cache.js';

export interface WindowStoreOptions<K, V> {
  readonly cache: WriteBackCache;
  readonly keySerde: Serde<K>;
  readonly valueSerde: Serde<V>;
  readonly changelogTopic: string;
  /** Windows that start before stream time − `retentionMs` are dropped (at least window size + grace). */
  readonly retentionMs: number;
  /** The span of one segment; default max(retentionMs / 2, 60 000) as in Kafka Streams. */
  readonly segmentIntervalMs?: number;
}

export interface WindowRef<K> {
  readonly key: K;
  readonly windowStartMs: number;
}

export interface WindowedValue<V> {
  readonly windowStartMs: number;
  readonly value: V;
}

export interface WindowedKeyValue<K, V> {
  readonly key: K;
  readonly windowStartMs: number;
  readonly value: V;
}

/** Deletes collected before each store write while dropping expired segments. */
const DROP_BATCH_KEYS = 1_000;

/**
 * A typed window store: a value per (key, window start), over a `WriteBackCache` with the
 * segmented layout of `window-key-layout.ts`.
 *
 * `get`/`put` are synchronous after `preload` (an aggregation knows the windows a record falls in).
 * `fetch`/`fetchAll` (joins, interactive queries) read through the cache asynchronously; they find
 * live segments by seeking rather than walking every segment id, so a wide time range costs one
 * seek per segment that exists. Retention: `observeStreamTime` sets the cutoff (stream time −
 * retention); windows that start before it are not returned and `put` refuses them; `dropExpired`
 * deletes the segments wholly before the cutoff from the store (locally: the changelog topic has
 * its own time retention, so no tombstones are written).
 */
export class WindowStore<K, V> {
  readonly name: string;
  readonly retentionMs: number;
  readonly segmentIntervalMs: number;
  private readonly cache: WriteBackCache;
  private readonly keySerde: Serde<K>;
  private readonly valueSerde: Serde<V>;
  private readonly keyContext: SerdeContext;
  private readonly valueContext: SerdeContext;
  private streamTimeMs = Number.NEGATIVE_INFINITY;

  constructor(options: WindowStoreOptions<K, V>) {
    this.cache = options.cache;
    this.name = options.cache.storeName;
    const { retentionMs } = options;
    if (!Number.isSafeInteger(retentionMs) || retentionMs < 0) {
      throw new StateStoreError(this.name, 'invalid-argument', `window store "${this.name}": retentionMs must be a non-negative integer, got ${retentionMs}.`);
    }
    const segmentIntervalMs = options.segmentIntervalMs ?? Math.max(Math.floor(retentionMs / 2), 60_000);
    if (!Number.isSafeInteger(segmentIntervalMs) || segmentIntervalMs < 1) {
      throw new StateStoreError(this.name, 'invalid-argument', `window store "${this.name}": segmentIntervalMs must be a positive integer, got ${segmentIntervalMs}.`);
    }
    this.retentionMs = retentionMs;
    this.segmentIntervalMs = segmentIntervalMs;
    this.keySerde = options.keySerde;
    this.valueSerde = options.valueSerde;
    this.keyContext = { topic: options.changelogTopic, role: 'key' };
    this.valueContext = { topic: options.changelogTopic, role: 'value' };
  }

  /** Windows that start before this are expired (−Infinity until stream time is observed). */
  get retentionCutoffMs(): number {
    return this.streamTimeMs - this.retentionMs;
  }

  /** Advances the store's stream time (it never goes back). */
  observeStreamTime(streamTimeMs: number): void {
    if (streamTimeMs > this.streamTimeMs) this.streamTimeMs = streamTimeMs;
  }

  async preload(windows: Iterable<WindowRef<K>>): Promise<void> {
    const keys: Buffer[] = [];
    for (const { key, windowStartMs } of windows) keys.push(this.storeKey(this.serializeKey(key), windowStartMs));
    await this.cache.preload(keys);
  }

  get(key: K, windowStartMs: number): V | null {
    if (windowStartMs < this.retentionCutoffMs) return null;
    const bytes = this.cache.get(this.storeKey(this.serializeKey(key), windowStartMs));
    return bytes === null ? null : this.valueSerde.deserialize(bytes, this.valueContext);
  }

  /** Writes the window's value (`null` deletes it); returns false, writing nothing, when the window is already expired. */
  put(key: K, windowStartMs: number, value: V | null): boolean {
    const storeKey = this.storeKey(this.serializeKey(key), windowStartMs);
    if (windowStartMs < this.retentionCutoffMs) return false;
    const valueBytes = value === null ? null : this.valueSerde.serialize(value, this.valueContext);
    this.cache.put(storeKey, valueBytes);
    return true;
  }

  /** The windows of `key` that start in [fromMs, toMs], in start order. */
  async fetch(key: K, fromMs: number, toMs: number): Promise<Array<WindowedValue<V>>> {
    this.assertTimeRange(fromMs, toMs);
    const keyBytes = this.serializeKey(key);
    const lowerMs = Math.max(fromMs, this.retentionCutoffMs);
    const found: Array<WindowedValue<V>> = [];
    if (lowerMs > toMs) return found;
    const lastSegment = windowSegmentId(toMs, this.segmentIntervalMs);
    let segment: number | undefined = windowSegmentId(lowerMs, this.segmentIntervalMs);
    while ((segment = await this.liveSegmentAtOrAfter(segment)) !== undefined && segment <= lastSegment) {
      const from = encodeWindowKey(segment, keyBytes, lowerMs);
      const to = prefixUpperBound(encodeSegmentKeyPrefix(segment, keyBytes));
      for await (const entry of this.cache.range(from, to)) {
        const decoded = this.decode(entry.key);
        if (decoded.windowStartMs > toMs) break;
        found.push({ windowStartMs: decoded.windowStartMs, value: this.valueSerde.deserialize(entry.value, this.valueContext)! });
      }
      segment += 1;
    }
    return found;
  }

  /** Every window that starts in [fromMs, toMs], ordered by segment, then key bytes, then start. */
  async *fetchAll(fromMs: number, toMs: number): AsyncIterable<WindowedKeyValue<K, V>> {
    this.assertTimeRange(fromMs, toMs);
    const lowerMs = Math.max(fromMs, this.retentionCutoffMs);
    if (lowerMs > toMs) return;
    const lastSegment = windowSegmentId(toMs, this.segmentIntervalMs);
    let segment: number | undefined = windowSegmentId(lowerMs, this.segmentIntervalMs);
    while ((segment = await this.liveSegmentAtOrAfter(segment)) !== undefined && segment <= lastSegment) {
      for await (const entry of this.cache.prefix(encodeSegmentPrefix(segment))) {
        const decoded = this.decode(entry.key);
        if (decoded.windowStartMs < lowerMs || decoded.windowStartMs > toMs) continue;
        yield {
          key: this.keySerde.deserialize(Buffer.from(decoded.key), this.keyContext)!,
          windowStartMs: decoded.windowStartMs,
          value: this.valueSerde.deserialize(entry.value, this.valueContext)!,
        };
      }
      segment += 1;
    }
  }

  /**
   * Deletes, from the cache and the store, every segment that ends at or before the retention
   * cutoff (after `observeStreamTime(streamTimeMs)`). Returns how many store entries it deleted.
   */
  async dropExpired(streamTimeMs: number): Promise<number> {
    this.observeStreamTime(streamTimeMs);
    const cutoffMs = this.retentionCutoffMs;
    if (cutoffMs === Number.NEGATIVE_INFINITY) return 0;
    const firstLiveSegment = windowSegmentId(cutoffMs, this.segmentIntervalMs);
    const liveFrom = encodeSegmentPrefix(firstLiveSegment);
    this.cache.discardWhere((key) => Buffer.compare(key, liveFrom) < 0);
    const store = this.cache.store;
    let deleted = 0;
    let doomed: Buffer[] = [];
    for await (const entry of store.range(undefined, liveFrom)) {
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

  /** The smallest segment id >= `segment` that holds a window (in the store or the cache's writes). */
  private async liveSegmentAtOrAfter(segment: number): Promise<number | undefined> {
    for await (const entry of this.cache.range(encodeSegmentPrefix(segment))) {
      return this.decode(entry.key).segmentId;
    }
    return undefined;
  }

  private storeKey(keyBytes: Buffer, windowStartMs: number): Buffer {
    if (!Number.isSafeInteger(windowStartMs)) {
      throw new StateStoreError(this.name, 'invalid-argument', `window store "${this.name}": a window start must be a safe integer of milliseconds, got ${windowStartMs}.`);
    }
    return encodeWindowKey(windowSegmentId(windowStartMs, this.segmentIntervalMs), keyBytes, windowStartMs);
  }

  private serializeKey(key: K): Buffer {
    const bytes = this.keySerde.serialize(key, this.keyContext);
    if (bytes === null) throw new StateStoreError(this.name, 'invalid-argument', `window store "${this.name}": a key may not be null.`);
    return bytes;
  }

  private decode(storeKey: Buffer): DecodedWindowKey {
    const decoded = decodeWindowKey(storeKey);
    if (decoded === undefined) {
      throw new StateStoreError(this.name, 'corrupt', `window store "${this.name}": the stored key 0x${storeKey.toString('hex')} is not a window key.`);
    }
    return decoded;
  }

  private assertTimeRange(fromMs: number, toMs: number): void {
    if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs)) {
      throw new StateStoreError(this.name, 'invalid-argument', `window store "${this.name}": a time range needs safe integer bounds, got [${fromMs}, ${toMs}].`);
    }
  }
}
