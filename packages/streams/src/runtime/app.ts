import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { BehaviorSubject, type Observable } from 'rxjs';
import { KStream } from '../dsl/kstream.js';
import { KTable } from '../dsl/ktable.js';
import { latestByKey } from '../dsl/operators/latest-by-key.js';
import type { StreamRecord } from '../dsl/stream-record.js';
import { openLog, type LogOption } from '../log/open-log.js';
import {
  GroupRebalancedError,
  topicPartitionKey,
  type FetchedBatch,
  type GroupConsumer,
  type LogProducer,
  type OffsetToCommit,
  type OutgoingRecord,
  type StreamLog,
  type TopicPartition,
} from '../log/stream-log.js';
import type { Serde } from '../serde/serde.js';
import { changelogTopicName } from '../state/changelog.js';
import type { KeyValue } from '../state/key-value-store.js';
import { MemoryBudget } from '../state/memory-budget.js';
import { RocksDbStore } from '../state/rocksdb-store.js';
import { isRepartitionTopic, repartitionTopicName, Topology, type AnyRecord, type SubTopology, type TopologyDescription } from '../topology/topology.js';
import { BatchProcessor } from './batch-processor.js';
import { validateErrorPolicy, type ErrorPolicy } from './error-policy.js';
import { canTransition, type AppState } from './lifecycle.js';
import { systemScheduler, type Scheduler } from './scheduler.js';
import { startIdleStreamTimeAdvance } from './idle-stream-time.js';
import { processShutdownSignals } from './shutdown-signals.js';
import { StreamTask, type TaskMetrics, type UncommittedBatch } from './task.js';
import { checkStoresAndRecord } from './state-directory.js';
import { TaskState, type RestoreProgress, type StateStoreFactory } from './task-state.js';
import { GlobalKTable } from '../dsl/global-ktable.js';
import { checkCopartitioning } from '../dsl/joins/copartitioning.js';
import { GlobalTables } from './global-table.js';

export type ProcessingGuarantee = 'at_least_once' | 'exactly_once';

export interface AppOptions {
  /** Names the consumer group, and prefixes the transactional id. */
  readonly applicationId: string;
  /**
   * Where the records live: the embedded log (`{ dataDir }`, or `{ broker }` shared with other apps
   * of this process: no sockets), a Kafka-compatible cluster (`{ brokers }`, through kafkajs), or any
   * `StreamLog` (left open at close). Default: the embedded log on `./data`.
   */
  readonly log?: LogOption;
  readonly processingGuarantee?: ProcessingGuarantee;
  /** commit.interval.ms: Kafka Streams' defaults, 30 000 (at_least_once) and 100 (exactly_once). */
  readonly commitIntervalMs?: number;
  readonly deserializationErrors?: ErrorPolicy;
  /** Errors raised by operators, and outputs that cannot be serialized or partitioned. */
  readonly processingErrors?: ErrorPolicy;
  /** A task's partitions are paused when it holds more records fetched-but-not-committed than this… */
  readonly inFlightRecordsHighWaterMark?: number;
  /** …and resumed when it holds this many or fewer (after a commit). */
  readonly inFlightRecordsLowWaterMark?: number;
  readonly fetchMaxBytesPerPartition?: number;
  /** fetch.max.wait.ms (Kafka's default, 500). */
  readonly fetchMaxWaitMs?: number;
  /** How many partitions' batches run at once (the operators are synchronous; this overlaps the awaits). */
  readonly partitionsConcurrentlyMax?: number;
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** Where a partition without a committed offset starts: the earliest offset (true, the default) or the end. */
  readonly fromBeginning?: boolean;
  /**
   * exactly_once: the transactional id is `<applicationId>-<instanceId>`. A stable id lets a
   * restarted instance fence its crashed predecessor and abort its open transaction at once; the
   * default (a random id) leaves that transaction to the coordinator's timeout.
   */
  readonly instanceId?: string;
  readonly transactionTimeoutMs?: number;
  readonly scheduler?: Scheduler;
  /**
   * Idle advance of stream time (default 0: off): a stateful task that received no record for this
   * long has its stream time advanced by the wall-clock time elapsed, so windows (and
   * `suppress(untilWindowCloses())`) close on a quiet partition. Trades determinism for liveness:
   * see "Windows" in the README.
   */
  readonly streamTimeIdleAdvanceMs?: number;
  /**
   * On SIGINT/SIGTERM, close the app gracefully (finish the batches under way, commit, leave the
   * group), then let the signal end the process; a second signal exits at once. Default true.
   * One registry for the process (`shutdown-signals.ts`): one listener per signal however many apps.
   */
  readonly shutdownOnSignals?: boolean;
  /**
   * Where state stores live: `<stateDir>/<applicationId>/<taskId>/<store>/`. Default `./state`
   * (beside the embedded log's default `./data`). Local state is a cache of the changelogs: it may
   * be deleted while the app is stopped (the next start restores it).
   */
  readonly stateDir?: string;
  /** The memory all state may use: write-back caches and RocksDB block caches and memtables (one budget per app). Default 64 MiB. */
  readonly stateMemoryBytes?: number;
  /** Builds the bytes store behind each (store, task); default a `RocksDbStore` (tests wrap it, or use an `InMemoryStore`). */
  readonly stateStoreFactory?: StateStoreFactory;
  /** Restore progress of each store of each task, as its changelog is read (and once more when done). */
  readonly onRestore?: (progress: RestoreProgress) => void;
}

export interface TableOptions<K, V> {
  readonly key: Serde<K>;
  readonly value: Serde<V>;
  /** The store's name (and so its changelog topic's); default `<topic>-table`. */
  readonly name?: string;
}

