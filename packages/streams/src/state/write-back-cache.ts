import { bytesMapKey, compareBytes, inKeyRange, prefixUpperBound } from './bytes.js';
import type { ChangelogRecord } from './changelog.js';
import type { KeyValueBytesStore, KeyValueEntry } from './key-value-bytes-store.js';
import type { BudgetedCache, MemoryBudget } from './memory-budget.js';
import { StateStoreError } from './state-store-error.js';

/** Bytes an entry costs beyond its key and value: the Map slots, the entry object, the latin1 map key. */
const ENTRY_OVERHEAD_BYTES = 96;

interface CacheEntry {
  readonly key: Buffer;
  readonly mapKey: string;
  /** null: known absent (preloaded as absent, or deleted). */
  value: Buffer | null;
  dirty: boolean;
  /** Preloaded for the batch under way: not evicted until `endBatch()`. */
  pinned: boolean;
  /** Bumped by every write, so that a flush marks clean only what it wrote. */
  writeSeq: number;
  bytes: number;
}

export interface WriteBackCacheOptions {
  readonly store: KeyValueBytesStore;
  readonly budget: MemoryBudget;
  /** Dirty bytes above which the cache asks for an early commit. Default: half the budget's cache share. */
  readonly dirtyBytesMax?: number;
  /** Called once each time `commitNeeded` becomes true (and not again until a flush). */
  readonly onCommitNeeded?: (storeName: string) => void;
}

export interface WriteBackCacheMetrics {
  readonly entries: number;
  readonly cachedBytes: number;
  readonly dirtyEntries: number;
  readonly dirtyBytes: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly flushes: number;
}

/**
 * The synchronous face of a store that operators use, in front of a `KeyValueBytesStore`.
 *
 * The hot path never awaits: before a batch runs, `preload(keys)` reads every key the batch will
 * touch that is not cached with one `getMany` (absent keys are cached as absent, and all of the
 * batch's keys are pinned until `endBatch()`); then `get`/`put`/`delete` are synchronous. A `get`
 * of a key that is neither cached nor written throws: it is a bug in the caller (a key it forgot to
 * preload), and answering "absent" would silently lose state.
 *
 * Writes stay in the cache (dirty) until `flush()`, called at commit, writes them to the store in
 * one batch and returns them, in the order of each key's last write, as changelog records.
 * Memory comes from the app's `MemoryBudget`: clean entries are evicted least recently used first;
 * dirty ones cannot be, so when dirty bytes pass `dirtyBytesMax` (or the budget is used up by
 * dirty bytes) `commitNeeded` turns true and `onCommitNeeded` is called — the caller commits
 * early; the cache never flushes on its own.
 *
 * The cache keeps the buffers it is given and hands out its own: neither side may mutate them.
 */
export class WriteBackCache implements BudgetedCache {
  readonly storeName: string;
  readonly store: KeyValueBytesStore;
  readonly dirtyBytesMax: number;
  private readonly budget: MemoryBudget;
  private readonly onCommitNeeded: ((storeName: string) => void) | undefined;
  private readonly unregister: () => void;
  /** Map order is recency order: the first entry is the least recently used. */
  private readonly entries = new Map<string, CacheEntry>();
  /** Map order is the order of each key's last write. */
  private readonly dirty = new Map<string, CacheEntry>();
  private pinned: CacheEntry[] = [];
  private cachedBytes_ = 0;
  private dirtyBytes_ = 0;
  private commitNeededSignalled = false;
  private flushing = false;
  private closed = false;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private flushes = 0;

  constructor(options: WriteBackCacheOptions) {
    this.store = options.store;
    this.storeName = options.store.name;
    this.budget = options.budget;
    this.dirtyBytesMax = options.dirtyBytesMax ?? Math.floor(options.budget.cacheBytesMax / 2);
    if (!Number.isSafeInteger(this.dirtyBytesMax) || this.dirtyBytesMax < 0) {
      throw new StateStoreError(this.storeName, 'invalid-argument', `store "${this.storeName}": dirtyBytesMax must be a non-negative integer, got ${this.dirtyBytesMax}.`);
    }
    this.onCommitNeeded = options.onCommitNeeded;
    this.unregister = this.budget.register(this);
  }

  /** Whether the caller should commit now: too many dirty bytes for this cache or for the shared budget. */
  get commitNeeded(): boolean {
    return this.dirtyBytes_ > this.dirtyBytesMax || (this.dirtyBytes_ > 0 && this.budget.cacheOvercommitted);
  }

  get dirtyBytes(): number {
    return this.dirtyBytes_;
  }

  get cachedBytes(): number {
    return this.cachedBytes_;
  }

  get size(): number {
    return this.entries.size;
  }

  metrics(): WriteBackCacheMetrics {
    return {
      entries: this.entries.size,
      cachedBytes: this.cachedBytes_,
      dirtyEntries: this.dirty.size,
      dirtyBytes: this.dirtyBytes_,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      flushes: this.flushes,
    };
  }

