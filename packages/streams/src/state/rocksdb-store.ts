import { mkdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { prefixUpperBound } from './bytes.js';
import { assertDisjointBatch } from './batch-checks.js';
import { RANGE_CHUNK_ENTRIES, type KeyValueBytesStore, type KeyValueEntry } from './key-value-bytes-store.js';
import type { MemoryBudget, RocksDbMemoryLease } from './memory-budget.js';
import { StateStoreError } from './state-store-error.js';

/**
 * The part of `@nxtedition/rocksdb` (an abstract-level database over RocksDB 9.7) this store uses.
 * The package ships no types; this is its API as we call it, checked by the store's tests.
 */
interface RocksLevelDb {
  open(options: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
  getMany(keys: Buffer[], options?: Record<string, unknown>): Promise<Array<Buffer | undefined | null>>;
  batch(): RocksLevelChainedBatch;
  iterator(options: Record<string, unknown>): RocksLevelIterator;
  getProperty(name: string): string;
}
interface RocksLevelChainedBatch {
  put(key: Buffer, value: Buffer): void;
  del(key: Buffer): void;
  write(options?: Record<string, unknown>): Promise<void>;
}
interface RocksLevelIterator {
  nextv(size: number): Promise<Array<[Buffer, Buffer]>>;
  close(): Promise<void>;
}
type RocksLevelConstructor = new (location: string, options: Record<string, unknown>) => RocksLevelDb;

const require = createRequire(import.meta.url);
let rocksLevelClass: RocksLevelConstructor | undefined;
/** Loads the native binding on first use, so that importing `@defter/streams` never needs it. */
function rocksLevel(): RocksLevelConstructor {
  rocksLevelClass ??= (require('@nxtedition/rocksdb') as { RocksLevel: RocksLevelConstructor }).RocksLevel;
  return rocksLevelClass;
}

const UINT32_MAX = 2 ** 32 - 1;

export interface RocksDbStoreOptions {
  /** The store's name, used in errors (and by callers for the changelog topic). */
  readonly name: string;
  /** The store's directory, e.g. `<stateDir>/<applicationId>/<taskId>/rocksdb/<store>`; created when missing. */
  readonly path: string;
  /** Leases the block cache and memtable budget from the app's budget; without it 8 MiB + 4 MiB. */
  readonly budget?: MemoryBudget;
}

/**
 * A `KeyValueBytesStore` on RocksDB (through `@nxtedition/rocksdb`), one database per (store, task).
 *
 * - `getMany` is one RocksDB `MultiGet` on the binding's thread pool: one await for a batch's keys.
 * - `writeBatch` is one atomic RocksDB `WriteBatch` with the WAL on and no fsync (the changelog is
 *   the source of truth; `flush()` fsyncs the WAL before a checkpoint names the offsets it covers).
 *   The binding writes a batch on the calling thread: ~3 ms per 1 000 puts here (see the README).
 * - `range` reads through a RocksDB iterator in chunks of `RANGE_CHUNK_ENTRIES` (a consistent
 *   snapshot taken when the iteration starts).
 * - Level compaction with a memtable budget and a block cache sized from the `MemoryBudget`.
 */
export class RocksDbStore implements KeyValueBytesStore {
  readonly persistent = true;
  readonly name: string;
  readonly path: string;
  private readonly budget: MemoryBudget | undefined;
  private db: RocksLevelDb | undefined;
  private lease: RocksDbMemoryLease | undefined;
  private openIterators = 0;

  constructor(options: RocksDbStoreOptions) {
    this.name = options.name;
    this.path = options.path;
    this.budget = options.budget;
  }

  get isOpen(): boolean {
    return this.db !== undefined;
  }

  /** The block cache and memtable budget this store got when it opened (undefined while closed). */
  get memoryLease(): { blockCacheBytes: number; memtableBytes: number } | undefined {
    return this.lease === undefined ? undefined : { blockCacheBytes: this.lease.blockCacheBytes, memtableBytes: this.lease.memtableBytes };
  }

  async open(): Promise<void> {
    if (this.db !== undefined) return;
    const lease = this.budget?.leaseRocksDb() ?? { blockCacheBytes: 8 * 1024 * 1024, memtableBytes: 4 * 1024 * 1024, release: () => {} };
    try {
      await mkdir(this.path, { recursive: true });
      const db = new (rocksLevel())(this.path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
      await db.open({
        createIfMissing: true,
        cacheSize: Math.min(lease.blockCacheBytes, UINT32_MAX),
        compaction: 'level',
        memtableMemoryBudget: lease.memtableBytes,
        infoLogLevel: 'warn',
      });
      this.db = db;
      this.lease = lease;
    } catch (error) {
      lease.release();
      throw this.storageError('open', error);
    }
  }

  async getMany(keys: readonly Buffer[]): Promise<Array<Buffer | null>> {
    const db = this.assertOpen();
    if (keys.length === 0) return [];
    let values: Array<Buffer | undefined | null>;
    try {
      values = await db.getMany(keys as Buffer[]);
    } catch (error) {
      throw this.storageError('read', error);
    }
    return values.map((value) => value ?? null);
  }

  async writeBatch(puts: readonly KeyValueEntry[], deletes: readonly Buffer[]): Promise<void> {
    const db = this.assertOpen();
    assertDisjointBatch(this.name, puts, deletes);
    if (puts.length === 0 && deletes.length === 0) return;
    try {
      const batch = db.batch();
      for (const key of deletes) batch.del(key);
      for (const { key, value } of puts) batch.put(key, value);
      await batch.write();
    } catch (error) {
      throw this.storageError('write', error);
    }
  }

  async *range(from?: Buffer, to?: Buffer): AsyncIterable<KeyValueEntry> {
    const db = this.assertOpen();
    // An empty `to` admits no key (and the binding would read an empty bound as no bound).
    if (to !== undefined && (to.length === 0 || (from !== undefined && Buffer.compare(from, to) >= 0))) return;
    const bounds: Record<string, unknown> = { keys: true, values: true };
    if (from !== undefined) bounds['gte'] = from;
    if (to !== undefined) bounds['lt'] = to;
    const iterator = db.iterator(bounds);
    this.openIterators += 1;
    try {
      for (;;) {
        let rows: Array<[Buffer, Buffer]>;
        try {
          rows = await iterator.nextv(RANGE_CHUNK_ENTRIES);
        } catch (error) {
          throw this.storageError('scan', error);
        }
        if (rows.length === 0) return;
        for (const [key, value] of rows) yield { key, value };
      }
    } finally {
      this.openIterators -= 1;
      await iterator.close();
    }
  }

  prefix(prefix: Buffer): AsyncIterable<KeyValueEntry> {
    return this.range(prefix, prefixUpperBound(prefix));
  }

  async approximateBytes(): Promise<number> {
    const db = this.assertOpen();
    const files = Number(db.getProperty('rocksdb.estimate-live-data-size'));
    const memtables = Number(db.getProperty('rocksdb.cur-size-all-mem-tables'));
    return (Number.isFinite(files) ? files : 0) + (Number.isFinite(memtables) ? memtables : 0);
  }

  /** fsyncs the write-ahead log: every `writeBatch` that completed before is durable after. */
  async flush(): Promise<void> {
    const db = this.assertOpen();
    try {
      // An empty batch written with sync syncs the WAL up to the last write (the binding has no FlushWAL).
      await db.batch().write({ sync: true });
    } catch (error) {
      throw this.storageError('flush', error);
    }
  }

  async close(): Promise<void> {
    const db = this.db;
    if (db === undefined) return;
    if (this.openIterators > 0) {
      throw new StateStoreError(this.name, 'busy', `store "${this.name}" cannot close while ${this.openIterators} range iteration(s) are open.`);
    }
    this.db = undefined;
    try {
      await db.close();
    } catch (error) {
      throw this.storageError('close', error);
    } finally {
      this.lease?.release();
      this.lease = undefined;
    }
  }

  async destroy(): Promise<void> {
    await this.close();
    await rm(this.path, { recursive: true, force: true });
  }

  private assertOpen(): RocksLevelDb {
    if (this.db === undefined) throw new StateStoreError(this.name, 'not-open', `store "${this.name}" is not open.`);
    return this.db;
  }

  private storageError(operation: string, cause: unknown): StateStoreError {
    if (cause instanceof StateStoreError) return cause;
    const detail = cause instanceof Error ? cause.message : String(cause);
    return new StateStoreError(this.name, 'storage', `store "${this.name}" at ${this.path}: RocksDB ${operation} failed: ${detail}.`, { cause });
  }
}