/** Interactive queries over one store's instances in this app's tasks (local only). */
export interface ReadOnlyKeyValueStore<K, V> {
  /** The key's value in whichever local task holds it; undefined when none does. */
  get(key: K): Promise<V | undefined>;
  /** Entries with `from <= key < to` (serialized order) of every local task, one task after the other. */
  range(from?: K, to?: K): AsyncIterable<KeyValue<K, V>>;
  all(): AsyncIterable<KeyValue<K, V>>;
}

export interface StreamOptions<K, V> {
  readonly key: Serde<K>;
  readonly value: Serde<V>;
  /** Event time of a record; the log timestamp by default. */
  readonly timestamp?: (record: StreamRecord<K, V>) => number;
}

export interface AppMetrics {
  readonly state: AppState;
  readonly commits: number;
  readonly commitLatencyMsLast: number;
  readonly commitLatencyMsMax: number;
  readonly tasks: readonly TaskMetrics[];
  /** The state memory budget: write-back caches and RocksDB leases. */
  readonly stateMemory: ReturnType<MemoryBudget['snapshot']>;
}

const DEFAULTS = {
  commitIntervalMsAtLeastOnce: 30_000,
  commitIntervalMsExactlyOnce: 100,
  inFlightRecordsHighWaterMark: 10_000,
  fetchMaxBytesPerPartition: 1_048_576,
  fetchMaxWaitMs: 500,
  partitionsConcurrentlyMax: 4,
  sessionTimeoutMs: 30_000,
  heartbeatIntervalMs: 3_000,
  transactionTimeoutMs: 60_000,
  stateDir: './state',
  stateMemoryBytes: 64 * 1024 * 1024,
} as const;

/** Changelog topics keep the latest value per key. */
const CHANGELOG_TOPIC_CONFIGS = { 'cleanup.policy': 'compact' } as const;

/** Repartition topics hold data in transit: deleted by retention, never compacted; the written timestamp is kept. */
const REPARTITION_TOPIC_CONFIGS = { 'cleanup.policy': 'delete', 'message.timestamp.type': 'CreateTime' } as const;

/** Kafka's limit on a topic name. */
const TOPIC_NAME_LENGTH_MAX = 249;

/** Creates an app: describe its streams with `stream()`, then `start()`. */
export function app(options: AppOptions): StreamsApp {
  return new StreamsApp(options);
}

/**
 * A stream-processing application: its topology, its group membership, its tasks and commits.
 *
 * The batch cycle of a task (see the README for the why):
 *   fetch a batch (the log does not fetch that partition again before the cycle ends) →
 *   prepare serdes, deserialize → run the operators, one subscription per batch, until complete →
 *   serialize, partition → hand outputs and dead letters to the producer (exactly_once: into the
 *   open transaction) → the batch waits, uncommitted, for its acknowledgement and the next commit.
 * A commit (every commitIntervalMs, when a task crosses its high-water mark, at a rebalance and at
 * close) waits for the acknowledgements, then commits the offsets of the acknowledged batches
 * (exactly_once: sendOffsetsToTransaction + commit, with new outputs held back meanwhile).
 */
export class StreamsApp {
  readonly applicationId: string;
  readonly processingGuarantee: ProcessingGuarantee;
  private readonly topology = new Topology();
  private readonly globalTables = new GlobalTables();
  private readonly log: StreamLog;
  private readonly ownsLog: boolean;
  private readonly scheduler: Scheduler;
  private readonly settings: Required<
    Omit<AppOptions, 'log' | 'scheduler' | 'instanceId' | 'processingGuarantee' | 'applicationId' | 'stateDir' | 'stateStoreFactory' | 'onRestore'>
  >;
  private readonly stateDir: string;
  private readonly stateBudget: MemoryBudget;
  private readonly stateStoreFactory: StateStoreFactory;
  private readonly onRestore: (progress: RestoreProgress) => void;
  /** Stateful processing under way (exactly_once: a commit waits for it, so its flush holds whole batches). */
  private statefulProcessing = 0;
  private statefulIdle: Array<() => void> = [];
  /** The closing of the task states at a revocation; the next assignment waits for it. */
  private revoking: Promise<void> = Promise.resolve();
  private readonly transactionalId: string;
  private readonly stateSubject = new BehaviorSubject<AppState>('CREATED');
  private failure: Error | undefined;

  private consumer: GroupConsumer | undefined;
  private producer: LogProducer | undefined;
  private processor: BatchProcessor | undefined;
  private subTopologyByTopic = new Map<string, SubTopology>();
  private readonly partitionCounts = new Map<string, Promise<number>>();
  /** Active tasks by task id; rebuilt from the registry at every assignment. */
  private tasks = new Map<string, StreamTask>();
  private readonly taskRegistry = new Map<string, StreamTask>();
  /** Bumped at every revocation and assignment: a batch that started in an older generation is not emitted. */
  private generation = 0;
  private readonly handlersUnderWay = new Set<Promise<void>>();
  private committing: Promise<void> | undefined;
  /**
   * Set when the group refused a commit (it rebalanced without this member): nothing commits
   * until the next assignment resets the positions. Under exactly_once the refused commit's
   * transaction is aborted, so committing a later batch's offsets would skip the aborted outputs.
   */
  private commitsSuspended = false;
  /** The abort that suspending started (exactly_once); an assignment waits for it. */
  private suspension: Promise<void> | undefined;
  private commitAgain = false;
  /** exactly_once: set while a commit runs; batches wait for it before emitting. */
  private emitGate: Promise<void> | undefined;
  private cancelCommitTimer: (() => void) | undefined;
  /** Other timers to stop with the commit timer (the idle advance). */
  private readonly stopTimers: Array<() => void> = [];
  private firstAssignment: { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } | undefined;
  private closing: Promise<void> | undefined;
  private cleanup: Promise<void> | undefined;
  private readonly commitStats = { commits: 0, latencyMsLast: 0, latencyMsMax: 0 };

