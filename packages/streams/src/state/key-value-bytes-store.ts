/**
 * The storage interface every state store implements: bytes in, bytes out, keys in bytewise order.
 *
 * Why bytes: the typed layers (`KeyValueStore`, `WindowStore`, `SessionStore`) choose the key
 * layout, and the changelog carries the same bytes, so a store restored from its changelog is the
 * store that wrote it. Why batched: an awaited RocksDB call costs tens of microseconds, so the hot
 * path reads a batch's keys with one `getMany` and writes a commit with one `writeBatch`.
 *
 * Contract (checked by one suite for every implementation, `test/state-stores.test.ts`):
 * - `getMany` answers in the order asked, `null` for an absent key.
 * - `writeBatch` applies all of its puts and deletes or none; a key may not be both put and deleted.
 * - `range(from, to)` yields entries with `from <= key < to` in key order (an omitted bound is
 *   open); `prefix(p)` those whose key starts with `p`. Iterators read in bounded chunks.
 * - Every method but `open`, `close` and `destroy` rejects with `StateStoreError` (`not-open`)
 *   when the store is not open.
 */
export interface KeyValueEntry {
  readonly key: Buffer;
  readonly value: Buffer;
}

export interface KeyValueBytesStore {
  /** The store's name (`<store>` in `<applicationId>-<store>-changelog`), used in every error. */
  readonly name: string;
  /** Whether the contents survive `close()` (RocksDB) or not (in memory). */
  readonly persistent: boolean;
  readonly isOpen: boolean;
  open(): Promise<void>;
  getMany(keys: readonly Buffer[]): Promise<Array<Buffer | null>>;
  writeBatch(puts: readonly KeyValueEntry[], deletes: readonly Buffer[]): Promise<void>;
  range(from?: Buffer, to?: Buffer): AsyncIterable<KeyValueEntry>;
  prefix(prefix: Buffer): AsyncIterable<KeyValueEntry>;
  /** Roughly how many bytes the contents take (for metrics and budgets, not for exact accounting). */
  approximateBytes(): Promise<number>;
  /** Makes every completed `writeBatch` durable (a checkpoint may then name the offsets it covers). */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Closes the store and deletes its contents (its directory, for RocksDB). */
  destroy(): Promise<void>;
}

/** Entries a range iterator reads from the store at a time: bounds memory during a scan. */
export const RANGE_CHUNK_ENTRIES = 1_000;
