import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FetchedBatch, StreamLog } from '../log/stream-log.js';
import type { Serde, SerdeContext } from '../serde/serde.js';
import { bytesMapKey } from '../state/bytes.js';
import type { KeyValueBytesStore, KeyValueEntry } from '../state/key-value-bytes-store.js';
import type { Scheduler } from './scheduler.js';

export interface GlobalTableSpec<K, V> {
  readonly topic: string;
  readonly name: string;
  readonly keySerde: Serde<K>;
  readonly valueSerde: Serde<V>;
}

export interface GlobalTableReplicaOptions {
  readonly log: StreamLog;
  readonly store: KeyValueBytesStore;
  readonly scheduler: Scheduler;
  /** How often the background reader asks each partition for new records. */
  readonly pollIntervalMs: number;
  /** The background reader failed (the app fails with it). */
  readonly onError: (error: Error) => void;
}

/**
 * One instance's full copy of a global table: every partition of its topic, read outside any
 * group (`offsetRange` / `readPartition`, read_committed), into its own store (not per task).
 *
 * `start()` reads every partition up to its end before the app reports RUNNING; then a background
 * reader (every `pollIntervalMs`, through the scheduler) applies what was appended since. Lookups
 * see what has been read so far: the replica is eventually consistent with the topic, and a
 * stream record may join with a value older than one already in the log. The store holds the
 * topic's own bytes (key → latest value, a null value deletes), and is rebuilt from the topic at
 * every start: the topic is its changelog.
 */
export class GlobalTableReplica<K, V> {
  private readonly positions: bigint[] = [];
  private readonly keyContext: SerdeContext;
  private readonly valueContext: SerdeContext;
  private cancelPolling: (() => void) | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;
  private restored = false;
  private applied = 0;

  constructor(
    readonly spec: GlobalTableSpec<K, V>,
    private readonly options: GlobalTableReplicaOptions,
  ) {
    this.keyContext = { topic: spec.topic, role: 'key' };
    this.valueContext = { topic: spec.topic, role: 'value' };
  }

  /** Restored (read to the end once) and not closed: lookups may run. */
  get readable(): boolean {
    return this.restored && !this.closed;
  }

  /** Records applied since the start (restore and background reads). */
  get appliedRecords(): number {
    return this.applied;
  }

  /** Opens the store, reads every partition to its end, then starts the background reader. */
  async start(): Promise<void> {
    const partitions = await this.options.log.partitionCount(this.spec.topic).catch((error: unknown) => {
      throw new Error(`the global table "${this.spec.name}" reads the topic "${this.spec.topic}", which cannot be read: ${error instanceof Error ? error.message : String(error)}`);
    });
    await this.options.store.open();
    await this.spec.keySerde.prepareSerialize?.(this.keyContext);
    for (let partition = 0; partition < partitions; partition += 1) this.positions.push(0n);
    await this.catchUp();
    this.restored = true;
    this.cancelPolling = this.options.scheduler.every(this.options.pollIntervalMs, () => {
      if (this.polling !== undefined || this.closed) return;
      this.polling = this.catchUp()
        .catch((error: unknown) => {
          if (!this.closed) this.options.onError(error instanceof Error ? error : new Error(String(error)));
        })
        .finally(() => {
          this.polling = undefined;
        });
    });
  }

  /** The current values of `keys` (null: absent, or a null key). */
  async getMany(keys: ReadonlyArray<K | null>): Promise<Array<V | null>> {
    const serialized = keys.map((key) => (key === null ? null : this.spec.keySerde.serialize(key, this.keyContext)));
    const present = serialized.filter((bytes): bytes is Buffer => bytes !== null);
    const found = present.length === 0 ? [] : await this.options.store.getMany(present);
    await this.spec.valueSerde.prepareDeserialize?.(found, this.valueContext);
    let next = 0;
    return serialized.map((bytes) => {
      if (bytes === null) return null;
      const value = found[next++] ?? null;
      return value === null ? null : this.spec.valueSerde.deserialize(value, this.valueContext);
    });
  }