  constructor(options: AppOptions) {
    if (typeof options.applicationId !== 'string' || options.applicationId.length === 0) throw new RangeError('app() needs an applicationId');
    this.applicationId = options.applicationId;
    this.processingGuarantee = options.processingGuarantee ?? 'at_least_once';
    if (this.processingGuarantee !== 'at_least_once' && this.processingGuarantee !== 'exactly_once') {
      throw new RangeError(`processingGuarantee must be 'at_least_once' or 'exactly_once', not ${String(this.processingGuarantee)}`);
    }
    const exactlyOnce = this.processingGuarantee === 'exactly_once';
    const highWaterMark = options.inFlightRecordsHighWaterMark ?? DEFAULTS.inFlightRecordsHighWaterMark;
    this.settings = {
      commitIntervalMs: options.commitIntervalMs ?? (exactlyOnce ? DEFAULTS.commitIntervalMsExactlyOnce : DEFAULTS.commitIntervalMsAtLeastOnce),
      deserializationErrors: options.deserializationErrors ?? 'fail',
      processingErrors: options.processingErrors ?? 'fail',
      inFlightRecordsHighWaterMark: highWaterMark,
      inFlightRecordsLowWaterMark: options.inFlightRecordsLowWaterMark ?? Math.floor(highWaterMark / 2),
      fetchMaxBytesPerPartition: options.fetchMaxBytesPerPartition ?? DEFAULTS.fetchMaxBytesPerPartition,
      fetchMaxWaitMs: options.fetchMaxWaitMs ?? DEFAULTS.fetchMaxWaitMs,
      partitionsConcurrentlyMax: options.partitionsConcurrentlyMax ?? DEFAULTS.partitionsConcurrentlyMax,
      sessionTimeoutMs: options.sessionTimeoutMs ?? DEFAULTS.sessionTimeoutMs,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs,
      fromBeginning: options.fromBeginning ?? true,
      transactionTimeoutMs: options.transactionTimeoutMs ?? DEFAULTS.transactionTimeoutMs,
      shutdownOnSignals: options.shutdownOnSignals ?? true,
      streamTimeIdleAdvanceMs: options.streamTimeIdleAdvanceMs ?? 0,
      stateMemoryBytes: options.stateMemoryBytes ?? DEFAULTS.stateMemoryBytes,
    };
    validateErrorPolicy(this.settings.deserializationErrors, 'deserializationErrors');
    validateErrorPolicy(this.settings.processingErrors, 'processingErrors');
    for (const [name, value] of Object.entries(this.settings)) {
      if (typeof value === 'number' && !(Number.isInteger(value) && value >= 0)) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
    }
    if (this.settings.commitIntervalMs < 1) throw new RangeError('commitIntervalMs must be at least 1');
    if (this.settings.inFlightRecordsHighWaterMark < 1) throw new RangeError('inFlightRecordsHighWaterMark must be at least 1');
    if (this.settings.inFlightRecordsLowWaterMark >= this.settings.inFlightRecordsHighWaterMark) {
      throw new RangeError('inFlightRecordsLowWaterMark must be below inFlightRecordsHighWaterMark');
    }
    if (this.settings.partitionsConcurrentlyMax < 1) throw new RangeError('partitionsConcurrentlyMax must be at least 1');
    if (this.settings.stateMemoryBytes < 1) throw new RangeError('stateMemoryBytes must be at least 1');
    this.stateDir = options.stateDir ?? DEFAULTS.stateDir;
    if (typeof this.stateDir !== 'string' || this.stateDir.length === 0) throw new RangeError('stateDir must be a directory path');
    this.stateBudget = new MemoryBudget({ totalBytes: this.settings.stateMemoryBytes });
    this.stateStoreFactory = options.stateStoreFactory ?? ((store) => new RocksDbStore(store));
    this.onRestore = options.onRestore ?? (() => undefined);
    this.transactionalId = `${this.applicationId}-${options.instanceId ?? randomUUID()}`;
    this.scheduler = options.scheduler ?? systemScheduler;
    const { log, owned } = openLog(options.log, this.applicationId);
    this.log = log;
    this.ownsLog = owned;
  }

  /** A stream of the records of one topic, several, or every topic matching a pattern (resolved at start). */
  stream<K, V>(topics: string | RegExp | ReadonlyArray<string | RegExp>, options: StreamOptions<K, V>): KStream<K, V> {
    const list = typeof topics === 'string' || topics instanceof RegExp ? [topics] : [...topics];
    if (list.length === 0) throw new RangeError('stream() needs at least one topic or pattern');
    for (const topic of list) if (typeof topic === 'string' && topic.length === 0) throw new RangeError('a topic name cannot be empty');
    const nodeId = this.topology.addSource({
      topics: list,
      keySerde: options.key as Serde<unknown>,
      valueSerde: options.value as Serde<unknown>,
      timestampExtractor: options.timestamp as ((record: AnyRecord) => number) | undefined,
    });
    return new KStream<K, V>(this.topology, nodeId);
  }

