import { prefixUpperBound } from './bytes.js';
import { deleteExpiredEntries, TimeRetainedStore, type TimeRetainedStoreOptions } from './time-retained-store.js';
import {
  decodeWindowKey,
  encodeSegmentKeyPrefix,
  encodeSegmentPrefix,
  encodeWindowKey,
  windowSegmentId,
  type DecodedWindowKey,
} from './window-key-layout.js';

/** Windows that start before stream time − `retentionMs` are dropped (at least window size + grace). */
export interface WindowStoreOptions<K, V> extends TimeRetainedStoreOptions<K, V> {
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
export class WindowStore<K, V> extends TimeRetainedStore<K, V> {
  readonly segmentIntervalMs: number;

  /** Windows that start before `retentionCutoffMs` are expired. */
  constructor(options: WindowStoreOptions<K, V>) {
    super('window store', options);
    const segmentIntervalMs = options.segmentIntervalMs ?? Math.max(Math.floor(this.retentionMs / 2), 60_000);
    if (!Number.isSafeInteger(segmentIntervalMs) || segmentIntervalMs < 1) {
      throw this.invalidArgument(`segmentIntervalMs must be a positive integer, got ${segmentIntervalMs}.`);
    }
    this.segmentIntervalMs = segmentIntervalMs;
  }

  async preload(windows: Iterable<WindowRef<K>>): Promise<void> {
    const keys: Buffer[] = [];
    for (const { key, windowStartMs } of windows) keys.push(this.storeKey(this.serializeKey(key), windowStartMs));
    await this.cache.preload(keys);
  }

  get(key: K, windowStartMs: number): V | null {
    if (windowStartMs < this.retentionCutoffMs) return null;
    return this.readValue(this.storeKey(this.serializeKey(key), windowStartMs));
  }

  /** Writes the window's value (`null` deletes it); returns false, writing nothing, when the window is already expired. */
  put(key: K, windowStartMs: number, value: V | null): boolean {
    const storeKey = this.storeKey(this.serializeKey(key), windowStartMs);
    if (windowStartMs < this.retentionCutoffMs) return false;
    this.writeValue(storeKey, value);
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
    return deleteExpiredEntries(store, store.range(undefined, liveFrom));
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
      throw this.invalidArgument(`a window start must be a safe integer of milliseconds, got ${windowStartMs}.`);
    }
    return encodeWindowKey(windowSegmentId(windowStartMs, this.segmentIntervalMs), keyBytes, windowStartMs);
  }

  private decode(storeKey: Buffer): DecodedWindowKey {
    const decoded = decodeWindowKey(storeKey);
    if (decoded === undefined) throw this.corruptKey(storeKey, 'a window key');
    return decoded;
  }

  private assertTimeRange(fromMs: number, toMs: number): void {
    if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs)) {
      throw this.invalidArgument(`a time range needs safe integer bounds, got [${fromMs}, ${toMs}].`);
    }
  }
}
