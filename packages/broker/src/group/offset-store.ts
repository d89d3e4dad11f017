import {
  CompressionType,
  DecodeError,
  ErrorCode,
  decodeControlRecord,
  encodeRecordBatch,
  isControl,
  isTransactional,
  type Record as BatchRecord,
  type RecordBatch,
} from '@defter/protocol';
import { RecordTooLargeError, TimerScheduler, type Clock, type LogManager, type Scheduler } from '@defter/log';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import { KafkaError } from '../errors.js';
import type { MetadataStore } from '../metadata/metadata-store.js';
import { InternalTopic, coordinatorPartitionFor } from '../metadata/internal-topic.js';
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
const MS_PER_MINUTE = 60_000;
/** "No committed offset", as OffsetFetch answers it. */
export const NO_OFFSET = -1n;
const NO_LEADER_EPOCH = -1;
/** Kafka's transaction coordinator writes offsets without sequence numbers (the batch is not idempotent). */
const NO_SEQUENCE = -1;

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

/** The transaction a TxnOffsetCommit belongs to (its batch carries the producer id and epoch). */
export interface OffsetTransaction {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
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
 * An offset with the log offset of the record that wrote it. When plain and transactional commits
 * of one partition mix, the record further down the log wins (Kafka's rule: without it, a
 * transaction committed after a later plain commit, or compaction, would bring back an old value).
 */
interface StoredOffset {
  readonly value: CommittedOffset;
  readonly recordOffset: bigint;
}

/** Offsets of one group (committed, or one producer's pending ones) by topic and partition. */
class OffsetTable {
  private readonly topics = new Map<string, Map<number, StoredOffset>>();

  get(topic: string, partition: number): StoredOffset | undefined {
    return this.topics.get(topic)?.get(partition);
  }

  set(stored: StoredOffset): void {
    let partitions = this.topics.get(stored.value.topic);
    if (partitions === undefined) this.topics.set(stored.value.topic, (partitions = new Map()));
    partitions.set(stored.value.partition, stored);
  }

  delete(topic: string, partition: number): void {
    const partitions = this.topics.get(topic);
    if (partitions === undefined) return;
    partitions.delete(partition);
    if (partitions.size === 0) this.topics.delete(topic);
  }

  get isEmpty(): boolean {
    return this.topics.size === 0;
  }