  /**
   * A table read from a topic: the latest value per key (a null value deletes the key),
   * materialised in the store `name` (default `<topic>-table`) with its own changelog topic. Each
   * update is emitted downstream as it is applied (see the README, "Stateful processing").
   */
  table<K, V>(topic: string, options: TableOptions<K, V>): KTable<K, V> {
    if (typeof topic !== 'string' || topic.length === 0) throw new RangeError('table() needs a topic name');
    const name = options.name ?? `${topic}-table`;
    const source = this.stream(topic, { key: options.key, value: options.value });
    const nodeId = this.topology.addStatefulNode(
      source.nodeId,
      { name, keySerde: options.key as Serde<unknown>, valueSerde: options.value as Serde<unknown> },
      ([input], context) => (input as Observable<AnyRecord>).pipe(latestByKey(context, name)),
    );
    return new KTable<K, V>(this.topology, nodeId, name);
  }

  /**
   * Interactive queries on a store of this app (count/reduce/aggregate/table names): reads the
   * stores of the tasks this instance runs now, through their caches (uncommitted writes included).
   * Local only: keys in tasks of other instances are not found here.
   */
  globalTable<K, V>(topic: string, options: TableOptions<K, V>): GlobalKTable<K, V> {
    if (typeof topic !== 'string' || topic.length === 0) throw new RangeError('globalTable() needs a topic name');
    const name = options.name ?? `${topic}-global`;
    return new GlobalKTable(name, topic, this.globalTables.define({ topic, name, keySerde: options.key, valueSerde: options.value }));
  }

  store<K, V>(name: string): ReadOnlyKeyValueStore<K, V> {
    if (!this.topology.stores.some((spec) => spec.name === name)) throw new RangeError(`the app has no store named "${name}"`);
    const instances = () => [...this.tasks.values()].flatMap((task) => {
      const store = task.state?.queryable(name);
      return store === undefined ? [] : [store];
    });
    const range = async function* (from?: K, to?: K): AsyncIterable<KeyValue<K, V>> {
      for (const store of instances()) yield* store.range(from, to) as AsyncIterable<KeyValue<K, V>>;
    };
    return {
      get: async (key) => {
        for (const store of instances()) {
          const value = await store.getAsync(key);
          if (value !== null) return value as V;
        }
        return undefined;
      },
      range,
      all: () => range(),
    };
  }

  get state(): AppState {
    return this.stateSubject.value;
  }

  /** The state now and every change after, until NOT_RUNNING or ERROR (then it completes). */
  get state$(): Observable<AppState> {
    return this.stateSubject.asObservable();
  }

  /** Why the app is in ERROR. */
  get error(): Error | undefined {
    return this.failure;
  }

  metrics(): AppMetrics {
    const now = this.scheduler.now();
    return {
      state: this.state,
      commits: this.commitStats.commits,
      commitLatencyMsLast: this.commitStats.latencyMsLast,
      commitLatencyMsMax: this.commitStats.latencyMsMax,
      tasks: [...this.tasks.values()].map((task) => task.metrics(now)).sort((a, b) => a.taskId.localeCompare(b.taskId)),
      stateMemory: this.stateBudget.snapshot(),
    };
  }

  /** The sub-topologies and their nodes (repartition topics under their full names). */
  describe(): TopologyDescription {
    return this.topology.describe(this.applicationId);
  }

