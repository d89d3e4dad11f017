import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { OutgoingRecord, StreamLog, TopicPartition } from '../log/stream-log.js';
import type { SerdeContext } from '../serde/serde.js';
import { changelogTopicName, restoreFromChangelog, type ChangelogRecord } from '../state/changelog.js';
import { CHECKPOINT_FILE_NAME, readCheckpoint, writeCheckpoint, type CheckpointEntry } from '../state/checkpoint-file.js';
import type { KeyValueBytesStore } from '../state/key-value-bytes-store.js';
import { KeyValueStore } from '../state/key-value-store.js';
import type { MemoryBudget } from '../state/memory-budget.js';
import { StateStoreError } from '../state/state-store-error.js';
import { WriteBackCache } from '../state/write-back-cache.js';
import type { RunContext, StoreAccess, StoreSpec, StoreView, TaskStore } from '../topology/topology.js';

/** Builds the bytes store behind one (store, task); the default is a `RocksDbStore` in `path`. */
export type StateStoreFactory = (options: { readonly name: string; readonly path: string; readonly budget: MemoryBudget }) => KeyValueBytesStore;

/** Restore progress of one store of one task, reported as the changelog is read. */
export interface RestoreProgress {
  readonly taskId: string;
  readonly store: string;
  readonly changelogTopic: string;
  readonly partition: number;
  /** Changelog records applied so far. */
  readonly restoredRecords: number;
  /** Offsets between where the restore started and the changelog's end (records, markers and compacted gaps). */
  readonly totalOffsets: number;
  readonly done: boolean;
}

export interface TaskStateOptions {
  readonly applicationId: string;
  readonly taskId: string;
  readonly partition: number;
  /** `<stateDir>/<applicationId>/<taskId>` */
  readonly directory: string;
  readonly specs: readonly StoreSpec[];
  readonly budget: MemoryBudget;
  readonly storeFactory: StateStoreFactory;
  readonly exactlyOnce: boolean;
  readonly onCommitNeeded: () => void;
  readonly onRestore: (progress: RestoreProgress) => void;
}

interface OpenStore {
  readonly spec: StoreSpec;
  readonly changelogTopic: string;
  readonly bytesStore: KeyValueBytesStore;
  readonly cache: WriteBackCache;
  readonly typed: KeyValueStore<unknown, unknown>;
  readonly keyContext: SerdeContext;
  readonly valueContext: SerdeContext;
  /** One `update` at a time: a batch's keys stay pinned from its preload to the end of its writes. */
  turn: Promise<unknown>;
}

/** Undo entries of one batch run: the value each key had before its first write in the run. */
class RunJournal {
  private readonly undo: Array<{ cache: WriteBackCache; key: Buffer; previous: Buffer | null }> = [];
  private readonly seen = new Set<string>();