  /** By topic, then partition. */
  sorted(): StoredOffset[] {
    const all: StoredOffset[] = [];
    for (const topic of [...this.topics.keys()].sort()) {
      const byPartition = this.topics.get(topic)!;
      for (const partition of [...byPartition.keys()].sort((a, b) => a - b)) all.push(byPartition.get(partition)!);
    }
    return all;
  }
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
 * Transactional offsets (KIP-98, TxnOffsetCommit): `commitTransactional` appends them as one
 * transactional batch of the producer (as Kafka's group coordinator does) and keeps them *pending*
 * per (group, producer id): OffsetFetch does not return them, and with `requireStable` (KIP-447)
 * reports their partitions unstable. Once the transaction coordinator has written the producer's
 * marker into the group's partition it calls `completeTransaction`: a commit makes them committed
 * (unless a record written later in the log already replaced one), an abort drops them. Loading
 * replays the same rules from the log: transactional records wait for their producer's marker;
 * those still open at the end stay pending until the coordinator re-sends the marker.
 *
 * `__consumer_offsets` is created on the first write (as Kafka creates it on first use), not on
 * open, so a broker that never sees a group has no internal topic in its listings.
 */
export class OffsetStore {
  /** group → committed offsets. */
  private readonly groups = new Map<string, OffsetTable>();
  /** group → producer id → offsets of that producer's open transaction. */
  private readonly pending = new Map<string, Map<bigint, OffsetTable>>();
  /** The last write queued per group (settled, never rejected); the next one starts after it. */
  private readonly writeTails = new Map<string, Promise<void>>();
  private readonly topic: InternalTopic;
  /** The expiry timers this store made itself (an injected scheduler is its owner's to cancel). */
  private ownScheduler: TimerScheduler | undefined;
  private expiryStarted = false;
  private closed = false;

  private constructor(private readonly options: OffsetStoreOptions) {
    this.topic = new InternalTopic({
      name: OFFSETS_TOPIC,
      metadata: options.metadata,
      logManager: options.logManager,
      logger: options.logger,
      partitions: options.config.offsetsTopicNumPartitions,
      configs: { 'cleanup.policy': 'compact', 'segment.bytes': String(options.config.offsetsTopicSegmentBytes) },
    });
  }

  /** Loads every committed (and still pending transactional) offset from `__consumer_offsets`, if it exists. */
  static async open(options: OffsetStoreOptions): Promise<OffsetStore> {
    const store = new OffsetStore(options);
    if (options.metadata.topic(OFFSETS_TOPIC) !== undefined) await store.load();
    return store;
  }

  /** Kafka's: abs(javaStringHashCode(groupId)) % partitions, with Utils.abs (MIN_VALUE → 0). */
  partitionFor(groupId: string): number {
    return this.topic.partitionFor(groupId);
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
    return this.topic.ensure();
  }

  /**
   * Stores the offsets of one group (one batch in the group's partition); resolves once they are
   * appended, and only then does `fetch` return them. Throws KafkaError: OFFSET_METADATA_TOO_LARGE,
   * INVALID_GROUP_ID (a group id too long for the record key), INVALID_COMMIT_OFFSET_SIZE (the batch
   * exceeds the topic's max.message.bytes), COORDINATOR_NOT_AVAILABLE (closed), or a storage error.
   */
  async commit(groupId: string, offsets: ReadonlyArray<Omit<CommittedOffset, 'commitTimestampMs'>>): Promise<void> {
    if (offsets.length === 0) return;
    const changes = this.commitChanges(groupId, offsets);
    await this.write(groupId, () => changes);
  }

  /**
   * TxnOffsetCommit: appends the offsets as ONE transactional batch of the producer (baseSequence
   * -1, appended as the coordinator, so the log checks the producer's epoch, not its sequence) and
   * keeps them pending for (group, producer id) until `completeTransaction`. A second commit of the
   * same transaction replaces the earlier pending value of a partition. Throws what `commit` throws,
   * and the log's refusals (INVALID_PRODUCER_EPOCH for an epoch older than the producer's last one).
   */
  async commitTransactional(groupId: string, transaction: OffsetTransaction, offsets: ReadonlyArray<Omit<CommittedOffset, 'commitTimestampMs'>>): Promise<void> {
    if (offsets.length === 0) return;
    if (transaction.producerId < 0n) throw new RangeError(`a transactional commit needs a producer id, got ${transaction.producerId}`);
    const changes = this.commitChanges(groupId, offsets);
    await this.write(groupId, () => changes, transaction);
  }

  /**
   * Ends the producer's transaction in every group of `__consumer_offsets` partition
   * `offsetsPartition`, once its marker is written there: commit → each pending offset becomes the
   * committed one, unless the partition's committed offset comes from a record further down the log
   * (a plain commit made while the transaction was open); abort → they are dropped. Groups of other
   * partitions keep theirs (their own marker ends them). Nothing pending: nothing to do.
   */
  completeTransaction(offsetsPartition: number, producerId: bigint, commit: boolean): void {
    if (!Number.isInteger(offsetsPartition) || offsetsPartition < 0 || offsetsPartition >= this.topic.partitionCount) {
      throw new RangeError(`${OFFSETS_TOPIC} has no partition ${offsetsPartition} (${this.topic.partitionCount} partitions)`);
    }
    let completed = 0;
    for (const [groupId, producers] of [...this.pending]) {
      if (this.partitionFor(groupId) !== offsetsPartition) continue;
      const table = producers.get(producerId);
      if (table === undefined) continue;
      producers.delete(producerId);
      if (producers.size === 0) this.pending.delete(groupId);
      const offsets = table.sorted();
      completed += offsets.length;
      if (commit) for (const stored of offsets) this.put(groupId, stored);
    }
    if (completed > 0) {
      this.options.logger.debug({ partition: offsetsPartition, producerId: String(producerId), offsets: completed, commit }, 'transactional offsets completed');
    }
  }

  /**
   * The group's committed offsets: every one when `partitions` is undefined (by topic, then
   * partition), else one per requested partition, `offset: -1n` and metadata "" where none is
   * committed. Pending transactional offsets are not returned.
   */
  fetch(groupId: string, partitions?: ReadonlyArray<TopicPartitionRef>): CommittedOffset[] {
    const table = this.groups.get(groupId);
    if (partitions === undefined) return table === undefined ? [] : table.sorted().map((stored) => ({ ...stored.value }));
    return partitions.map(({ topic, partition }) => {
      const committed = table?.get(topic, partition);
      return committed !== undefined
        ? { ...committed.value }
        : { topic, partition, offset: NO_OFFSET, leaderEpoch: NO_LEADER_EPOCH, metadata: '', commitTimestampMs: -1 };
    });
  }

  /** Whether an open transaction holds an offset of this partition for the group (OffsetFetch's requireStable). */
  hasPendingOffset(groupId: string, topic: string, partition: number): boolean {
    const producers = this.pending.get(groupId);
    if (producers === undefined) return false;
    for (const table of producers.values()) if (table.get(topic, partition) !== undefined) return true;
    return false;
  }

  /** The offsets the producer's open transaction holds for the group (by topic, then partition). */
  pendingOffsets(groupId: string, producerId: bigint): CommittedOffset[] {
    return (this.pending.get(groupId)?.get(producerId)?.sorted() ?? []).map((stored) => ({ ...stored.value }));
  }

  /** Deletes the given partitions' offsets, committed or pending (tombstones); partitions with neither are skipped. */
  async deleteOffsets(groupId: string, partitions: ReadonlyArray<TopicPartitionRef>): Promise<void> {
    await this.write(groupId, () => tombstones(groupId, partitions.filter(({ topic, partition }) => this.hasOffset(groupId, topic, partition))));
  }

  /** Deletes every offset of the group, committed or pending (those of writes called before this one too). */
  async deleteGroup(groupId: string): Promise<void> {
    await this.write(groupId, () => tombstones(groupId, this.offsetPartitions(groupId)));
  }

  /** Groups with at least one committed or pending offset, sorted. */
  groupIds(): string[] {
    return [...new Set([...this.groups.keys(), ...this.pending.keys()])].sort();
  }

  /** Whether the group has a committed or a pending offset (Kafka keeps such a group as an Empty one). */
  hasOffsets(groupId: string): boolean {
    return this.groups.has(groupId) || this.pending.has(groupId);
  }

  /**
   * Deletes the offsets committed more than `offsets.retention.minutes` ago, of the groups
   * `isGroupEmpty` reports empty (or unknown: a group with offsets but no members), except those of
   * partitions an open transaction is committing (as Kafka). Returns how many offsets expired.
   */
  async expireOffsets(isGroupEmpty: (groupId: string) => boolean): Promise<number> {
    const deadlineMs = this.options.clock.nowMs() - this.options.config.offsetsRetentionMinutes * MS_PER_MINUTE;
    let expired = 0;
    const writes = this.groupIds()
      .filter((groupId) => isGroupEmpty(groupId))
      .map((groupId) =>
        this.write(groupId, () => {
          const stale = this.fetch(groupId).filter((offset) => offset.commitTimestampMs <= deadlineMs && !this.hasPendingOffset(groupId, offset.topic, offset.partition));
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

  private commitChanges(groupId: string, offsets: ReadonlyArray<Omit<CommittedOffset, 'commitTimestampMs'>>): OffsetChange[] {
    for (const offset of offsets) {
      if (this.isMetadataTooLarge(offset.metadata)) {
        throw new KafkaError(ErrorCode.OFFSET_METADATA_TOO_LARGE, `metadata of ${offset.topic}-${offset.partition} exceeds offset.metadata.max.bytes ${this.metadataBytesMax}`);
      }
    }
    const commitTimestampMs = this.options.clock.nowMs();
    return offsets.map((offset) => ({
      key: { group: groupId, topic: offset.topic, partition: offset.partition },
      value: {
        topic: offset.topic,
        partition: offset.partition,
        offset: offset.offset,
        leaderEpoch: offset.leaderEpoch,
        metadata: offset.metadata ?? '',
        commitTimestampMs,
      },
    }));
  }

  /**
   * Queues a write behind the group's earlier ones. `changesAtTurn` runs when its turn comes, so
   * that deletions see the effect of every write queued before them.
   */
  private write(groupId: string, changesAtTurn: () => readonly OffsetChange[], transaction?: OffsetTransaction): Promise<void> {
    if (this.closed) return Promise.reject(new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, 'the group coordinator is shutting down'));
    const groupIdBytes = Buffer.byteLength(groupId, 'utf8');
    if (groupIdBytes > RECORD_STRING_BYTES_MAX) {
      return Promise.reject(new KafkaError(ErrorCode.INVALID_GROUP_ID, `group id of ${groupIdBytes} bytes is longer than ${RECORD_STRING_BYTES_MAX}`));
    }
    const previous = this.writeTails.get(groupId) ?? Promise.resolve();
    const run = previous.then(async () => {
      const changes = changesAtTurn();
      if (changes.length > 0) await this.appendAndApply(groupId, changes, transaction);
    });
    // A failed write does not hold up the next one; its caller gets the error.
    const tail = run.catch(() => undefined);
    this.writeTails.set(groupId, tail);
    void tail.then(() => {
      if (this.writeTails.get(groupId) === tail) this.writeTails.delete(groupId);
    });
    return run;
  }

  private async appendAndApply(groupId: string, changes: readonly OffsetChange[], transaction: OffsetTransaction | undefined): Promise<void> {
    await this.ensureTopic();
    const partition = this.partitionFor(groupId);
    const log = this.topic.log(partition);
    const timestamp = BigInt(this.options.clock.nowMs());
    const batch = encodeRecordBatch({
      compression: CompressionType.None,
      ...(transaction === undefined
        ? {}
        : { transactional: true, producerId: transaction.producerId, producerEpoch: transaction.producerEpoch, baseSequence: NO_SEQUENCE }),
      records: changes.map((change) => ({
        timestamp,
        key: encodeOffsetCommitKey(change.key),
        value: change.value === null ? null : encodeOffsetCommitValue({ ...change.value, metadata: change.value.metadata ?? '' }),
      })),
    });
    let baseOffset: bigint;
    try {
      // The coordinator's own transactional writes carry no sequence: the log checks their epoch only.
      ({ baseOffset } = await log.append(batch, transaction === undefined ? {} : { origin: 'coordinator' }));
    } catch (error) {
      if (error instanceof RecordTooLargeError) {
        throw new KafkaError(ErrorCode.INVALID_COMMIT_OFFSET_SIZE, `a write of ${changes.length} offsets is larger than ${OFFSETS_TOPIC}'s max.message.bytes`);
      }
      throw error;
    }
    // Record i of the batch sits at baseOffset + i (offset deltas are the record indexes).
    changes.forEach((change, index) => this.apply(change, baseOffset + BigInt(index), transaction?.producerId));
  }

  /** One record of the log, as written or as replayed: `producerId` is set for a transactional one. */
  private apply({ key, value }: OffsetChange, recordOffset: bigint, producerId: bigint | undefined): void {
    if (value === null) this.removeBefore(key, recordOffset);
    else if (producerId === undefined) this.put(key.group, { value, recordOffset });
    else this.putPending(key.group, producerId, { value, recordOffset });
  }

  /** Becomes the committed offset unless one from a record further down the log is already there. */
  private put(groupId: string, stored: StoredOffset): void {
    let table = this.groups.get(groupId);
    if (table === undefined) this.groups.set(groupId, (table = new OffsetTable()));
    const current = table.get(stored.value.topic, stored.value.partition);
    if (current === undefined || current.recordOffset < stored.recordOffset) table.set(stored);
  }

  private putPending(groupId: string, producerId: bigint, stored: StoredOffset): void {
    let producers = this.pending.get(groupId);
    if (producers === undefined) this.pending.set(groupId, (producers = new Map()));
    let table = producers.get(producerId);
    if (table === undefined) producers.set(producerId, (table = new OffsetTable()));
    table.set(stored);
  }

  /** A tombstone: removes the key's committed offset and every producer's pending one written before it (Kafka's replay does both). */
  private removeBefore(key: OffsetCommitKey, recordOffset: bigint): void {
    const table = this.groups.get(key.group);
    if (table !== undefined && (table.get(key.topic, key.partition)?.recordOffset ?? recordOffset) < recordOffset) {
      table.delete(key.topic, key.partition);
      if (table.isEmpty) this.groups.delete(key.group);
    }
    const producers = this.pending.get(key.group);
    if (producers === undefined) return;
    for (const [producerId, pendingTable] of [...producers]) {
      if ((pendingTable.get(key.topic, key.partition)?.recordOffset ?? recordOffset) >= recordOffset) continue;
      pendingTable.delete(key.topic, key.partition);
      if (pendingTable.isEmpty) producers.delete(producerId);
    }
    if (producers.size === 0) this.pending.delete(key.group);
  }

  private hasOffset(groupId: string, topic: string, partition: number): boolean {
    return this.groups.get(groupId)?.get(topic, partition) !== undefined || this.hasPendingOffset(groupId, topic, partition);
  }

  /** Every partition the group has a committed or pending offset for, once each. */
  private offsetPartitions(groupId: string): TopicPartitionRef[] {
    const seen = new Map<string, TopicPartitionRef>();
    const tables = [this.groups.get(groupId), ...(this.pending.get(groupId)?.values() ?? [])];
    for (const table of tables) {
      for (const { value } of table?.sorted() ?? []) seen.set(`${value.topic}\u0000${value.partition}`, { topic: value.topic, partition: value.partition });
    }
    return [...seen.values()];
  }

  // ---- loading ----------------------------------------------------------------------------

  private async load(): Promise<void> {
    let records = 0;
    await this.topic.replay((batch, partition) => {
      records += this.loadBatch(batch, partition);
    });
    const pendingGroups = this.pending.size;
    this.options.logger.info({ groups: this.groupIds().length, records, pendingGroups }, 'loaded committed offsets');
  }

  /**
   * One batch of a partition's replay, in log order: the latest record per key wins;
   * transactional records wait for their producer's marker (commit → applied, abort → dropped).
   */
  private loadBatch(batch: RecordBatch, partition: number): number {
    if (isControl(batch.attributes)) {
      try {
        this.loadMarker(batch, partition);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        this.options.logger.warn({ topic: OFFSETS_TOPIC, partition, offset: String(batch.baseOffset), reason: error.message }, 'skipping an unreadable marker');
      }
      return 0;
    }
    const producerId = isTransactional(batch.attributes) && batch.producerId >= 0n ? batch.producerId : undefined;
    for (const record of batch.records) this.loadRecord(record, partition, batch.baseOffset + BigInt(record.offsetDelta), producerId);
    return batch.records.length;
  }

  /** A commit or abort marker ends its producer's transaction in this partition; other control records (or an empty batch) mean nothing here. */
  private loadMarker(batch: RecordBatch, partition: number): void {
    const record = batch.records[0];
    if (record === undefined || batch.producerId < 0n) return;
    const control = decodeControlRecord(record);
    if (control.type === 'unknown') return;
    this.completeTransaction(partition, batch.producerId, control.type === 'commit');
  }

  private loadRecord(record: BatchRecord, partition: number, recordOffset: bigint, producerId: bigint | undefined): void {
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
        this.apply({ key: key.key, value: null }, recordOffset, undefined);
        return;
      }
      const value = decodeOffsetCommitValue(record.value);
      const offset: CommittedOffset = {
        topic: key.key.topic,
        partition: key.key.partition,
        offset: value.offset,
        leaderEpoch: value.leaderEpoch,
        metadata: value.metadata,
        commitTimestampMs: value.commitTimestampMs,
      };
      this.apply({ key: key.key, value: offset }, recordOffset, producerId);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      logger.warn({ partition, reason: error.message }, 'skipping an unreadable offsets record');
    }
  }
}

function tombstones(groupId: string, partitions: ReadonlyArray<TopicPartitionRef>): OffsetChange[] {
  return partitions.map(({ topic, partition }) => ({ key: { group: groupId, topic, partition }, value: null }));
}

/** The `__consumer_offsets` partition of a group: Kafka's hash of the group id. */
export function partitionForGroup(groupId: string, partitions: number): number {
  return coordinatorPartitionFor(groupId, partitions);
}