  /** Joins the group and resolves once the first assignment is in (state RUNNING). */
  async start(): Promise<void> {
    if (this.state !== 'CREATED') throw new Error(`start() is for a CREATED app; this one is ${this.state}`);
    if (this.topology.sources.length === 0) throw new Error('the app has no streams: call app.stream() before start()');
    this.topology.freeze();
    this.transition('REBALANCING');
    if (this.settings.shutdownOnSignals) {
      // Deregistered once the app is closed or failed: the state stream completes then.
      const deregister = processShutdownSignals.register(this);
      this.stateSubject.subscribe({ complete: deregister });
    }
    let resolveFirst!: () => void;
    let rejectFirst!: (error: Error) => void;
    const promise = new Promise<void>((resolve, reject) => {
      resolveFirst = resolve;
      rejectFirst = reject;
    });
    this.firstAssignment = { promise, resolve: resolveFirst, reject: rejectFirst };
    try {
      await this.log.connect();
      const topicsBySource = new Map<number, string[]>();
      // A pattern never picks up the app's own repartition topics: only their readers read them.
      const internalTopics = new Set(this.topology.repartitionTopics.map((topic) => repartitionTopicName(this.applicationId, topic.name)));
      for (const source of this.topology.sources) {
        const topics = new Set<string>();
        for (const entry of source.topics) {
          if (typeof entry === 'string') topics.add(entry);
          else if (isRepartitionTopic(entry)) topics.add(repartitionTopicName(this.applicationId, entry.name));
          else for (const topic of await this.log.topicsMatching(entry)) if (!internalTopics.has(topic)) topics.add(topic);
        }
        if (topics.size === 0) throw new Error(`no topic matches ${source.topics.map(String).join(', ')}`);
        topicsBySource.set(source.sourceId, [...topics]);
      }
      const subTopologies = this.topology.subTopologies(topicsBySource);
      for (const subTopology of subTopologies) for (const topic of subTopology.topics) this.subTopologyByTopic.set(topic, subTopology);
      await this.createRepartitionTopics(subTopologies);
      await checkCopartitioning(this.topology, topicsBySource, (topic) => this.partitionCount(topic));
      await this.prepareStateStores(subTopologies);
      // Global tables are read whole before any task runs (so before RUNNING), then kept up to date.
      await this.globalTables.start({
        log: this.log,
        scheduler: this.scheduler,
        directory: join(this.stateDir, this.applicationId, 'global'),
        storeFactory: (name, path) => this.stateStoreFactory({ name, path, budget: this.stateBudget }),
        onError: (error) => this.fail(error),
      });
      // Fail early on a missing input topic rather than wait for an assignment that never comes.
      for (const topic of this.subTopologyByTopic.keys()) await this.partitionCount(topic);
      this.processor = new BatchProcessor({
        applicationId: this.applicationId,
        topology: this.topology,
        deserializationErrors: this.settings.deserializationErrors,
        processingErrors: this.settings.processingErrors,
        partitionCount: (topic) => this.partitionCount(topic),
      });
      const exactlyOnce = this.processingGuarantee === 'exactly_once';
      this.producer = await this.log.createProducer(
        exactlyOnce ? { transactionalId: this.transactionalId, transactionTimeoutMs: this.settings.transactionTimeoutMs } : {},
      );
      if (exactlyOnce) await this.producer.beginTransaction();
      this.consumer = this.log.createConsumer({
        groupId: this.applicationId,
        topics: [...this.subTopologyByTopic.keys()].sort(),
        isolationLevel: 'read_committed',
        fetchMaxBytesPerPartition: this.settings.fetchMaxBytesPerPartition,
        fetchMaxWaitMs: this.settings.fetchMaxWaitMs,
        partitionsConcurrentlyMax: this.settings.partitionsConcurrentlyMax,
        sessionTimeoutMs: this.settings.sessionTimeoutMs,
        heartbeatIntervalMs: this.settings.heartbeatIntervalMs,
        fromBeginning: this.settings.fromBeginning,
      });
      await this.consumer.run({
        onAssigned: (partitions) => this.onAssigned(partitions),
        onRevoked: () => this.onRevoked(),
        onBatch: (batch) => this.onBatch(batch),
        onCrash: (error) => this.fail(error),
      });
      if (this.settings.streamTimeIdleAdvanceMs > 0) {
        const stopIdleAdvance = startIdleStreamTimeAdvance(this.settings.streamTimeIdleAdvanceMs, this.scheduler, () => this.tasks.values(), (batch) => void this.onBatch(batch));
        this.stopTimers.push(stopIdleAdvance);
      }
      this.cancelCommitTimer = this.scheduler.every(this.settings.commitIntervalMs, () => {
        // A failed commit has already moved the app to ERROR.
        this.commit().catch(() => undefined);
      });
    } catch (error) {
      this.fail(asError(error));
    }
    await promise;
  }

  /** Graceful stop: finish the batches under way, commit, leave the group, close the clients. */
  close(): Promise<void> {
    if (this.state === 'ERROR' || this.state === 'NOT_RUNNING') return this.cleanup ?? Promise.resolve();
    this.closing ??= (async () => {
      const wasStarted = this.state !== 'CREATED';
      this.transition('PENDING_SHUTDOWN');
      this.firstAssignment?.reject(new Error('the app was closed before it was assigned any task'));
      this.cancelCommitTimer?.();
      for (const stop of this.stopTimers.splice(0)) stop();
      let committed = true;
      try {
        await Promise.allSettled([...this.handlersUnderWay]);
        if (wasStarted && this.failure === undefined) await this.commit();
      } catch (error) {
        committed = false;
        // Refused by a rebalance: the records go to the partitions' next owner; not a failure.
        if (!(error instanceof GroupRebalancedError)) this.failure ??= asError(error);
      }
      await this.revoking;
      // A clean close checkpoints the stores: the next start restores only what came after.
      await this.closeTaskStates(committed && this.failure === undefined).catch((error: unknown) => {
        this.failure ??= asError(error);
      });
      await this.releaseClients();
      if (this.failure !== undefined) this.transition('ERROR');
      else this.transition('NOT_RUNNING');
      this.stateSubject.complete();
    })();
    return this.closing;
  }

  private async releaseClients(): Promise<void> {
    this.cleanup ??= (async () => {
      await this.consumer?.close().catch(() => undefined);
      await this.globalTables.close();
      if (this.producer?.inTransaction() === true) await this.producer.abortTransaction().catch(() => undefined);
      await this.producer?.close().catch(() => undefined);
      if (this.ownsLog) await this.log.close().catch(() => undefined);
    })();
    return this.cleanup;
  }

  /** Moves to ERROR (once) and releases the clients without committing. */
  private fail(error: Error): void {
    if (this.failure !== undefined || this.state === 'NOT_RUNNING') return;
    this.failure = error;
    this.cancelCommitTimer?.();
    for (const stop of this.stopTimers.splice(0)) stop();
    this.firstAssignment?.reject(error);
    if (this.state !== 'PENDING_SHUTDOWN') {
      this.transition('ERROR');
      // No checkpoint: under exactly_once the next start wipes the local state and restores it.
      void this.closeTaskStates(false)
        .catch(() => undefined)
        .then(() => this.releaseClients())
        .finally(() => this.stateSubject.complete());
    }
  }

  private transition(to: AppState): void {
    const from = this.state;
    if (from === to && to !== 'REBALANCING') return;
    if (!canTransition(from, to)) return;
    this.stateSubject.next(to);
  }