  async get(key: K): Promise<V | null> {
    return (await this.getMany([key]))[0] ?? null;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cancelPolling?.();
    await this.polling;
    await this.options.store.destroy().catch(() => undefined);
  }

  /** Reads every partition from its position to its current end. */
  private async catchUp(): Promise<void> {
    const { log } = this.options;
    for (let partition = 0; partition < this.positions.length; partition += 1) {
      const topicPartition = { topic: this.spec.topic, partition };
      const { endOffset } = await log.offsetRange(topicPartition, 'read_committed');
      if (endOffset <= this.positions[partition]!) continue;
      const batches = log.readPartition({ ...topicPartition, fromOffset: this.positions[partition]!, toOffset: endOffset, isolationLevel: 'read_committed' });
      for await (const batch of batches) {
        if (this.closed) return;
        await this.apply(batch);
        this.positions[partition] = batch.nextOffset;
      }
    }
  }

  /** One batch as one store write: the last write of a key wins, a null value deletes it. */
  private async apply(batch: FetchedBatch): Promise<void> {
    const latest = new Map<string, { key: Buffer; value: Buffer | null }>();
    for (const record of batch.records) {
      if (record.key === null) continue;
      latest.set(bytesMapKey(record.key), { key: Buffer.from(record.key), value: record.value === null ? null : Buffer.from(record.value) });
    }
    const puts: KeyValueEntry[] = [];
    const deletes: Buffer[] = [];
    for (const { key, value } of latest.values()) {
      if (value === null) deletes.push(key);
      else puts.push({ key, value });
    }
    if (puts.length + deletes.length > 0) await this.options.store.writeBatch(puts, deletes);
    this.applied += batch.records.length;
  }
}

export interface GlobalTablesStartOptions {
  readonly log: StreamLog;
  readonly scheduler: Scheduler;
  /** Where the replicas' stores live: `<directory>/<name>-<random>/`, deleted at close. */
  readonly directory: string;
  readonly storeFactory: (name: string, path: string) => KeyValueBytesStore;
  readonly onError: (error: Error) => void;
  readonly pollIntervalMs?: number;
}

/** The global tables of one app: defined before `start()`, replicated (restored) at start, closed with the app. */
export class GlobalTables {
  private readonly specs: Array<GlobalTableSpec<unknown, unknown>> = [];
  private readonly replicas = new Map<string, GlobalTableReplica<unknown, unknown>>();

  define<K, V>(spec: GlobalTableSpec<K, V>): () => GlobalTableReplica<K, V> {
    if (this.specs.some((existing) => existing.name === spec.name)) {
      throw new RangeError(`a global table named "${spec.name}" exists already in this app: give each globalTable() its own name`);
    }
    this.specs.push(spec as GlobalTableSpec<unknown, unknown>);
    return () => {
      const replica = this.replicas.get(spec.name);
      if (replica === undefined || !replica.readable) throw new Error(`the global table "${spec.name}" is read only while the app runs`);
      return replica as unknown as GlobalTableReplica<K, V>;
    };
  }

  get size(): number {
    return this.specs.length;
  }

  /** Restores every global table (in parallel) and starts their background readers. */
  async start(options: GlobalTablesStartOptions): Promise<void> {
    const started = this.specs.map(async (spec) => {
      const path = join(options.directory, `${spec.name}-${randomUUID()}`);
      await rm(path, { recursive: true, force: true });
      const replica = new GlobalTableReplica(spec, {
        log: options.log,
        store: options.storeFactory(spec.name, path),
        scheduler: options.scheduler,
        pollIntervalMs: options.pollIntervalMs ?? 100,
        onError: options.onError,
      });
      this.replicas.set(spec.name, replica);
      await replica.start();
    });
    await Promise.all(started);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.replicas.values()].map((replica) => replica.close()));
  }
}
