import type { Serde, SerdeContext } from '../serde/serde.js';
import { StateStoreError } from './state-store-error.js';
import type { WriteBackCache } from './write-back-cache.js';

export interface KeyValueStoreOptions<K, V> {
  readonly cache: WriteBackCache;
  readonly keySerde: Serde<K>;
  readonly valueSerde: Serde<V>;
  /** The topic the serdes are told about (subjects, errors): the store's changelog topic. */
  readonly changelogTopic: string;
}

/** A typed entry of a key-value store. */
export interface KeyValue<K, V> {
  readonly key: K;
  readonly value: V;
}

/**
 * A typed key-value store over a `WriteBackCache`: keys and values go through the serdes (the key
 * bytes are the store key and the changelog key, as in Kafka Streams). `get`/`put`/`delete` are
 * synchronous after `preload`; `range`/`all`/`getAsync` are for interactive queries and read
 * through the cache. Ranges are in the order of the serialized keys (bytewise), which is the
 * natural order only for serdes that preserve it (big-endian unsigned numbers, ASCII strings).
 */
export class KeyValueStore<K, V> {
  readonly name: string;
  private readonly cache: WriteBackCache;
  private readonly keySerde: Serde<K>;
  private readonly valueSerde: Serde<V>;
  private readonly keyContext: SerdeContext;
  private readonly valueContext: SerdeContext;

  constructor(options: KeyValueStoreOptions<K, V>) {
    this.cache = options.cache;
    this.name = options.cache.storeName;
    this.keySerde = options.keySerde;
    this.valueSerde = options.valueSerde;
    this.keyContext = { topic: options.changelogTopic, role: 'key' };
    this.valueContext = { topic: options.changelogTopic, role: 'value' };
  }

  /** Lets serdes that need I/O (Avro) register their schemas once, before the first synchronous call. */
  async prepare(): Promise<void> {
    await this.keySerde.prepareSerialize?.(this.keyContext);
    await this.valueSerde.prepareSerialize?.(this.valueContext);
  }

  async preload(keys: Iterable<K>): Promise<void> {
    const keyBytes: Buffer[] = [];
    for (const key of keys) keyBytes.push(this.serializeKey(key));
    await this.cache.preload(keyBytes);
  }

  get(key: K): V | null {
    return this.deserializeValue(this.cache.get(this.serializeKey(key)));
  }

  /** Writes `value`; `null` deletes the key. */
  put(key: K, value: V | null): void {
    const valueBytes = value === null ? null : this.valueSerde.serialize(value, this.valueContext);
    this.cache.put(this.serializeKey(key), valueBytes);
  }

  delete(key: K): void {
    this.cache.delete(this.serializeKey(key));
  }

  async getAsync(key: K): Promise<V | null> {
    return this.deserializeValue(await this.cache.getAsync(this.serializeKey(key)));
  }

  /** Entries with `from <= key < to` (serialized order); an omitted bound is open. */
  async *range(from?: K, to?: K): AsyncIterable<KeyValue<K, V>> {
    const fromBytes = from === undefined ? undefined : this.serializeKey(from);
    const toBytes = to === undefined ? undefined : this.serializeKey(to);
    for await (const entry of this.cache.range(fromBytes, toBytes)) {
      yield { key: this.deserializeKey(entry.key), value: this.deserializeValue(entry.value)! };
    }
  }

  all(): AsyncIterable<KeyValue<K, V>> {
    return this.range();
  }

  private serializeKey(key: K): Buffer {
    const bytes = this.keySerde.serialize(key, this.keyContext);
    if (bytes === null) throw new StateStoreError(this.name, 'invalid-argument', `store "${this.name}": a key may not be null.`);
    return bytes;
  }

  private deserializeKey(bytes: Buffer): K {
    const key = this.keySerde.deserialize(bytes, this.keyContext);
    if (key === null) throw new StateStoreError(this.name, 'corrupt', `store "${this.name}": a stored key read back as null.`);
    return key;
  }

  private deserializeValue(bytes: Buffer | null): V | null {
    return bytes === null ? null : this.valueSerde.deserialize(bytes, this.valueContext);
  }
}