  /**
   * Creates the repartition topics with the partitions asked for or derived from the topics
   * upstream, and refuses one that exists with another count: keys would no longer meet in one task.
   */
  private async createRepartitionTopics(subTopologies: readonly SubTopology[]): Promise<void> {
    if (this.topology.repartitionTopics.length === 0) return;
    const names = new Set(this.topology.repartitionTopics.map((topic) => repartitionTopicName(this.applicationId, topic.name)));
    const partitionsOf = new Map<string, number>();
    for (const subTopology of subTopologies) {
      for (const topic of subTopology.topics) if (!names.has(topic)) partitionsOf.set(topic, await this.partitionCount(topic));
    }
    const requested = this.topology.repartitionPartitions(subTopologies, this.applicationId, partitionsOf);
    const topics = [...requested].map(([topic, partitions]) => ({
      name: repartitionTopicName(this.applicationId, topic.name),
      partitions,
      configs: REPARTITION_TOPIC_CONFIGS,
    }));
    for (const { name } of topics) {
      if (name.length > TOPIC_NAME_LENGTH_MAX) throw new Error(`the repartition topic name "${name}" is longer than ${TOPIC_NAME_LENGTH_MAX} characters: use a shorter name`);
    }
    await this.log.createTopics(topics);
    for (const { name, partitions } of topics) {
      const existing = await this.partitionCount(name);
      if (existing !== partitions) {
        throw new Error(
          `the repartition topic "${name}" exists with ${existing} partitions, but the topology asks for ${partitions}: ` +
            `delete it once the app has drained it, or ask for repartition({ partitions: ${existing} })`,
        );
      }
    }
  }

  /**
   * Refuses a topology that would orphan state, then creates each store's changelog topic
   * (compacted, with the partition count of its sub-topology's input) and refuses one that exists
   * with another count: partition n of the changelog belongs to task n.
   */
  private async prepareStateStores(subTopologies: readonly SubTopology[]): Promise<void> {
    const stores = this.topology.stores;
    await checkStoresAndRecord({
      appDirectory: join(this.stateDir, this.applicationId),
      applicationId: this.applicationId,
      storeNames: stores.map((store) => store.name),
      changelogTopic: (store) => changelogTopicName(this.applicationId, store),
      topicExists: (topic) => this.log.partitionCount(topic).then(
        () => true,
        () => false,
      ),
    });
    const topics: Array<{ name: string; partitions: number; configs: typeof CHANGELOG_TOPIC_CONFIGS }> = [];
    for (const subTopology of subTopologies) {
      if (subTopology.stores.length === 0) continue;
      let partitions = 0;
      for (const topic of subTopology.topics) partitions = Math.max(partitions, await this.partitionCount(topic));
      for (const store of subTopology.stores) topics.push({ name: changelogTopicName(this.applicationId, store.name), partitions, configs: CHANGELOG_TOPIC_CONFIGS });
    }
    for (const { name } of topics) {
      if (name.length > TOPIC_NAME_LENGTH_MAX) throw new Error(`the changelog topic name "${name}" is longer than ${TOPIC_NAME_LENGTH_MAX} characters: use a shorter store name`);
    }
    await this.log.createTopics(topics);
    for (const { name, partitions } of topics) {
      const existing = await this.log.partitionCount(name);
      if (existing !== partitions) {
        throw new Error(
          `the changelog topic "${name}" has ${existing} partitions, but its store's input has ${partitions}: ` +
            `the input's partition count changed; reset the app's state (delete the topic and the state directory) to rebuild it`,
        );
      }
    }
  }

  /** Opens and restores the stores of a task (once per assignment); batches wait for it. */
  private openTaskState(task: StreamTask): void {
    if (task.subTopology.stores.length === 0) return;
    const state = new TaskState({
      applicationId: this.applicationId,
      taskId: task.taskId,
      partition: task.partition,
      directory: join(this.stateDir, this.applicationId, task.taskId),
      specs: task.subTopology.stores,
      budget: this.stateBudget,
      storeFactory: this.stateStoreFactory,
      exactlyOnce: this.processingGuarantee === 'exactly_once',
      onCommitNeeded: () => {
        this.commit().catch(() => undefined);
      },
      onRestore: (progress) => this.onRestore(progress),
    });
    task.state = state;
    task.stateReady = state.open(this.log).then(() => task.restoredRecordsAdd(state.restoredRecords));
    // A failed restore fails the app; batches waiting on it see the failure.
    task.stateReady.catch((error: unknown) => this.fail(asError(error)));
  }

