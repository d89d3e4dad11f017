import { compareBytes, prefixUpperBound } from './bytes.js';
import { assertDisjointBatch } from './batch-checks.js';
import { RANGE_CHUNK_ENTRIES, type KeyValueBytesStore, type KeyValueEntry } from './key-value-bytes-store.js';
import { StateStoreError } from './state-store-error.js';

/** Bytes an entry costs beyond its key and value (array slots, Buffer objects), for `approximateBytes`. */
const ENTRY_OVERHEAD_BYTES = 96;

/**
 * A store in memory, for tests and small state; restored from its changelog on every start.
 *
 * Why a sorted array with binary search (not a B-tree package): lookups and range starts are
 * O(log n), scans are a walk, and an insert moves pointers (a memmove, fast up to a few hundred
 * thousand keys — the "small state" this store is for); no dependency. Keys and values are
 * copied on write, so a caller may reuse its buffers.
 */
export class InMemoryStore implements KeyValueBytesStore {
  readonly persistent = false;
  private keys: Buffer[] = [];
  private values: Buffer[] = [];
  private contentBytes = 0;
  private open_ = false;

  constructor(readonly name: string) {}

  get isOpen(): boolean {
    return this.open_;
  }

  async open(): Promise<void> {
    this.open_ = true;
  }

  async getMany(keys: readonly Buffer[]): Promise<Array<Buffer | null>> {
    this.assertOpen();
    return keys.map((key) => {
      const index = this.search(key);
      return index >= 0 ? this.values[index]! : null;
    });
  }

  async writeBatch(puts: readonly KeyValueEntry[], deletes: readonly Buffer[]): Promise<void> {
    this.assertOpen();
    assertDisjointBatch(this.name, puts, deletes);
    for (const key of deletes) this.deleteOne(key);
    for (const { key, value } of puts) this.putOne(key, value);
  }

  async *range(from?: Buffer, to?: Buffer): AsyncIterable<KeyValueEntry> {
    this.assertOpen();
    // Re-locate the position after each chunk by the last key yielded, so that writes between
    // chunks (which shift indexes) neither skip nor repeat keys.
    let index = from === undefined ? 0 : this.lowerBound(from);
    for (;;) {
      if (!this.open_) return;
      const chunk: KeyValueEntry[] = [];
      while (index < this.keys.length && chunk.length < RANGE_CHUNK_ENTRIES) {
        const key = this.keys[index]!;
        if (to !== undefined && compareBytes(key, to) >= 0) break;
        chunk.push({ key, value: this.values[index]! });
        index += 1;
      }
      yield* chunk;
      if (chunk.length < RANGE_CHUNK_ENTRIES) return;
      const lastKey = chunk[chunk.length - 1]!.key;
      index = this.upperBound(lastKey);
    }
  }

  prefix(prefix: Buffer): AsyncIterable<KeyValueEntry> {
    return this.range(prefix, prefixUpperBound(prefix));
  }

  async approximateBytes(): Promise<number> {
    this.assertOpen();
    return this.contentBytes + this.keys.length * ENTRY_OVERHEAD_BYTES;
  }

  async flush(): Promise<void> {
    this.assertOpen();
  }

  /** Drops the contents: an in-memory store is rebuilt from its changelog when it opens again. */
  async close(): Promise<void> {
    this.open_ = false;
    this.keys = [];
    this.values = [];
    this.contentBytes = 0;
  }

  async destroy(): Promise<void> {
    await this.close();
  }

  /** Number of entries (for tests and metrics). */
  get size(): number {
    return this.keys.length;
  }

  private putOne(key: Buffer, value: Buffer): void {
    const index = this.search(key);
    const valueCopy = Buffer.from(value);
    if (index >= 0) {
      this.contentBytes += valueCopy.length - this.values[index]!.length;
      this.values[index] = valueCopy;
      return;
    }
    const insertAt = -index - 1;
    this.keys.splice(insertAt, 0, Buffer.from(key));
    this.values.splice(insertAt, 0, valueCopy);
    this.contentBytes += key.length + valueCopy.length;
  }

  private deleteOne(key: Buffer): void {
    const index = this.search(key);
    if (index < 0) return;
    this.contentBytes -= this.keys[index]!.length + this.values[index]!.length;
    this.keys.splice(index, 1);
    this.values.splice(index, 1);
  }

  /** The index of `key`, or `-(insertion point) - 1` when it is absent. */
  private search(key: Buffer): number {
    const index = this.lowerBound(key);
    if (index < this.keys.length && compareBytes(this.keys[index]!, key) === 0) return index;
    return -index - 1;
  }

  /** The first index whose key is >= `key`. */
  private lowerBound(key: Buffer): number {
    let low = 0;
    let high = this.keys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareBytes(this.keys[middle]!, key) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The first index whose key is > `key`. */
  private upperBound(key: Buffer): number {
    let low = 0;
    let high = this.keys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareBytes(this.keys[middle]!, key) <= 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  private assertOpen(): void {
    if (!this.open_) throw new StateStoreError(this.name, 'not-open', `store "${this.name}" is not open.`);
  }
}
