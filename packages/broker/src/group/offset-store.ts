import {
  CompressionType,
  DecodeError,
  ErrorCode,
  decodeRecordBatch,
  encodeRecordBatch,
  isControl,
  lastOffsetOf,
  readBatchHeader,
  type Record as BatchRecord,
} from '@defter/protocol';
import { RecordTooLargeError, TimerScheduler, type Clock, type LogManager, type PartitionLog, type Scheduler } from '@defter/log';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import { KafkaError } from '../errors.js';
import type { MetadataStore } from '../metadata/metadata-store.js';
import {
  decodeOffsetCommitValue,
  decodeOffsetsTopicKey,
  encodeOffsetCommitKey,
  encodeOffsetCommitValue,
  RECORD_STRING_BYTES_MAX,
  type OffsetCommitKey,
} from './offset-records.js';

/** Kafka's internal topic of committed offsets. */
export const OFFSETS_TOPIC = '__consumer_offsets';
/** How much of a partition the loader reads at a time. */
const LOAD_CHUNK_BYTES = 1 << 20;
const MS_PER_MINUTE = 60_000;
/** "No committed offset", as OffsetFetch answers it. */
export const NO_OFFSET = -1n;
const NO_LEADER_EPOCH = -1;

export interface CommittedOffset {
  topic: string;
  partition: number;
  /** -1n: none. */
  offset: bigint;
  /** -1: unknown. */
  leaderEpoch: number;
  /** Kafka stores a null metadata as "": a stored offset always has a string. */
  metadata: string | null;
  commitTimestampMs: number;
}

export interface TopicPartitionRef {
  topic: string;
  partition: number;
}

export interface OffsetStoreOptions {
  logManager: LogManager;
  metadata: MetadataStore;
  config: BrokerConfig;
  clock: Clock;
  logger: Logger;
  /** Runs the periodic expiry (`startExpiry`); unref'd timers by default, a ManualScheduler in tests. */
  scheduler?: Scheduler;
}

/** One key's change in a write: a new value, or null for a tombstone. */
interface OffsetChange {
  readonly key: OffsetCommitKey;
  readonly value: CommittedOffset | null;
}

/**
 * Committed offsets: kept in memory for OffsetFetch, made durable in `__consumer_offsets` (one
 * record per group and partition, keyed as Kafka keys them, compacted), and loaded back on open.
 *
 * Consistency: the writes of one group run one after another, in call order; each is appended
 * to the group's partition first and applied to memory only once its append resolved. So memory
 * always equals "the log replayed" (a restart rebuilds exactly what was served), and a deletion
 * or expiry decides what to remove only when its turn comes, after the writes called before it.
 * Different groups' writes run side by side and share the log's group commit.
 *
 * `__consumer_offsets` is created on the first write (as Kafka creates it on first use), not on
 * open, so a broker that never sees a group has no internal topic in its listings.
 */
export class OffsetStore {
  /** group → topic → partition → offset. */
  private readonly groups = new Map<string, Map<string, Map<number, CommittedOffset>>>();
  /** The last write queued per group (settled, never rejected); the next one starts after it. */
  private readonly writeTails = new Map<string, Promise<void>>();
  private topicReady: Promise<void> | undefined;
  private partitionCount: number;
  /** The expiry timers this store made itself (an injected scheduler is its owner's to cancel). */
  private ownScheduler: TimerScheduler | undefined;
  private expiryStarted = false;
  private closed = false;

  private constructor(private readonly options: OffsetStoreOptions) {
    this.partitionCount = options.metadata.topic(OFFSETS_TOPIC)?.partitions ?? options.config.offsetsTopicNumPartitions;
  }

  /** Loads every committed offset from `__consumer_offsets`, if it exists. */
  static async open(options: OffsetStoreOptions): Promise<OffsetStore> {
    const store = new OffsetStore(options);
    if (options.metadata.topic(OFFSETS_TOPIC) !== undefined) await store.load();
    return store;
  }

  /** Kafka's: abs(javaStringHashCode(groupId)) % partitions, with Utils.abs (MIN_VALUE → 0). */
  partitionFor(groupId: string): number {
    return partitionForGroup(groupId, this.partitionCount);
  }

  /** The longest metadata string a commit may carry, in UTF-8 bytes. */
  get metadataBytesMax(): number {
    return Math.min(this.options.config.offsetMetadataMaxBytes, RECORD_STRING_BYTES_MAX);
  }

  /** Whether OffsetCommit must refuse this metadata with OFFSET_METADATA_TOO_LARGE. */
  isMetadataTooLarge(metadata: string | null): boolean {
    return metadata !== null && Buffer.byteLength(metadata, 'utf8') > this.metadataBytesMax;
  }