  /**
   * Makes `keys` readable synchronously: one `getMany` for those not cached. Every key named is
   * pinned (kept through evictions) until `endBatch()`.
   */
  async preload(keys: Iterable<Buffer>): Promise<void> {
    this.assertUsable();
    const missing: Buffer[] = [];
    const missingMapKeys = new Set<string>();
    for (const key of keys) {
      const mapKey = bytesMapKey(key);
      const entry = this.entries.get(mapKey);
      if (entry !== undefined) {
        this.hits += 1;
        this.pin(entry);
        this.touch(entry);
      } else if (!missingMapKeys.has(mapKey)) {
        missingMapKeys.add(mapKey);
        missing.push(key);
      }
    }
    if (missing.length === 0) return;
    this.misses += missing.length;
    const values = await this.store.getMany(missing);
    this.assertUsable();
    for (let index = 0; index < missing.length; index += 1) {
      const key = missing[index]!;
      const mapKey = bytesMapKey(key);
      const written = this.entries.get(mapKey);
      if (written !== undefined) {
        // Written (or preloaded by a concurrent call) while the read was under way: the cache is newer.
        this.pin(written);
        continue;
      }
      const value = values[index] ?? null;
      const entry: CacheEntry = { key, mapKey, value, dirty: false, pinned: false, writeSeq: 0, bytes: entryBytes(key, value) };
      this.pin(entry);
      this.reserve(entry.bytes);
      this.entries.set(mapKey, entry);
      this.cachedBytes_ += entry.bytes;
    }
  }

  /** Unpins the keys preloaded for the batch that just finished: they become evictable. */
  endBatch(): void {
    for (const entry of this.pinned) entry.pinned = false;
    this.pinned = [];
    // A batch whose keys alone overfilled the budget kept them pinned: give the excess back now.
    if (this.budget.cacheOvercommitted) this.evictClean(this.budget.cacheBytesUsed - this.budget.cacheBytesMax);
  }

  /** Whether `key` can be read synchronously (preloaded, still cached, or written). */
  has(key: Buffer): boolean {
    return this.entries.has(bytesMapKey(key));
  }

  /** The key's value (null when absent). Throws when the key was neither preloaded nor written. */
  get(key: Buffer): Buffer | null {
    const entry = this.entries.get(bytesMapKey(key));
    if (entry === undefined) {
      this.assertUsable();
      throw new StateStoreError(
        this.storeName,
        'not-preloaded',
        `store "${this.storeName}": the key 0x${key.toString('hex')} was read before it was preloaded; preload every key a batch reads before processing it.`,
      );
    }
    this.touch(entry);
    return entry.value;
  }

  put(key: Buffer, value: Buffer | null): void {
    this.assertUsable();
    const mapKey = bytesMapKey(key);
    const entry = this.entries.get(mapKey);
    const bytes = entryBytes(key, value);
    if (entry === undefined) {
      const created: CacheEntry = { key, mapKey, value, dirty: true, pinned: false, writeSeq: 1, bytes };
      this.markDirty(created, 0);
      this.reserve(bytes);
      this.entries.set(mapKey, created);
      this.cachedBytes_ += bytes;
    } else {
      const bytesBefore = entry.bytes;
      entry.value = value;
      entry.writeSeq += 1;
      entry.bytes = bytes;
      this.markDirty(entry, entry.dirty ? bytesBefore : 0);
      this.touch(entry);
      this.cachedBytes_ += bytes - bytesBefore;
      if (bytes > bytesBefore) this.reserve(bytes - bytesBefore);
      else this.budget.releaseCacheBytes(bytesBefore - bytes);
    }
    this.signalIfCommitNeeded();
  }

  delete(key: Buffer): void {
    this.put(key, null);
  }

  /**
   * Writes every dirty entry to the store in one batch and returns them as changelog records, in
   * the order of each key's last write. Entries written again while the batch was being written
   * stay dirty. Rejects (and keeps every entry dirty) when the store write fails.
   */
  async flush(): Promise<ChangelogRecord[]> {
    this.assertUsable();
    if (this.flushing) throw new StateStoreError(this.storeName, 'busy', `store "${this.storeName}": a flush is already under way.`);
    const flushed = [...this.dirty.values()].map((entry) => ({ entry, writeSeq: entry.writeSeq, value: entry.value }));
    if (flushed.length === 0) return [];
    const records: ChangelogRecord[] = [];
    const puts: KeyValueEntry[] = [];
    const deletes: Buffer[] = [];
    for (const { entry, value } of flushed) {
      records.push({ key: entry.key, value });
      if (value === null) deletes.push(entry.key);
      else puts.push({ key: entry.key, value });
    }
    this.flushing = true;
    try {
      await this.store.writeBatch(puts, deletes);
    } finally {
      this.flushing = false;
    }
    for (const { entry, writeSeq } of flushed) {
      if (entry.writeSeq !== writeSeq || !entry.dirty) continue;
      entry.dirty = false;
      this.dirty.delete(entry.mapKey);
      this.dirtyBytes_ -= entry.bytes;
    }
    this.flushes += 1;
    if (!this.commitNeeded) this.commitNeededSignalled = false;
    // Entries that were dirty may now be evicted: give back what is over the budget.
    if (this.budget.cacheOvercommitted) this.evictClean(this.budget.cacheBytesUsed - this.budget.cacheBytesMax);
    return records;
  }

