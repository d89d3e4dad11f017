import type { Serde, SerdeContext } from '../serde/serde.js';
import type { KeyValueBytesStore } from './key-value-bytes-store.js';
import { StateStoreError } from './state-store-error.js';
import type { WriteBackCache } from './write-back-cache.js';

/** The options every time-retained store takes (the window and session stores add their own). */
export interface TimeRetainedStoreOptions<K, V> {
  readonly cache: WriteBackCache;
  readonly keySerde: Serde<K>;
  readonly valueSerde: Serde<V>;
  /** The topic the serdes are told about (subjects, errors): the store's changelog topic. */
  readonly changelogTopic: string;
  /** Entries older than stream time − `retentionMs` are dropped (what "older" means is the store's). */
  readonly retentionMs: number;
}

/** Deletes collected before each store write while dropping expired entries. */
const DROP_BATCH_KEYS = 1_000;

/**
 * What the window and session stores share: typed keys and values over a `WriteBackCache`, with
 * the changelog topic as the serdes' context, and a retention cutoff that follows the stream time
 * the store has observed (it never goes back). Errors name the store by its kind and name.
 */
export abstract class TimeRetainedStore<K, V> {
  readonly name: string;
  readonly retentionMs: number;
  protected readonly cache: WriteBackCache;
  protected readonly keySerde: Serde<K>;
  protected readonly valueSerde: Serde<V>;
  protected readonly keyContext: SerdeContext;
  protected readonly valueContext: SerdeContext;
  private streamTimeMs = Number.NEGATIVE_INFINITY;

  protected constructor(
    /** How errors name the store: `window store`, `session store`. */
    protected readonly kind: string,
    options: TimeRetainedStoreOptions<K, V>,
  ) {
    this.cache = options.cache;
    this.name = options.cache.storeName;
    if (!Number.isSafeInteger(options.retentionMs) || options.retentionMs < 0) {
      throw this.invalidArgument(`retentionMs must be a non-negative integer, got ${options.retentionMs}.`);
    }
    this.retentionMs = options.retentionMs;
    this.keySerde = options.keySerde;
    this.valueSerde = options.valueSerde;
    this.keyContext = { topic: options.changelogTopic, role: 'key' };
    this.valueContext = { topic: options.changelogTopic, role: 'value' };
  }

  /** Entries older than this are expired (−Infinity until stream time is observed). */
  get retentionCutoffMs(): number {
    return this.streamTimeMs - this.retentionMs;
  }

  /** Advances the store's stream time (it never goes back). */
  observeStreamTime(streamTimeMs: number): void {
    if (streamTimeMs > this.streamTimeMs) this.streamTimeMs = streamTimeMs;
  }

  protected serializeKey(key: K): Buffer {
    const bytes = this.keySerde.serialize(key, this.keyContext);
    if (bytes === null) throw this.invalidArgument('a key may not be null.');
    return bytes;
  }

  /** The cached value under `storeKey`, deserialized (null when absent). */
  protected readValue(storeKey: Buffer): V | null {
    const bytes = this.cache.get(storeKey);
    return bytes === null ? null : this.valueSerde.deserialize(bytes, this.valueContext);
  }

  /** Writes `value` under `storeKey` in the cache (`null` deletes it). */
  protected writeValue(storeKey: Buffer, value: V | null): void {
    const valueBytes = value === null ? null : this.valueSerde.serialize(value, this.valueContext);
    this.cache.put(storeKey, valueBytes);
  }

  protected invalidArgument(problem: string): StateStoreError {
    return new StateStoreError(this.name, 'invalid-argument', `${this.kind} "${this.name}": ${problem}`);
  }

  protected corruptKey(storeKey: Buffer, expected: string): StateStoreError {
    return new StateStoreError(this.name, 'corrupt', `${this.kind} "${this.name}": the stored key 0x${storeKey.toString('hex')} is not ${expected}.`);
  }
}

/**
 * Deletes from `store`, in batches, every key of `entries` that `expired` accepts (all of them by
 * default); `entries` is usually one of the store's own ranges. Returns how many keys it deleted.
 */
export async function deleteExpiredEntries(
  store: KeyValueBytesStore,
  entries: AsyncIterable<{ readonly key: Buffer }>,
  expired: (storeKey: Buffer) => boolean = () => true,
): Promise<number> {
  let deleted = 0;
  let doomed: Buffer[] = [];
  for await (const entry of entries) {
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