  /**
   * Creates `__consumer_offsets` if it does not exist yet (Kafka does so on first use). Writes do it
   * themselves; FindCoordinator may call it to have the topic ready before the first commit.
   */
  ensureTopic(): Promise<void> {
    if (this.topicReady === undefined) {
      const ready = this.options.metadata.topic(OFFSETS_TOPIC) !== undefined ? Promise.resolve() : this.createTopic();
      this.topicReady = ready;
      // A failed creation is tried again by the next write.
      ready.catch(() => {
        if (this.topicReady === ready) this.topicReady = undefined;
      });
    }
    return this.topicReady;
  }

  /**
   * Stores the offsets of one group (one batch in the group's partition); resolves once they are
   * appended, and only then does `fetch` return them. Throws KafkaError: OFFSET_METADATA_TOO_LARGE,
   * INVALID_GROUP_ID (a group id too long for the record key), INVALID_COMMIT_OFFSET_SIZE (the batch
   * exceeds the topic's max.message.bytes), COORDINATOR_NOT_AVAILABLE (closed), or a storage error.
   */
  async commit(groupId: string, offsets: ReadonlyArray<Omit<CommittedOffset, 'commitTimestampMs'>>): Promise<void> {
    if (offsets.length === 0) return;
    for (const offset of offsets) {
      if (this.isMetadataTooLarge(offset.metadata)) {
        throw new KafkaError(ErrorCode.OFFSET_METADATA_TOO_LARGE, `metadata of ${offset.topic}-${offset.partition} exceeds offset.metadata.max.bytes ${this.metadataBytesMax}`);
      }
    }
    const commitTimestampMs = this.options.clock.nowMs();
    const changes = offsets.map(
      (offset): OffsetChange => ({
        key: { group: groupId, topic: offset.topic, partition: offset.partition },
        value: {
          topic: offset.topic,
          partition: offset.partition,
          offset: offset.offset,
          leaderEpoch: offset.leaderEpoch,
          metadata: offset.metadata ?? '',
          commitTimestampMs,
        },
      }),
    );
    await this.write(groupId, () => changes);
  }

  /**
   * The group's committed offsets: every one when `partitions` is undefined (by topic, then
   * partition), else one per requested partition, `offset: -1n` and metadata "" where none is committed.
   */
  fetch(groupId: string, partitions?: ReadonlyArray<TopicPartitionRef>): CommittedOffset[] {
    const topics = this.groups.get(groupId);
    if (partitions === undefined) {
      if (topics === undefined) return [];
      const all: CommittedOffset[] = [];
      for (const topic of [...topics.keys()].sort()) {
        const byPartition = topics.get(topic)!;
        for (const partition of [...byPartition.keys()].sort((a, b) => a - b)) all.push({ ...byPartition.get(partition)! });
      }
      return all;
    }
    return partitions.map(({ topic, partition }) => {
      const committed = topics?.get(topic)?.get(partition);
      return committed !== undefined
        ? { ...committed }
        : { topic, partition, offset: NO_OFFSET, leaderEpoch: NO_LEADER_EPOCH, metadata: '', commitTimestampMs: -1 };
    });
  }

  /** Deletes the given partitions' committed offsets (tombstones); partitions without one are skipped. */
  async deleteOffsets(groupId: string, partitions: ReadonlyArray<TopicPartitionRef>): Promise<void> {
    await this.write(groupId, () => tombstones(groupId, partitions.filter(({ topic, partition }) => this.groups.get(groupId)?.get(topic)?.has(partition) === true)));
  }

  /** Deletes every committed offset of the group (those committed by writes called before this one too). */
  async deleteGroup(groupId: string): Promise<void> {
    await this.write(groupId, () => tombstones(groupId, this.fetch(groupId)));
  }

  /** Groups with at least one committed offset, sorted. */
  groupIds(): string[] {
    return [...this.groups.keys()].sort();
  }

  hasOffsets(groupId: string): boolean {
    return this.groups.has(groupId);
  }

  /**
   * Deletes the offsets committed more than `offsets.retention.minutes` ago, of the groups
   * `isGroupEmpty` reports empty (or unknown: a group with offsets but no members). Returns how
   * many offsets expired.
   */
  async expireOffsets(isGroupEmpty: (groupId: string) => boolean): Promise<number> {
    const deadlineMs = this.options.clock.nowMs() - this.options.config.offsetsRetentionMinutes * MS_PER_MINUTE;
    let expired = 0;
    const writes = this.groupIds()
      .filter((groupId) => isGroupEmpty(groupId))
      .map((groupId) =>
        this.write(groupId, () => {
          const stale = this.fetch(groupId).filter((offset) => offset.commitTimestampMs <= deadlineMs);
          if (stale.length > 0) this.options.logger.info({ groupId, offsets: stale.length }, 'expiring committed offsets');
          expired += stale.length;
          return tombstones(groupId, stale);
        }),
      );
    await Promise.all(writes);
    return expired;
  }