  /**
   * The entries with `from <= key < to` in key order, as the store would hold them after a flush:
   * the store's range with this cache's dirty entries laid over it. For interactive queries and
   * range reads outside the hot path.
   */
  async *range(from?: Buffer, to?: Buffer): AsyncIterable<KeyValueEntry> {
    this.assertUsable();
    const overlay: Array<{ key: Buffer; value: Buffer | null }> = [];
    for (const entry of this.dirty.values()) {
      if (inKeyRange(entry.key, from, to)) overlay.push({ key: entry.key, value: entry.value });
    }
    overlay.sort((a, b) => compareBytes(a.key, b.key));
    let next = 0;
    for await (const stored of this.store.range(from, to)) {
      while (next < overlay.length && compareBytes(overlay[next]!.key, stored.key) < 0) {
        const written = overlay[next++]!;
        if (written.value !== null) yield { key: written.key, value: written.value };
      }
      if (next < overlay.length && compareBytes(overlay[next]!.key, stored.key) === 0) {
        const written = overlay[next++]!;
        if (written.value !== null) yield { key: written.key, value: written.value };
        continue;
      }
      yield stored;
    }
    for (; next < overlay.length; next += 1) {
      const written = overlay[next]!;
      if (written.value !== null) yield { key: written.key, value: written.value };
    }
  }

  prefix(prefix: Buffer): AsyncIterable<KeyValueEntry> {
    return this.range(prefix, prefixUpperBound(prefix));
  }

  /** The key's value, read from the store when it is not cached (without caching it): for interactive queries. */
  async getAsync(key: Buffer): Promise<Buffer | null> {
    this.assertUsable();
    const entry = this.entries.get(bytesMapKey(key));
    if (entry !== undefined) return entry.value;
    const [value] = await this.store.getMany([key]);
    return value ?? null;
  }

  /**
   * Drops every cached entry whose key matches, dirty ones included, without writing anything
   * (retention: expired windows leave the store by `dropExpired`, not by tombstones). Returns how many.
   */
  discardWhere(predicate: (key: Buffer) => boolean): number {
    let discarded = 0;
    for (const entry of [...this.entries.values()]) {
      if (!predicate(entry.key)) continue;
      this.remove(entry);
      discarded += 1;
    }
    if (discarded > 0) this.pinned = this.pinned.filter((entry) => this.entries.get(entry.mapKey) === entry);
    return discarded;
  }

  /** BudgetedCache: evicts clean, unpinned entries, least recently used first. */
  evictClean(bytesWanted: number): number {
    let freed = 0;
    for (const entry of this.entries.values()) {
      if (freed >= bytesWanted) break;
      if (entry.dirty || entry.pinned) continue;
      this.entries.delete(entry.mapKey);
      this.cachedBytes_ -= entry.bytes;
      this.budget.releaseCacheBytes(entry.bytes);
      this.evictions += 1;
      freed += entry.bytes;
    }
    return freed;
  }

  /** Gives the cache's memory back; dirty entries not flushed are discarded (the changelog restores them). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.budget.releaseCacheBytes(this.cachedBytes_);
    this.unregister();
    this.entries.clear();
    this.dirty.clear();
    this.pinned = [];
    this.cachedBytes_ = 0;
    this.dirtyBytes_ = 0;
  }

  private remove(entry: CacheEntry): void {
    this.entries.delete(entry.mapKey);
    if (entry.dirty) {
      this.dirty.delete(entry.mapKey);
      this.dirtyBytes_ -= entry.bytes;
    }
    this.cachedBytes_ -= entry.bytes;
    this.budget.releaseCacheBytes(entry.bytes);
  }

  private markDirty(entry: CacheEntry, dirtyBytesBefore: number): void {
    this.dirty.delete(entry.mapKey);
    this.dirty.set(entry.mapKey, entry);
    entry.dirty = true;
    this.dirtyBytes_ += entry.bytes - dirtyBytesBefore;
  }

  private pin(entry: CacheEntry): void {
    if (entry.pinned) return;
    entry.pinned = true;
    this.pinned.push(entry);
  }

  private touch(entry: CacheEntry): void {
    this.entries.delete(entry.mapKey);
    this.entries.set(entry.mapKey, entry);
  }

  private reserve(bytes: number): void {
    this.budget.reserveCacheBytes(bytes, this);
  }

  private signalIfCommitNeeded(): void {
    if (this.commitNeededSignalled || !this.commitNeeded) return;
    this.commitNeededSignalled = true;
    this.onCommitNeeded?.(this.storeName);
  }

  private assertUsable(): void {
    if (this.closed) throw new StateStoreError(this.storeName, 'not-open', `store "${this.storeName}": its cache is closed.`);
  }
}

function entryBytes(key: Buffer, value: Buffer | null): number {
  // The latin1 map key holds the key a second time.
  return 2 * key.length + (value?.length ?? 0) + ENTRY_OVERHEAD_BYTES;
}