  record(cache: WriteBackCache, key: Buffer, previous: Buffer | null): void {
    const id = `${cache.storeName}\u0000${key.toString('latin1')}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    this.undo.push({ cache, key, previous });
  }

  /** Puts back what the run overwrote (newest first); the keys become dirty with their old values. */
  rollback(): void {
    for (let index = this.undo.length - 1; index >= 0; index -= 1) {
      const { cache, key, previous } = this.undo[index]!;
      // A closed cache (the task was revoked) has discarded its writes already.
      if (cache.has(key)) cache.put(key, previous);
    }
    this.undo.length = 0;
    this.seen.clear();
  }
}

/** The run context of one batch run, with the means to undo its writes when the run fails. */
export interface StatefulRun extends RunContext {
  rollback(): void;
}

/**
 * The state stores of one task: opened (and restored from their changelogs) when the task is
 * assigned, flushed at every commit, closed (with a checkpoint when clean) when it is revoked.
 *
 * Directory: `<stateDir>/<applicationId>/<taskId>/<store>/` per store and one `.checkpoint` per task
 * (changelog partition → the next offset the local stores have not applied).
 */
export class TaskState {
  readonly taskId: string;
  private readonly stores = new Map<string, OpenStore>();
  private closed = false;
  private restored = 0;
  /** The stream time an idle task reached by wall-clock time (see `StreamTask.advanceIdle`); windowed steps take it as a floor. */
  streamTimeFloorMs = Number.NEGATIVE_INFINITY;
  /** Told of records dropped as late (negative: a rolled-back run's); the owning task counts them. */
  onRecordsLate: (count: number) => void = () => undefined;

  constructor(private readonly options: TaskStateOptions) {
    this.taskId = options.taskId;
  }

  get restoredRecords(): number {
    return this.restored;
  }

  get isOpen(): boolean {
    return !this.closed && this.stores.size > 0;
  }

  /** The changelog partitions of this task's stores. */
  changelogPartitions(): TopicPartition[] {
    return this.options.specs.map((spec) => ({ topic: changelogTopicName(this.options.applicationId, spec.name), partition: this.options.partition }));
  }

  /**
   * Opens every store and brings it up to its changelog's end. A checkpoint lets the restore start
   * at its offset; under exactly_once only a checkpoint written at a clean close counts (it is
   * deleted once read, so a crash leaves none) and, without one, local state is wiped first.
   */
  async open(log: StreamLog): Promise<void> {
    const { directory, exactlyOnce } = this.options;
    const checkpointPath = join(directory, CHECKPOINT_FILE_NAME);
    let checkpoint: CheckpointEntry[] | undefined;
    try {
      checkpoint = await readCheckpoint(checkpointPath);
    } catch (error) {
      // A damaged checkpoint means "restore from the changelog's start", never a wrong offset.
      if (!(error instanceof StateStoreError && error.reason === 'corrupt')) throw error;
    }
    if (exactlyOnce) await rm(checkpointPath, { force: true });
    for (const spec of this.options.specs) {
      const changelogTopic = changelogTopicName(this.options.applicationId, spec.name);
      const path = join(directory, spec.name);
      const hadLocalState = await exists(path);
      const entry = checkpoint?.find((candidate) => candidate.topic === changelogTopic && candidate.partition === this.options.partition);
      const startOffset = hadLocalState && entry !== undefined ? entry.offset : 0n;
      if (exactlyOnce && hadLocalState && entry === undefined) await rm(path, { recursive: true, force: true });
      const bytesStore = this.options.storeFactory({ name: spec.name, path, budget: this.options.budget });
      await openWithRetry(bytesStore);
      const open = this.addStore(spec, changelogTopic, bytesStore);
      await open.typed.prepare();
      await this.restore(log, open, startOffset);
    }
  }

  private addStore(spec: StoreSpec, changelogTopic: string, bytesStore: KeyValueBytesStore): OpenStore {
    const cache = new WriteBackCache({ store: bytesStore, budget: this.options.budget, onCommitNeeded: () => this.options.onCommitNeeded() });
    const open: OpenStore = {
      spec,
      changelogTopic,
      bytesStore,
      cache,
      typed: new KeyValueStore({ cache, keySerde: spec.keySerde, valueSerde: spec.valueSerde, changelogTopic }),
      keyContext: { topic: changelogTopic, role: 'key' },
      valueContext: { topic: changelogTopic, role: 'value' },
      turn: Promise.resolve(),
    };
    this.stores.set(spec.name, open);
    return open;
  }

  private async restore(log: StreamLog, open: OpenStore, startOffset: bigint): Promise<void> {
    const partition = this.options.partition;
    const { endOffset } = await log.offsetRange({ topic: open.changelogTopic, partition }, 'read_committed');
    const totalOffsets = Math.max(0, Number(endOffset - startOffset));
    let restoredRecords = 0;
    const report = (done: boolean): void =>
      this.options.onRestore({ taskId: this.taskId, store: open.spec.name, changelogTopic: open.changelogTopic, partition, restoredRecords, totalOffsets, done });
    report(false);
    if (startOffset < endOffset) {
      const batches = log.readPartition({ topic: open.changelogTopic, partition, fromOffset: startOffset, toOffset: endOffset, isolationLevel: 'read_committed' });
      const records = async function* (): AsyncGenerator<ChangelogRecord> {
        for await (const batch of batches) {
          for (const record of batch.records) {
            // A changelog record without a key is not ours: skip it rather than corrupt the store.
            if (record.key !== null) yield { key: record.key, value: record.value };
          }
          restoredRecords += batch.records.length;
          report(false);
        }
      };
      await restoreFromChangelog(open.bytesStore, records());
    }
    this.restored += restoredRecords;
    report(true);
  }

  /** A run context for one batch run: stores as `TaskStore`s, writes journaled for `rollback()`. */
  beginRun(): StatefulRun {
    const journal = new RunJournal();
    let lateInRun = 0;
    const views = new Map<string, TaskStore>();
    return {
      store: (name) => {
        let view = views.get(name);
        if (view === undefined) {
          view = this.taskStore(this.openStore(name), journal);
          views.set(name, view);
        }
        return view;
      },
      exclusive: (names, body) => this.exclusive(names, journal, body),
      streamTimeFloorMs: this.streamTimeFloorMs,
      recordsLate: (count) => {
        lateInRun += count;
        this.onRecordsLate(count);
      },
      deleteBelow: (name, keyBytes) => this.deleteBelow(this.openStore(name), keyBytes),
      rollback: () => {
        journal.rollback();
        // The run's records are processed again (or go to the error policy): their late count goes too.
        if (lateInRun !== 0) this.onRecordsLate(-lateInRun);
        lateInRun = 0;
      },
    };
  }

  /** Window retention, in the store's turn: keys below `keyBytes` leave the cache and the store. */
  private deleteBelow(open: OpenStore, keyBytes: Buffer): Promise<number> {
    const turn = open.turn.then(async () => {
      this.assertOpen(open.spec.name);
      open.cache.discardWhere((key) => Buffer.compare(key, keyBytes) < 0);
      let deleted = 0;
      let doomed: Buffer[] = [];
      for await (const entry of open.bytesStore.range(undefined, keyBytes)) {
        doomed.push(Buffer.from(entry.key));
        if (doomed.length >= 1_000) {
          await open.bytesStore.writeBatch([], doomed);
          deleted += doomed.length;
          doomed = [];
        }
      }
      if (doomed.length > 0) await open.bytesStore.writeBatch([], doomed);
      return deleted + doomed.length;
    });
    open.turn = turn.catch(() => undefined);
    return turn;
  }

  /** Takes the turns of several stores at once (enqueued together, so two such calls never deadlock). */
  private exclusive<R>(names: readonly string[], journal: RunJournal, body: (stores: ReadonlyMap<string, StoreAccess>) => Promise<R>): Promise<R> {
    let opens: OpenStore[];
    try {
      opens = [...new Set(names)].map((name) => this.openStore(name));
    } catch (error) {
      return Promise.reject(error);
    }
    const turn = Promise.all(opens.map((open) => open.turn)).then(async () => {
      for (const open of opens) this.assertOpen(open.spec.name);
      const accesses = new Map(opens.map((open) => [open.spec.name, this.storeAccess(open, journal)]));
      try {
        return await body(accesses);
      } finally {
        for (const open of opens) open.cache.endBatch();
      }
    });
    const settled = turn.catch(() => undefined);
    for (const open of opens) open.turn = settled;
    return turn;
  }

  private storeAccess(open: OpenStore, journal: RunJournal): StoreAccess {
    const { cache, spec, keyContext, valueContext } = open;
    const { keyBytes, view } = this.taskStoreParts(open, journal);
    return {
      ...view,
      preload: async (keys) => {
        const list: Buffer[] = [];
        for (const key of keys) list.push(keyBytes(key));
        await cache.preload(list);
        this.assertOpen(spec.name);
      },
      range: async function* (from, to) {
        for await (const entry of cache.range(from === undefined ? undefined : keyBytes(from), to === undefined ? undefined : keyBytes(to))) {
          yield { key: spec.keySerde.deserialize(entry.key, keyContext), value: spec.valueSerde.deserialize(entry.value, valueContext) };
        }
      },
    };
  }

  private taskStore(open: OpenStore, journal: RunJournal): TaskStore {
    const { cache, spec } = open;
    const { keyBytes, view } = this.taskStoreParts(open, journal);
    return {
      name: spec.name,
      update: <R>(keys: Iterable<unknown>, apply: (view: StoreView<unknown, unknown>) => R): Promise<R> => {
        const turn = open.turn.then(async () => {
          this.assertOpen(spec.name);
          const list: Buffer[] = [];
          for (const key of keys) list.push(keyBytes(key));
          await cache.preload(list);
          this.assertOpen(spec.name);
          try {
            return apply(view);
          } finally {
            cache.endBatch();
          }
        });
        open.turn = turn.catch(() => undefined);
        return turn;
      },
    };
  }

  private taskStoreParts(open: OpenStore, journal: RunJournal): { keyBytes: (key: unknown) => Buffer; view: StoreView<unknown, unknown> } {
    const { cache, spec, keyContext, valueContext } = open;
    const keyBytes = (key: unknown): Buffer => {
      const bytes = spec.keySerde.serialize(key, keyContext);
      if (bytes === null) throw new StateStoreError(spec.name, 'invalid-argument', `store "${spec.name}": a key may not be null.`);
      return bytes;
    };
    const view: StoreView<unknown, unknown> = {
      get: (key) => {
        const bytes = cache.get(keyBytes(key));
        return bytes === null ? null : spec.valueSerde.deserialize(bytes, valueContext);
      },
      put: (key, value) => {
        const bytes = keyBytes(key);
        // Reading first makes a write of a key the batch did not name fail as loudly as a read.
        journal.record(cache, bytes, cache.get(bytes));
        cache.put(bytes, value === null ? null : spec.valueSerde.serialize(value, valueContext));
      },
    };
    return { keyBytes, view };
  }

  /** The typed store for interactive queries. */
  queryable(name: string): KeyValueStore<unknown, unknown> | undefined {
    return this.closed ? undefined : this.stores.get(name)?.typed;
  }

  /**
   * At commit: writes every store's dirty entries to the store and returns them as changelog
   * records for this task's partition (the caller sends them before it commits the offsets).
   */
  async flush(timestampMs: number): Promise<OutgoingRecord[]> {
    const records: OutgoingRecord[] = [];
    if (this.closed) return records;
    for (const open of this.stores.values()) {
      await open.turn;
      for (const { key, value } of await open.cache.flush()) {
        records.push({ topic: open.changelogTopic, partition: this.options.partition, key, value, headers: {}, timestamp: timestampMs });
      }
    }
    return records;
  }

  /** Whether every store's cache is flushed (a checkpoint may then name the changelog's end). */
  get clean(): boolean {
    return [...this.stores.values()].every((open) => open.cache.dirtyBytes === 0);
  }

  /**
   * Closes the stores. `checkpoint` true (a clean close: everything flushed and committed) writes
   * the changelogs' end offsets as the checkpoint, after an fsync of the stores.
   */
  async close(log: StreamLog | undefined, checkpoint: boolean): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stores = [...this.stores.values()];
    await Promise.allSettled(stores.map((open) => open.turn));
    const writeCheckpointNow = checkpoint && log !== undefined && stores.every((open) => open.cache.dirtyBytes === 0);
    const entries: CheckpointEntry[] = [];
    let failure: unknown;
    for (const open of stores) {
      try {
        if (writeCheckpointNow) {
          await open.bytesStore.flush();
          const { endOffset } = await log.offsetRange({ topic: open.changelogTopic, partition: this.options.partition }, 'read_committed');
          entries.push({ topic: open.changelogTopic, partition: this.options.partition, offset: endOffset });
        }
      } catch (error) {
        failure ??= error;
      }
      open.cache.close();
      await open.bytesStore.close().catch((error: unknown) => (failure ??= error));
    }
    if (writeCheckpointNow && failure === undefined && entries.length > 0) await writeCheckpoint(join(this.options.directory, CHECKPOINT_FILE_NAME), entries);
    if (failure !== undefined) throw failure;
  }

  private openStore(name: string): OpenStore {
    const open = this.stores.get(name);
    if (open === undefined) throw new Error(`task ${this.taskId} has no store named "${name}"`);
    return open;
  }

  private assertOpen(name: string): void {
    if (this.closed) throw new StateStoreError(name, 'not-open', `store "${name}" of task ${this.taskId} is closed (the task was revoked or the app stopped).`);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Opens a store, retrying for a while: when a task moves between two apps of one process, the
 * previous owner may still be closing its RocksDB (which holds a lock on the directory).
 */
async function openWithRetry(store: KeyValueBytesStore): Promise<void> {
  const attemptsMax = 40;
  for (let attempt = 1; ; attempt += 1) {
    try {
      await store.open();
      return;
    } catch (error) {
      const locked = error instanceof StateStoreError && error.reason === 'storage' && /lock/i.test(error.message);
      if (!locked || attempt >= attemptsMax) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