  /**
   * Closes the stores of every task (at a revocation, at close, on failure). `clean`: everything
   * was committed, so a checkpoint may name the changelogs' ends.
   */
  private async closeTaskStates(clean: boolean): Promise<void> {
    const closing: Array<Promise<void>> = [];
    for (const task of this.taskRegistry.values()) {
      const state = task.state;
      if (state === undefined) continue;
      task.state = undefined;
      const checkpoint = clean && task.pending().length === 0;
      closing.push(task.stateReady.catch(() => undefined).then(() => state.close(this.log, checkpoint)));
    }
    const results = await Promise.allSettled(closing);
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) throw asError(failed.reason);
  }

  private partitionCount(topic: string): Promise<number> {
    let count = this.partitionCounts.get(topic);
    if (count === undefined) {
      count = this.log.partitionCount(topic);
      this.partitionCounts.set(topic, count);
      count.catch(() => this.partitionCounts.delete(topic));
    }
    return count;
  }

  private async onAssigned(partitions: readonly TopicPartition[]): Promise<void> {
    this.generation += 1;
    await this.revoking;
    await this.suspension;
    // Stores still open (an assignment without a revocation first): close them; they reopen below from their checkpoints.
    await this.closeTaskStates(this.failure === undefined && [...this.tasks.values()].every((task) => task.pending().length === 0));
    if (this.processingGuarantee === 'exactly_once' && this.producer !== undefined) {
      // Outputs of batches from before the rebalance that no commit covered: positions go back
      // to the committed offsets, so those outputs must go too.
      const uncommitted = [...this.tasks.values()].some((task) => task.pending().length > 0);
      if (uncommitted) {
        await this.producer.abortTransaction();
        await this.producer.beginTransaction();
      }
    }
    const tasks = new Map<string, StreamTask>();
    for (const { topic, partition } of partitions) {
      const subTopology = this.subTopologyByTopic.get(topic);
      if (subTopology === undefined) continue;
      const taskId = `${subTopology.subTopologyId}_${partition}`;
      let task = this.taskRegistry.get(taskId);
      if (task === undefined) {
        task = new StreamTask(subTopology, partition, this.scheduler.now());
        this.taskRegistry.set(taskId, task);
      }
      task.reset();
      tasks.set(taskId, task);
    }
    this.tasks = tasks;
    // Positions are the committed offsets again: commits may resume.
    this.commitsSuspended = false;
    this.suspension = undefined;
    for (const task of tasks.values()) this.openTaskState(task);
    // Restores run before the app reports RUNNING (and, where the log awaits this callback, before fetching).
    await Promise.allSettled([...tasks.values()].map((task) => task.stateReady));
    if (this.failure !== undefined) return;
    // Pauses from before the rebalance belong to reset tasks: every assigned partition fetches again.
    if (partitions.length > 0) this.consumer?.resume(partitions);
    this.transition('RUNNING');
    this.firstAssignment?.resolve();
  }

  private onRevoked(): Promise<void> {
    this.generation += 1;
    this.transition('REBALANCING');
    // Set at once: an assignment that comes before this settles (kafkajs does not await it) waits for it.
    this.revoking = (async () => {
      let committed = true;
      try {
        if (this.processingGuarantee === 'exactly_once' && !this.log.awaitsRevocation) {
          // The log rejoins without waiting for this: a transaction committed now could land after
          // the partitions' next owner has read the offsets, and both would write the same
          // outputs. Abort instead; the records are processed again after the rebalance.
          await this.committing?.catch(() => undefined);
          await this.suspendCommits();
          committed = false;
        } else {
          await this.commit();
        }
      } catch {
        // A commit refused at a rebalance (an old generation) means the records are processed again.
        committed = false;
      }
      // Eager rebalancing: every task is given up, its stores closed (with a checkpoint when the
      // commit went through); a task assigned again reopens them and restores only the tail.
      await Promise.allSettled([...this.handlersUnderWay]);
      await this.closeTaskStates(committed && this.failure === undefined);
    })().catch((error: unknown) => this.fail(asError(error)));
    return this.revoking;
  }

  private onBatch(batch: FetchedBatch): Promise<void> {
    const handled = this.handleBatch(batch).catch((error: unknown) => this.fail(asError(error)));
    this.handlersUnderWay.add(handled);
    void handled.finally(() => this.handlersUnderWay.delete(handled));
    return handled;
  }

  private async handleBatch(batch: FetchedBatch): Promise<void> {
    if (this.failure !== undefined || this.closing !== undefined) return;
    const subTopology = this.subTopologyByTopic.get(batch.topic);
    const task = subTopology === undefined ? undefined : this.tasks.get(`${subTopology.subTopologyId}_${batch.partition}`);
    if (task === undefined || this.processor === undefined || this.producer === undefined) return;
    const generation = this.generation;
    const taskEpoch = task.epoch;
    const recordCount = batch.records.length;
    const lastOffset = batch.records.at(-1)?.offset ?? batch.nextOffset - 1n;
    task.fetched(recordCount, Math.max(0, Number(batch.highWatermark - lastOffset - 1n)), batch.topic);
    const stateful = task.subTopology.stores.length > 0;
    if (stateful) {
      await task.stateReady;
      // exactly_once: a commit's flush must hold the state writes of exactly the batches whose
      // offsets it commits, so stateful processing does not overlap a commit (see commitOnce).
      if (this.processingGuarantee === 'exactly_once') while (this.emitGate !== undefined) await this.emitGate;
      this.statefulProcessing += 1;
    }
    try {
      if (!(await this.processAndEmit(task, batch, generation, taskEpoch, recordCount))) return;
    } finally {
      if (stateful) {
        this.statefulProcessing -= 1;
        if (this.statefulProcessing === 0) for (const resolve of this.statefulIdle.splice(0)) resolve();
      }
    }
    if (task.inFlightRecords > this.settings.inFlightRecordsHighWaterMark) {
      // Above the high-water mark: commit now, and hold this partition (the log fetches it again
      // only after this handler) until the commit is done. Should the task still be above the mark
      // (acknowledgements outstanding), its partitions stay paused until a commit brings it below the low one.
      await this.commit().catch(() => undefined);
      if (task.inFlightRecords > this.settings.inFlightRecordsHighWaterMark && !task.paused && this.tasks.get(task.taskId) === task) {
        task.paused = true;
        this.consumer?.pause(task.inputPartitions());
      }
    }
  }

  /** Runs the batch and hands its outputs to the producer; false when the batch was dropped (a rebalance, a failure). */
  private async processAndEmit(task: StreamTask, batch: FetchedBatch, generation: number, taskEpoch: number, recordCount: number): Promise<boolean> {
    const state = task.state;
    let processed: Awaited<ReturnType<BatchProcessor['process']>>;
    try {
      processed = await this.processor!.process(task, batch);
    } catch (error) {
      // The task's stores were closed under the batch (a revocation): the batch is dropped, not a failure.
      if (state !== undefined && task.state !== state && generation !== this.generation) {
        task.dropped(recordCount, taskEpoch);
        return false;
      }
      throw error;
    }
    if (task.subTopology.stores.length === 0) while (this.emitGate !== undefined) await this.emitGate;
    if (generation !== this.generation || this.failure !== undefined || this.tasks.get(task.taskId) !== task) {
      task.dropped(recordCount, taskEpoch);
      return false;
    }
    // From here to addUncommitted nothing awaits: a commit sees the batch whole or not at all.
    const acknowledged = this.producer!.send(processed.records);
    const uncommitted: UncommittedBatch = {
      topic: batch.topic,
      partition: batch.partition,
      nextOffset: batch.nextOffset,
      recordCount,
      acknowledged,
      acked: false,
    };
    acknowledged.then(
      () => {
        uncommitted.acked = true;
      },
      (error: unknown) => this.fail(asError(error)),
    );
    task.addUncommitted(uncommitted);
    task.produced(processed.outputCount, processed.skipped, processed.deadLettered);
    return true;
  }

  /**
   * Commits what is done. Concurrent calls share one commit; a call during a commit asks for one
   * more right after it (its batches may have missed the snapshot).
   */
  private commit(): Promise<void> {
    if (this.committing !== undefined) {
      this.commitAgain = true;
      return this.committing;
    }
    const run = async (): Promise<void> => {
      do {
        this.commitAgain = false;
        await this.commitOnce();
      } while (this.commitAgain && this.failure === undefined);
    };
    this.committing = run()
      .catch(async (error: unknown) => {
        if (error instanceof GroupRebalancedError && this.failure === undefined) await this.suspendCommits();
        else this.fail(asError(error));
        throw error;
      })
      .finally(() => {
        this.committing = undefined;
      });
    return this.committing;
  }

  /**
   * After a refused commit: batches under way are dropped (a new generation), and under
   * exactly_once the open transaction (the refused commit's outputs and offsets) is aborted.
   * The records are processed again after the rebalance, here or by the partitions' new owner.
   */
  private suspendCommits(): Promise<void> {
    if (this.commitsSuspended) return this.suspension ?? Promise.resolve();
    this.commitsSuspended = true;
    this.generation += 1;
    const producer = this.producer;
    if (this.processingGuarantee !== 'exactly_once' || producer === undefined) return Promise.resolve();
    this.suspension = (async () => {
      try {
        if (producer.inTransaction()) await producer.abortTransaction();
        await producer.beginTransaction();
      } catch (error) {
        this.fail(asError(error));
      }
    })();
    return this.suspension;
  }

  private async commitOnce(): Promise<void> {
    if (this.failure !== undefined || this.producer === undefined || this.consumer === undefined) return;
    if (this.commitsSuspended) throw new GroupRebalancedError(`group "${this.applicationId}" refused a commit since the last assignment; commits resume after the next one`);
    const startedMs = this.scheduler.now();
    const exactlyOnce = this.processingGuarantee === 'exactly_once';
    let openGate: (() => void) | undefined;
    if (exactlyOnce) this.emitGate = new Promise<void>((resolve) => (openGate = resolve));
    try {
      // exactly_once: stateful batches that started before the gate finish first (none starts after).
      if (exactlyOnce && this.statefulProcessing > 0) await new Promise<void>((resolve) => this.statefulIdle.push(resolve));
      const tasks = [...this.tasks.values()];
      const snapshot = new Map<StreamTask, UncommittedBatch[]>(tasks.map((task) => [task, [...task.pending()]]));
      const all = [...snapshot.values()].flat();
      if (all.length === 0) return;
      // Outputs first: an offset is committed only once every output derived from it is acknowledged.
      await Promise.all(all.map((batch) => batch.acknowledged));
      // Then the state: each cache's dirty entries to its store and, as changelog records, to the
      // log (exactly_once: into the transaction), acknowledged before the input offsets commit.
      const changelog: OutgoingRecord[] = [];
      // Changelog records carry the task's stream time (the log needs a wall-clock time; the scheduler's is monotonic).
      for (const task of tasks) if (task.state !== undefined) changelog.push(...(await task.state.flush(Math.max(0, task.streamTimeMs))));
      if (changelog.length > 0) await this.producer.send(changelog);
      const offsets = new Map<string, OffsetToCommit>();
      for (const batch of all) {
        const key = topicPartitionKey(batch);
        const previous = offsets.get(key);
        if (previous === undefined || previous.offset < batch.nextOffset) {
          offsets.set(key, { topic: batch.topic, partition: batch.partition, offset: batch.nextOffset });
        }
      }
      const list = [...offsets.values()];
      if (exactlyOnce) {
        await this.producer.sendOffsetsToTransaction(list, this.consumer.groupMetadata());
        await this.producer.commitTransaction();
        await this.producer.beginTransaction();
      } else {
        await this.consumer.commitOffsets(list);
      }
      const latencyMs = this.scheduler.now() - startedMs;
      this.commitStats.commits += 1;
      this.commitStats.latencyMsLast = latencyMs;
      this.commitStats.latencyMsMax = Math.max(this.commitStats.latencyMsMax, latencyMs);
      for (const [task, batches] of snapshot) {
        task.committed(new Set(batches), latencyMs);
        if (task.paused && task.inFlightRecords <= this.settings.inFlightRecordsLowWaterMark && this.tasks.get(task.taskId) === task) {
          task.paused = false;
          this.consumer.resume(task.inputPartitions());
        }
      }
    } finally {
      if (openGate !== undefined) {
        this.emitGate = undefined;
        openGate();
      }
    }
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
