import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import pMap from 'p-map';
import type { CleanStats, LogCleanerOptions } from './cleaner.js';
import { LogCleaner } from './cleaner.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { DirectoryLock } from './directory-lock.js';
import { InvalidPartitionError, InvalidTopicError, LogClosedError } from './errors.js';
import type { LogConfig } from './log-config.js';
import { defaultLogConfig } from './log-config.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import { PartitionLog } from './partition-log.js';
import type { Scheduler } from './scheduler.js';
import { TimerScheduler } from './scheduler.js';

/*
 * The LogManager owns one data directory: `<dataDir>/<topic>-<partition>/` per partition log,
 * Kafka's layout. It locks the directory, opens (and so recovers) every partition log in it,
 * creates and deletes logs, and runs retention, the cleaner and flush.ms checks in the
 * background through a Scheduler. Operations on one log
 * (maintenance, deletion, close) are serialized; different logs proceed independently.
 */

export interface LogManagerOptions {
  dataDir: string;
  /** Config of logs created without one and of logs found on disk with no `configForTopic` entry. */
  defaultConfig?: LogConfig;
  /**
   * Topic configs live with the broker's metadata, not in the partition directory: the broker
   * passes them here so that logs found on disk open with their real policy (a compacted topic
   * opened with the default 'delete' policy would lose data at the first retention check).
   */
  configForTopic?: (topic: string) => LogConfig | undefined;
  clock?: Clock;
  logger?: Logger;
  scheduler?: Scheduler;
  /** Kafka's log.retention.check.interval.ms. */
  retentionCheckIntervalMs?: number;
  /** Kafka's log.cleaner.backoff.ms: how often the cleaner looks for a log to clean. */
  cleanerIntervalMs?: number;
  /** How often flush.ms is checked for logs that receive no appends (appends check it themselves). */
  flushCheckIntervalMs?: number;
  /** Logs opened (and recovered) at the same time at startup. */
  openConcurrency?: number;
  cleaner?: Pick<LogCleanerOptions, 'offsetMapEntriesMax'>;
  /** producer.id.expiration.ms, given to every partition log (default Kafka's 1 day). */
  producerIdExpirationMs?: number;
  /** producer.id.expiration.check.interval.ms: how often idle producers are forgotten. */
  producerIdExpirationCheckIntervalMs?: number;
}

export const RETENTION_CHECK_INTERVAL_MS_DEFAULT = 5 * 60 * 1000;
export const CLEANER_INTERVAL_MS_DEFAULT = 15 * 1000;
export const OPEN_CONCURRENCY_DEFAULT = 8;
export const FLUSH_CHECK_INTERVAL_MS_DEFAULT = 1000;
/** Kafka's producer.id.expiration.check.interval.ms default: 10 minutes. */
export const PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS_DEFAULT = 10 * 60 * 1000;

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface ManagedLog extends TopicPartition {
  log: PartitionLog;
}

export interface MaintenanceFailure extends TopicPartition {
  task: 'retention' | 'cleaner';
  error: unknown;
}

export interface MaintenanceResult {
  /** Segments deleted by retention, over all logs. */
  segmentsDeleted: number;
  /** One entry per log the cleaner cleaned. */
  cleaned: Array<TopicPartition & { stats: CleanStats }>;
  /** Logs whose maintenance failed (also logged); the others were still maintained. */
  failures: MaintenanceFailure[];
}

const TOPIC_NAME_LENGTH_MAX = 249;
const LEGAL_TOPIC_NAME = /^[a-zA-Z0-9._-]+$/;
const PARTITION_DIGITS = /^(0|[1-9]\d{0,9})$/;
const INT32_MAX = 0x7fffffff;
const DELETE_SUFFIX = '-delete';
/** Longest file name on common filesystems: a deletion name is truncated to fit it, as Kafka does. */
const FILE_NAME_BYTES_MAX = 255;

/** Kafka's topic name rules (Topic.validate). Throws InvalidTopicError. */
export function validateTopicName(topic: string): void {
  if (topic.length === 0) throw new InvalidTopicError(topic, 'it is empty');
  if (topic === '.' || topic === '..') throw new InvalidTopicError(topic, 'it cannot be "." or ".."');
  if (topic.length > TOPIC_NAME_LENGTH_MAX) {
    throw new InvalidTopicError(topic, `it is ${topic.length} characters long, the maximum is ${TOPIC_NAME_LENGTH_MAX}`);
  }
  if (!LEGAL_TOPIC_NAME.test(topic)) {
    throw new InvalidTopicError(topic, 'it may contain only ASCII letters, digits, ".", "_" and "-"');
  }
}