  /**
   * Runs `expireOffsets(isGroupEmpty)` every `offsets.retention.check.interval.ms` until close.
   * The coordinator is built after the store, so the broker calls this once both exist.
   */
  startExpiry(isGroupEmpty: (groupId: string) => boolean): void {
    if (this.closed) throw new Error('the offset store is closed');
    if (this.expiryStarted) throw new Error('offset expiry is already started');
    this.expiryStarted = true;
    let scheduler = this.options.scheduler;
    if (scheduler === undefined) scheduler = this.ownScheduler = new TimerScheduler(this.options.logger);
    scheduler.schedule('offsets-expiry', this.options.config.offsetsRetentionCheckIntervalMs, async () => {
      if (this.closed) return;
      await this.expireOffsets(isGroupEmpty);
    });
  }

  /** Stops expiry and waits for writes under way; later writes get COORDINATOR_NOT_AVAILABLE. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.ownScheduler?.cancelAll();
    await Promise.all([...this.writeTails.values()]);
  }

  // ---- writing ----------------------------------------------------------------------------

  /**
   * Queues a write behind the group's earlier ones. `changesAtTurn` runs when its turn comes, so
   * that deletions see the effect of every write queued before them.
   */
  private write(groupId: string, changesAtTurn: () => readonly OffsetChange[]): Promise<void> {
    if (this.closed) return Promise.reject(new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, 'the group coordinator is shutting down'));
    const groupIdBytes = Buffer.byteLength(groupId, 'utf8');
    if (groupIdBytes > RECORD_STRING_BYTES_MAX) {
      return Promise.reject(new KafkaError(ErrorCode.INVALID_GROUP_ID, `group id of ${groupIdBytes} bytes is longer than ${RECORD_STRING_BYTES_MAX}`));
    }
    const previous = this.writeTails.get(groupId) ?? Promise.resolve();
    const run = previous.then(async () => {
      const changes = changesAtTurn();
      if (changes.length > 0) await this.appendAndApply(groupId, changes);
    });
    // A failed write does not hold up the next one; its caller gets the error.
    const tail = run.catch(() => undefined);
    this.writeTails.set(groupId, tail);
    void tail.then(() => {
      if (this.writeTails.get(groupId) === tail) this.writeTails.delete(groupId);
    });
    return run;
  }

  private async appendAndApply(groupId: string, changes: readonly OffsetChange[]): Promise<void> {
    await this.ensureTopic();
    const partition = this.partitionFor(groupId);
    const log = this.options.logManager.getLog(OFFSETS_TOPIC, partition);
    if (log === undefined) {
      // Deleted by an admin: the next write creates it again.
      if (this.options.metadata.topic(OFFSETS_TOPIC) === undefined) this.topicReady = undefined;
      throw new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${OFFSETS_TOPIC}-${partition} is not available`);
    }
    const timestamp = BigInt(this.options.clock.nowMs());
    const batch = encodeRecordBatch({
      compression: CompressionType.None,
      records: changes.map((change) => ({
        timestamp,
        key: encodeOffsetCommitKey(change.key),
        value: change.value === null ? null : encodeOffsetCommitValue({ ...change.value, metadata: change.value.metadata ?? '' }),
      })),
    });
    try {
      await log.append(batch);
    } catch (error) {
      if (error instanceof RecordTooLargeError) {
        throw new KafkaError(ErrorCode.INVALID_COMMIT_OFFSET_SIZE, `a write of ${changes.length} offsets is larger than ${OFFSETS_TOPIC}'s max.message.bytes`);
      }
      throw error;
    }
    this.apply(changes);
  }

  private apply(changes: readonly OffsetChange[]): void {
    for (const { key, value } of changes) {
      if (value === null) this.remove(key);
      else this.put(key.group, value);
    }
  }

  private put(groupId: string, offset: CommittedOffset): void {
    let topics = this.groups.get(groupId);
    if (topics === undefined) this.groups.set(groupId, (topics = new Map()));
    let partitions = topics.get(offset.topic);
    if (partitions === undefined) topics.set(offset.topic, (partitions = new Map()));
    partitions.set(offset.partition, offset);
  }

  private remove(key: OffsetCommitKey): void {
    const topics = this.groups.get(key.group);
    const partitions = topics?.get(key.topic);
    if (topics === undefined || partitions === undefined) return;
    partitions.delete(key.partition);
    if (partitions.size === 0) topics.delete(key.topic);
    if (topics.size === 0) this.groups.delete(key.group);
  }

  private async createTopic(): Promise<void> {
    const { metadata, config, logger } = this.options;
    try {
      const topic = await metadata.createTopic(OFFSETS_TOPIC, config.offsetsTopicNumPartitions, {
        'cleanup.policy': 'compact',
        'segment.bytes': String(config.offsetsTopicSegmentBytes),
      });
      this.partitionCount = topic.partitions;
      logger.info({ topic: OFFSETS_TOPIC, partitions: topic.partitions }, 'created the offsets topic');
    } catch (error) {
      // Created meanwhile (by an admin request): use it as it is.
      const existing = metadata.topic(OFFSETS_TOPIC);
      if (!(error instanceof KafkaError && error.code === ErrorCode.TOPIC_ALREADY_EXISTS && existing !== undefined)) throw error;
      this.partitionCount = existing.partitions;
    }
  }

  // ---- loading ----------------------------------------------------------------------------

  private async load(): Promise<void> {
    const { logManager, logger } = this.options;
    let records = 0;
    for (let partition = 0; partition < this.partitionCount; partition++) {
      const log = logManager.getLog(OFFSETS_TOPIC, partition);
      if (log === undefined) {
        logger.warn({ topic: OFFSETS_TOPIC, partition }, 'offsets partition has no log: its commits are not loaded');
        continue;
      }
      records += await this.loadPartition(log, partition);
    }
    logger.info({ groups: this.groups.size, records }, 'loaded committed offsets');
  }

  /** Replays one partition from its log start to its end; the latest record per key wins. */
  private async loadPartition(log: PartitionLog, partition: number): Promise<number> {
    let records = 0;
    let offset = log.logStartOffset;
    const end = log.logEndOffset;
    while (offset < end) {
      const batches = await log.readBatches(offset, LOAD_CHUNK_BYTES, { maxOffset: end });
      if (batches.length === 0) break;
      for (const bytes of batches) {
        // The log handed back whole batches it validated on append or recovery: the header is there.
        const lastOffset = lastOffsetOf(readBatchHeader(bytes));
        offset = lastOffset + 1n;
        let batchRecords: BatchRecord[];
        try {
          const batch = decodeRecordBatch(bytes);
          if (isControl(batch.attributes)) continue;
          batchRecords = batch.records;
        } catch (error) {
          if (!(error instanceof DecodeError)) throw error;
          this.options.logger.warn({ topic: OFFSETS_TOPIC, partition, offset: String(lastOffset), reason: error.message }, 'skipping an unreadable offsets batch');
          continue;
        }
        for (const record of batchRecords) {
          records++;
          this.loadRecord(record, partition);
        }
      }
    }
    return records;
  }

  private loadRecord(record: BatchRecord, partition: number): void {
    const { logger } = this.options;
    if (record.key === null) return;
    try {
      const key = decodeOffsetsTopicKey(record.key);
      if (key.type !== 'offset-commit') {
        // Group metadata (version 2) and newer record types: membership is not persisted here.
        logger.debug({ partition, type: key.type, version: key.version }, 'skipping a non-offset record in the offsets topic');
        return;
      }
      if (record.value === null) {
        this.remove(key.key);
        return;
      }
      const value = decodeOffsetCommitValue(record.value);
      this.put(key.key.group, {
        topic: key.key.topic,
        partition: key.key.partition,
        offset: value.offset,
        leaderEpoch: value.leaderEpoch,
        metadata: value.metadata,
        commitTimestampMs: value.commitTimestampMs,
      });
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      logger.warn({ partition, reason: error.message }, 'skipping an unreadable offsets record');
    }
  }
}

function tombstones(groupId: string, partitions: ReadonlyArray<TopicPartitionRef>): OffsetChange[] {
  return partitions.map(({ topic, partition }) => ({ key: { group: groupId, topic, partition }, value: null }));
}

/** Java's String.hashCode over UTF-16 code units, then Kafka's Utils.abs and modulo. */
export function partitionForGroup(groupId: string, partitions: number): number {
  let hash = 0;
  for (let i = 0; i < groupId.length; i++) hash = (Math.imul(hash, 31) + groupId.charCodeAt(i)) | 0;
  const positive = hash === -0x80000000 ? 0 : Math.abs(hash);
  return positive % partitions;
}
