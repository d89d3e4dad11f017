import { StateStoreError } from './state-store-error.js';

const MIB = 1024 * 1024;

export interface MemoryBudgetOptions {
  /** Everything the app's state may hold in memory: write-back caches plus RocksDB's block caches and memtables. */
  readonly totalBytes: number;
  /** The share of `totalBytes` for RocksDB (block caches and memtables); the rest is for write-back caches. Default 0.5. */
  readonly rocksDbShare?: number;
  /** What one RocksDB store leases when it opens (half block cache, half memtables). Default 16 MiB. */
  readonly rocksDbBytesPerStore?: number;
}

/** Memory a RocksDB store may use, leased from the budget when it opens and given back when it closes. */
export interface RocksDbMemoryLease {
  /** The block cache's capacity; 0 means no block cache (reads go to the OS page cache). */
  readonly blockCacheBytes: number;
  /** RocksDB's memtable budget for this store (its write buffers stay within 1.5× of it). */
  readonly memtableBytes: number;
  release(): void;
}

/** What a write-back cache offers the budget: evict clean entries to make room for another cache. */
export interface BudgetedCache {
  readonly storeName: string;
  /** Evicts clean, unpinned entries until `bytesWanted` are freed or none are left; returns the bytes freed. */
  evictClean(bytesWanted: number): number;
}

export interface MemoryBudgetSnapshot {
  readonly totalBytes: number;
  readonly cacheBytesMax: number;
  readonly cacheBytesUsed: number;
  readonly rocksDbBytesMax: number;
  readonly rocksDbBytesLeased: number;
  readonly rocksDbLeases: number;
  readonly caches: number;
}

/** The smallest memtable budget a store gets: RocksDB cannot write without a write buffer. */
const MEMTABLE_BYTES_MIN = 1 * MIB;

/**
 * One bounded memory budget per app that every write-back cache draws from and that sizes each
 * RocksDB store's block cache and memtables.
 *
 * Caches reserve bytes as entries come in. When the cache share is used up, the budget asks the
 * reserving cache first, then the others, to evict clean entries; dirty entries cannot be evicted
 * (they are the uncommitted writes), so when only dirty bytes are left the reservation still
 * succeeds, `reserveCacheBytes` returns false, and the caches report `commitNeeded`: the caller
 * commits early. There is no hidden flush.
 *
 * RocksDB stores lease a fixed slice (`rocksDbBytesPerStore`) when they open. When the RocksDB
 * share cannot cover another slice, the store gets what is left, down to no block cache and the
 * smallest memtable (1 MiB): more tasks than the budget was sized for slow reads down instead of
 * growing memory.
 */
export class MemoryBudget {
  readonly totalBytes: number;
  readonly cacheBytesMax: number;
  readonly rocksDbBytesMax: number;
  readonly rocksDbBytesPerStore: number;
  private cacheBytesUsed_ = 0;
  private rocksDbBytesLeased_ = 0;
  private rocksDbLeases_ = 0;
  private readonly caches = new Set<BudgetedCache>();

  constructor(options: MemoryBudgetOptions) {
    const { totalBytes, rocksDbShare = 0.5, rocksDbBytesPerStore = 16 * MIB } = options;
    if (!Number.isSafeInteger(totalBytes) || totalBytes < 1) {
      throw new StateStoreError('memory-budget', 'invalid-argument', `the memory budget's totalBytes must be a positive integer, got ${totalBytes}.`);
    }
    if (!(rocksDbShare >= 0 && rocksDbShare < 1)) {
      throw new StateStoreError('memory-budget', 'invalid-argument', `the memory budget's rocksDbShare must be in [0, 1), got ${rocksDbShare}.`);
    }
    if (!Number.isSafeInteger(rocksDbBytesPerStore) || rocksDbBytesPerStore < 0) {
      throw new StateStoreError('memory-budget', 'invalid-argument', `the memory budget's rocksDbBytesPerStore must be a non-negative integer, got ${rocksDbBytesPerStore}.`);
    }
    this.totalBytes = totalBytes;
    this.rocksDbBytesMax = Math.floor(totalBytes * rocksDbShare);
    this.cacheBytesMax = totalBytes - this.rocksDbBytesMax;
    this.rocksDbBytesPerStore = rocksDbBytesPerStore;
  }

  get cacheBytesUsed(): number {
    return this.cacheBytesUsed_;
  }

  /** Whether the caches hold more than their share (only dirty or pinned bytes can do that). */
  get cacheOvercommitted(): boolean {
    return this.cacheBytesUsed_ > this.cacheBytesMax;
  }

  /** Registers a cache so that other caches' reservations can make it evict; returns the unregister function. */
  register(cache: BudgetedCache): () => void {
    this.caches.add(cache);
    return () => {
      this.caches.delete(cache);
    };
  }

  /**
   * Reserves `bytes` for `requester`, evicting clean entries (the requester's first) when the
   * share is used up. Always reserves; returns false when the caches are now over their share.
   */
  reserveCacheBytes(bytes: number, requester: BudgetedCache): boolean {
    this.cacheBytesUsed_ += bytes;
    let excess = this.cacheBytesUsed_ - this.cacheBytesMax;
    if (excess <= 0) return true;
    // The requester's own entries first: a cache that keeps growing should not empty its neighbours.
    excess -= requester.evictClean(excess);
    for (const cache of this.caches) {
      if (excess <= 0) break;
      if (cache !== requester) excess -= cache.evictClean(excess);
    }
    return this.cacheBytesUsed_ <= this.cacheBytesMax;
  }

  releaseCacheBytes(bytes: number): void {
    this.cacheBytesUsed_ -= bytes;
    if (this.cacheBytesUsed_ < 0) throw new Error(`memory budget: released more cache bytes than were reserved (${this.cacheBytesUsed_}).`);
  }

  /** Leases memory for one RocksDB store (see the class comment for what happens when the share runs out). */
  leaseRocksDb(): RocksDbMemoryLease {
    const available = Math.max(0, this.rocksDbBytesMax - this.rocksDbBytesLeased_);
    const leasedBytes = Math.min(this.rocksDbBytesPerStore, available);
    const memtableBytes = Math.max(MEMTABLE_BYTES_MIN, Math.floor(leasedBytes / 3));
    // Memtables may reach 1.5× their budget; what is left of the slice is the block cache.
    const blockCacheBytes = Math.max(0, leasedBytes - Math.ceil(memtableBytes * 1.5));
    const charged = blockCacheBytes + Math.ceil(memtableBytes * 1.5);
    this.rocksDbBytesLeased_ += charged;
    this.rocksDbLeases_ += 1;
    let released = false;
    return {
      blockCacheBytes,
      memtableBytes,
      release: () => {
        if (released) return;
        released = true;
        this.rocksDbBytesLeased_ -= charged;
        this.rocksDbLeases_ -= 1;
      },
    };
  }

  snapshot(): MemoryBudgetSnapshot {
    return {
      totalBytes: this.totalBytes,
      cacheBytesMax: this.cacheBytesMax,
      cacheBytesUsed: this.cacheBytesUsed_,
      rocksDbBytesMax: this.rocksDbBytesMax,
      rocksDbBytesLeased: this.rocksDbBytesLeased_,
      rocksDbLeases: this.rocksDbLeases_,
      caches: this.caches.size,
    };
  }
}