export function validatePartition(partition: number): void {
  if (!Number.isInteger(partition) || partition < 0 || partition > INT32_MAX) throw new InvalidPartitionError(partition);
}

export function topicPartitionDirName(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

/**
 * `<topic>-<partition>` split at the LAST dash (topic names may contain dashes); undefined for
 * anything that is not a valid topic and partition.
 */
export function parseTopicPartitionDirName(name: string): TopicPartition | undefined {
  const dash = name.lastIndexOf('-');
  if (dash <= 0) return undefined;
  const topic = name.slice(0, dash);
  const partitionText = name.slice(dash + 1);
  if (!PARTITION_DIGITS.test(partitionText)) return undefined;
  const partition = Number(partitionText);
  if (partition > INT32_MAX) return undefined;
  try {
    validateTopicName(topic);
  } catch {
    return undefined;
  }
  return { topic, partition };
}

function keyOf(topic: string, partition: number): string {
  return topicPartitionDirName(topic, partition);
}

/** Runs operations on one key one after another (a promise chain per key). */
class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(operation, operation);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

export class LogManager {
  private readonly logsByKey = new Map<string, ManagedLog>();
  private readonly creating = new Map<string, Promise<PartitionLog>>();
  private readonly queue = new KeyedQueue();
  private readonly deletions = new Set<Promise<void>>();
  private readonly cleaner: LogCleaner;
  private closed = false;

  private constructor(
    readonly dataDir: string,
    private readonly lock: DirectoryLock,
    private readonly defaultConfig: LogConfig,
    private readonly configForTopic: (topic: string) => LogConfig | undefined,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly scheduler: Scheduler,
    cleanerOptions: Pick<LogCleanerOptions, 'offsetMapEntriesMax'>,
    private readonly producerIdExpirationMs: number | undefined,
  ) {
    this.cleaner = new LogCleaner({ ...cleanerOptions, clock, logger });
  }

  /**
   * Locks `dataDir` (creating it if absent), removes deletions a crash left behind, opens every
   * partition log in it (recovering each), and schedules retention and cleaning.
   */
  static async open(options: LogManagerOptions): Promise<LogManager> {
    const logger = options.logger ?? silentLogger;
    const dataDir = path.resolve(options.dataDir);
    const lock = await DirectoryLock.acquire(dataDir, { logger });
    const defaultConfig = options.defaultConfig ?? defaultLogConfig;
    const manager = new LogManager(
      dataDir,
      lock,
      defaultConfig,
      options.configForTopic ?? (() => undefined),
      options.clock ?? systemClock,
      logger,
      options.scheduler ?? new TimerScheduler(logger),
      options.cleaner ?? {},
      options.producerIdExpirationMs,
    );
    try {
      await manager.loadLogs(options.openConcurrency ?? OPEN_CONCURRENCY_DEFAULT);
    } catch (error) {
      // The logs that did open are closed; the error that matters is the one that stopped open.
      await manager.closeLogs().catch(() => undefined);
      await lock.release();
      throw error;
    }
    const retentionMs = options.retentionCheckIntervalMs ?? RETENTION_CHECK_INTERVAL_MS_DEFAULT;
    const cleanerMs = options.cleanerIntervalMs ?? CLEANER_INTERVAL_MS_DEFAULT;
    manager.scheduler.schedule('log-retention', retentionMs, async () => {
      await manager.runRetention();
    });
    manager.scheduler.schedule('log-cleaner', cleanerMs, async () => {
      await manager.runCleaner();
    });
    manager.scheduler.schedule('log-flush', options.flushCheckIntervalMs ?? FLUSH_CHECK_INTERVAL_MS_DEFAULT, async () => {
      await manager.runFlush();
    });
    const producerExpiryMs = options.producerIdExpirationCheckIntervalMs ?? PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS_DEFAULT;
    manager.scheduler.schedule('producer-id-expiration', producerExpiryMs, async () => {
      await manager.runProducerExpiration();
    });
    return manager;
  }

  private async loadLogs(concurrency: number): Promise<void> {
    const entries = await fs.readdir(this.dataDir, { withFileTypes: true });
    const found: TopicPartition[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      if (entry.name.endsWith(DELETE_SUFFIX)) {
        this.logger.info({ dir: entry.name }, 'removing a log deletion left unfinished by a crash');
        await fs.rm(path.join(this.dataDir, entry.name), { recursive: true, force: true });
        continue;
      }
      const parsed = parseTopicPartitionDirName(entry.name);
      if (parsed === undefined) {
        this.logger.warn({ dataDir: this.dataDir, dir: entry.name }, `skipping ${entry.name}: not a <topic>-<partition> directory`);
        continue;
      }
      found.push(parsed);
    }
    await pMap(
      found,
      async ({ topic, partition }) => {
        const config = this.configForTopic(topic) ?? this.defaultConfig;
        const log = await this.openLog(topic, partition, config);
        this.logsByKey.set(keyOf(topic, partition), { topic, partition, log });
      },
      { concurrency: Math.max(1, concurrency) },
    );
    this.logger.info({ dataDir: this.dataDir, logs: found.length }, 'opened logs');
  }

  private openLog(topic: string, partition: number, config: LogConfig): Promise<PartitionLog> {
    return PartitionLog.open({
      dir: path.join(this.dataDir, topicPartitionDirName(topic, partition)),
      config,
      clock: this.clock,
      logger: this.logger,
      ...(this.producerIdExpirationMs === undefined ? {} : { producerIdExpirationMs: this.producerIdExpirationMs }),
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new LogClosedError(`log manager of ${this.dataDir} is closed`);
  }

  getLog(topic: string, partition: number): PartitionLog | undefined {
    return this.logsByKey.get(keyOf(topic, partition))?.log;
  }

  /**
   * The log of a partition, created (empty, with `config` or the topic's or default config) if
   * absent. The config of an existing log is left as it is: use `updateConfig` to change it.
   */
  async getOrCreateLog(topic: string, partition: number, config?: LogConfig): Promise<PartitionLog> {
    this.assertOpen();
    validateTopicName(topic);
    validatePartition(partition);
    const key = keyOf(topic, partition);
    const existing = this.logsByKey.get(key);
    if (existing !== undefined) return existing.log;
    const inFlight = this.creating.get(key);
    if (inFlight !== undefined) return inFlight;
    const creation = this.queue
      .run(key, async () => {
        const raced = this.logsByKey.get(key);
        if (raced !== undefined) return raced.log;
        this.assertOpen();
        const log = await this.openLog(topic, partition, config ?? this.configForTopic(topic) ?? this.defaultConfig);
        this.logsByKey.set(key, { topic, partition, log });
        this.logger.info({ topic, partition }, 'created log');
        return log;
      })
      .finally(() => this.creating.delete(key));
    this.creating.set(key, creation);
    return creation;
  }

  /** Every open log, in no particular order. */
  logs(): ManagedLog[] {
    return [...this.logsByKey.values()];
  }

  /** Replaces a log's config; false when the log does not exist. */
  updateConfig(topic: string, partition: number, config: LogConfig): boolean {
    this.assertOpen();
    const managed = this.logsByKey.get(keyOf(topic, partition));
    if (managed === undefined) return false;
    managed.log.updateConfig(config);
    return true;
  }

  /**
   * Closes the log and renames its directory to `<topic>-<partition>.<id>-delete` (one atomic
   * step: from then on it is gone, even after a crash), then removes the files in the background.
   * False when the log does not exist.
   */
  async deleteLog(topic: string, partition: number): Promise<boolean> {
    this.assertOpen();
    const key = keyOf(topic, partition);
    return this.queue.run(key, async () => {
      const managed = this.logsByKey.get(key);
      if (managed === undefined) return false;
      this.logsByKey.delete(key);
      await managed.log.close();
      const dir = path.join(this.dataDir, topicPartitionDirName(topic, partition));
      const deletedDir = path.join(this.dataDir, deletionDirName(topic, partition));
      await fs.rename(dir, deletedDir);
      await syncDir(this.dataDir);
      this.logger.info({ topic, partition, dir: deletedDir }, 'deleted log');
      const removal = fs
        .rm(deletedDir, { recursive: true, force: true })
        .catch((error: unknown) => this.logger.error({ dir: deletedDir, err: error }, 'could not remove a deleted log directory'))
        .finally(() => this.deletions.delete(removal));
      this.deletions.add(removal);
      return true;
    });
  }

  /**
   * Applies retention to every log: retention.ms and retention.bytes where the cleanup policy
   * includes 'delete' (`PartitionLog.applyRetention` checks the policy), and, for every log,
   * segments below the log start offset and replaced segment files whose delay has passed
   * (compacted logs leave those behind at every cleaning).
   */
  async runRetention(): Promise<Pick<MaintenanceResult, 'segmentsDeleted' | 'failures'>> {
    let segmentsDeleted = 0;
    const failures: MaintenanceFailure[] = [];
    for (const { topic, partition } of this.logs()) {
      await this.queue.run(keyOf(topic, partition), async () => {
        const managed = this.logsByKey.get(keyOf(topic, partition));
        if (managed === undefined || this.closed) return;
        try {
          segmentsDeleted += await managed.log.applyRetention();
        } catch (error) {
          failures.push({ topic, partition, task: 'retention', error });
          this.logger.error({ topic, partition, err: error }, 'retention failed');
        }
      });
    }
    return { segmentsDeleted, failures };
  }

  /** Runs the cleaner on every log whose cleanup policy includes 'compact' and is due for cleaning. */
  async runCleaner(): Promise<Pick<MaintenanceResult, 'cleaned' | 'failures'>> {
    const cleaned: MaintenanceResult['cleaned'] = [];
    const failures: MaintenanceFailure[] = [];
    for (const { topic, partition } of this.logs()) {
      await this.queue.run(keyOf(topic, partition), async () => {
        const managed = this.logsByKey.get(keyOf(topic, partition));
        if (managed === undefined || this.closed || !managed.log.config.cleanupPolicy.includes('compact')) return;
        try {
          const stats = await this.cleaner.clean(managed.log);
          if (stats !== undefined) cleaned.push({ topic, partition, stats });
        } catch (error) {
          failures.push({ topic, partition, task: 'cleaner', error });
          this.logger.error({ topic, partition, err: error }, 'cleaning failed');
        }
      });
    }
    return { cleaned, failures };
  }

  /** fsyncs every log whose flush.ms has passed with unflushed appends; returns how many. */
  async runFlush(): Promise<number> {
    let flushed = 0;
    for (const { topic, partition } of this.logs()) {
      await this.queue.run(keyOf(topic, partition), async () => {
        const managed = this.logsByKey.get(keyOf(topic, partition));
        if (managed === undefined || this.closed) return;
        try {
          if (await managed.log.flushIfDue()) flushed++;
        } catch (error) {
          this.logger.error({ topic, partition, err: error }, 'flush failed');
        }
      });
    }
    return flushed;
  }

  /**
   * Forgets, in every log, the producers idle for producer.id.expiration.ms with no open
   * transaction (Kafka's removeExpiredProducers task), so that producer state stays bounded.
   * Returns how many were forgotten; a log that fails is logged and the others still run.
   */
  async runProducerExpiration(): Promise<number> {
    let removed = 0;
    for (const { topic, partition } of this.logs()) {
      await this.queue.run(keyOf(topic, partition), async () => {
        const managed = this.logsByKey.get(keyOf(topic, partition));
        if (managed === undefined || this.closed) return;
        try {
          removed += await managed.log.removeExpiredProducers();
        } catch (error) {
          this.logger.error({ topic, partition, err: error }, 'producer expiration failed');
        }
      });
    }
    return removed;
  }

  /** Retention, then cleaning, over every log: what the scheduled tasks do, on demand. */
  async runMaintenance(): Promise<MaintenanceResult> {
    this.assertOpen();
    const retention = await this.runRetention();
    const cleaning = await this.runCleaner();
    return {
      segmentsDeleted: retention.segmentsDeleted,
      cleaned: cleaning.cleaned,
      failures: [...retention.failures, ...cleaning.failures],
    };
  }

  /** Stops background tasks, flushes and closes every log, waits for deletions, releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.scheduler.cancelAll();
    await Promise.allSettled([...this.creating.values()]);
    try {
      await this.closeLogs();
    } finally {
      await Promise.all([...this.deletions]);
      await this.lock.release();
    }
  }

  private async closeLogs(): Promise<void> {
    const failures: unknown[] = [];
    await Promise.all(
      this.logs().map(({ topic, partition }) =>
        this.queue.run(keyOf(topic, partition), async () => {
          const managed = this.logsByKey.get(keyOf(topic, partition));
          if (managed === undefined) return;
          this.logsByKey.delete(keyOf(topic, partition));
          try {
            await managed.log.close(); // flushes and checkpoints first
          } catch (error) {
            failures.push(error);
            this.logger.error({ topic, partition, err: error }, 'could not close log');
          }
        }),
      ),
    );
    if (failures.length > 0) throw failures[0];
  }
}

/** `<topic>-<partition>.<uuid>-delete`, the topic truncated so the name fits a file name (Kafka's logDeleteDirName). */
function deletionDirName(topic: string, partition: number): string {
  const suffix = `-${partition}.${randomUUID().replaceAll('-', '')}${DELETE_SUFFIX}`;
  return `${topic.slice(0, Math.max(1, FILE_NAME_BYTES_MAX - suffix.length))}${suffix}`;
}

/** Makes a rename in `dir` durable. */
async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
