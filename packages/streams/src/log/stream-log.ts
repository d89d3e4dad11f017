/**
 * What the streams runtime needs from "a Kafka": the narrow interface between the runtime and a log.
 *
 * Two implementations fit it: `KafkajsLog` (any Kafka-compatible cluster over the wire, through
 * kafkajs) and, next, an in-process one over the broker's own components (no sockets). The runtime
 * never sees anything else, so the same pipeline runs on both and one contract suite tests both.
 *
 * The contract, in six parts:
 *
 * 1. Group membership. `createConsumer({ groupId, topics })` joins the consumer group `groupId`
 *    (the app's `applicationId`) when `run(handlers)` is called. After every rebalance the log
 *    calls `onAssigned(partitions)` with the member's whole new assignment. Before it gives
 *    partitions up it calls `onRevoked(partitions)` and, when it can, awaits it (the in-process log
 *    does; kafkajs has no revocation hook, so `KafkajsLog` calls it as the rebalance starts, without
 *    waiting: see its file). A member's positions after `onAssigned` are the group's committed
 *    offsets: anything delivered but not committed before a rebalance is delivered again.
 *
 * 2. Fetch with backpressure. The log delivers one `FetchedBatch` per partition at a time through
 *    `onBatch` and fetches that partition again only after the returned promise settles: a slow
 *    handler holds its partition back, and memory stays bounded by one batch per partition plus what
 *    the runtime keeps. `pause`/`resume` stop and restart fetching a partition without leaving the
 *    group; pauses are forgotten at a rebalance (the runtime re-applies them in `onAssigned`).
 *    Batches hold data records only: control records and aborted transactional records
 *    (read_committed) are filtered out, but `nextOffset` moves past them, so committing it never
 *    re-reads a marker.
 *
 * 3. Produce. `createProducer()` gives an idempotent producer with acks=all. `send(records)`
 *    resolves when every record in it is acknowledged; sends are written in call order (one request
 *    in flight, later calls coalesced into the next request), so acknowledgements arrive in order.
 *    The runtime picks each record's partition itself (murmur2, like Kafka's default partitioner).
 *
 * 4. Commit. `consumer.commitOffsets(offsets)` commits, for the group, the next offset to read per
 *    partition (Kafka's convention: the last processed offset + 1).
 *
 * 5. Transactions. A producer created with a `transactionalId` fences any older producer with the
 *    same id (aborting its open transaction) when it connects. `beginTransaction()`, then `send`s,
 *    `sendOffsetsToTransaction(offsets, group)` (the input offsets join the transaction; `group`
 *    carries generation and member id for KIP-447 fencing where the log can send them), then
 *    `commitTransaction()` or `abortTransaction()`. One transaction at a time per producer.
 *
 * 6. Topics. `createTopics(topics)` creates the topics that do not exist yet (the app's internal
 *    repartition topics, an example's inputs); a topic that exists already is left as it is.
 *
 * 7. Reading one partition outside any group (restoring a state store from its changelog).
 *    `offsetRange(partition, isolation)` gives the log start offset and the end offset (the high
 *    watermark, or the last stable offset under read_committed). `readPartition({ …, fromOffset,
 *    toOffset })` yields the partition's batches in offset order from `fromOffset` (moved up to the
 *    log start offset when below it) until a batch's `nextOffset` reaches `toOffset`; as for group
 *    fetches, control records and aborted records are left out and `nextOffset` moves past them.
 */

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** Kafka record headers as kafkajs shapes them: a repeated key holds an array. */
export type RecordHeaders = Readonly<Record<string, Buffer | string | ReadonlyArray<Buffer | string> | undefined>>;

/** A record as the log stores it: bytes, not yet deserialized. */
export interface LogRecord {
  readonly offset: bigint;
  /** Milliseconds since the epoch (CreateTime or LogAppendTime, as the topic stores it). */
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: RecordHeaders;
}

export interface FetchedBatch extends TopicPartition {
  /** Data records in offset order (control and aborted records removed). May be empty. */
  readonly records: readonly LogRecord[];
  /** The offset to commit once this batch is processed: past its last record and any marker after it. */
  readonly nextOffset: bigint;
  /** The partition's high watermark (or last stable offset, under read_committed) when fetched, for lag. */
  readonly highWatermark: bigint;
}

export interface OffsetToCommit extends TopicPartition {
  /** The next offset to read. */
  readonly offset: bigint;
}

export interface GroupMetadata {
  readonly groupId: string;
  /** -1 and '' when the log cannot tell (kafkajs does not expose them). */
  readonly generationId: number;
  readonly memberId: string;
}

export interface GroupHandlers {
  /** The member's whole assignment after a rebalance. */
  onAssigned(partitions: readonly TopicPartition[]): void | Promise<void>;
  /** Partitions about to be given up: commit what is done. Awaited where the log allows it. */
  onRevoked(partitions: readonly TopicPartition[]): void | Promise<void>;
  /** One batch; the partition is not fetched again before the promise settles. A rejection fails the consumer. */
  onBatch(batch: FetchedBatch): Promise<void>;
  /** The consumer stopped on an error it could not recover from. */
  onCrash(error: Error): void;
}

export type IsolationLevel = 'read_committed' | 'read_uncommitted';

export interface ConsumerOptions {
  readonly groupId: string;
  /** Topic names; patterns are resolved by the runtime with `topicsMatching` before it subscribes. */
  readonly topics: readonly string[];
  readonly isolationLevel: IsolationLevel;
  /** The most bytes one partition's batch may hold (at least one record batch is always returned). */
  readonly fetchMaxBytesPerPartition: number;
  /** fetch.max.wait.ms: how long a fetch waits for data (and how long a member with every partition paused idles). */
  readonly fetchMaxWaitMs: number;
  /** How many partitions' batches may be handled at once. */
  readonly partitionsConcurrentlyMax: number;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** Where a partition without a committed offset starts. */
  readonly fromBeginning: boolean;
}

export interface GroupConsumer {
  /** Joins the group and starts delivering; resolves once the consumer runs (not once assigned). */
  run(handlers: GroupHandlers): Promise<void>;
  pause(partitions: readonly TopicPartition[]): void;
  resume(partitions: readonly TopicPartition[]): void;
  commitOffsets(offsets: readonly OffsetToCommit[]): Promise<void>;
  groupMetadata(): GroupMetadata;
  /** Leaves the group after the batches under way have been handled. */
  close(): Promise<void>;
}

export interface OutgoingRecord {
  readonly topic: string;
  readonly partition: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: RecordHeaders;
  readonly timestamp: number;
}

export interface ProducerOptions {
  /** Makes the producer transactional (and fences older producers with the same id). */
  readonly transactionalId?: string;
  /** How long the coordinator lets a transaction stay open before aborting it. */
  readonly transactionTimeoutMs?: number;
}

export interface LogProducer {
  /** Resolves when every record is acknowledged (acks=all); inside a transaction, when it is written. */
  send(records: readonly OutgoingRecord[]): Promise<void>;
  beginTransaction(): Promise<void>;
  sendOffsetsToTransaction(offsets: readonly OffsetToCommit[], group: GroupMetadata): Promise<void>;
  commitTransaction(): Promise<void>;
  abortTransaction(): Promise<void>;
  /** Whether a transaction is open. */
  inTransaction(): boolean;
  close(): Promise<void>;
}

export interface NewTopic {
  readonly name: string;
  readonly partitions: number;
  /** Topic configs by Kafka's names (`cleanup.policy`, `retention.ms`, …). */
  readonly configs?: Readonly<Record<string, string>>;
}

export interface PartitionRange {
  /** The first offset still in the log. */
  readonly logStartOffset: bigint;
  /** The high watermark, or the last stable offset under read_committed: where a read stops. */
  readonly endOffset: bigint;
}

export interface ReadPartitionOptions extends TopicPartition {
  readonly fromOffset: bigint;
  /** Exclusive: reading stops once a batch's `nextOffset` reaches it (normally `offsetRange(…).endOffset`). */
  readonly toOffset: bigint;
  readonly isolationLevel: IsolationLevel;
  /** The most bytes one fetch returns (at least one record batch is always returned). Default 1 MiB. */
  readonly maxBytes?: number;
}

export interface StreamLog {
  /** A short name for logs and metrics, e.g. `kafkajs`. */
  readonly name: string;
  /**
   * Whether `onRevoked` is awaited before the member rejoins. Only then does a commit made in it
   * land before the partitions' next owner reads the committed offsets; otherwise (kafkajs) such a
   * commit may land after, and the records it covers are processed twice.
   */
  readonly awaitsRevocation: boolean;
  connect(): Promise<void>;
  /** The partition count of a topic; rejects when the topic does not exist. */
  partitionCount(topic: string): Promise<number>;
  /** The existing topics whose names match (internal topics excluded). */
  topicsMatching(pattern: RegExp): Promise<string[]>;
  /** Creates the topics that do not exist; existing ones are left unchanged. */
  createTopics(topics: readonly NewTopic[]): Promise<void>;
  createConsumer(options: ConsumerOptions): GroupConsumer;
  /** The producer is connected (and, if transactional, initialised) when the promise resolves. */
  createProducer(options: ProducerOptions): Promise<LogProducer>;
  /** The log start and end offsets of one partition; rejects when it does not exist. */
  offsetRange(partition: TopicPartition, isolationLevel: IsolationLevel): Promise<PartitionRange>;
  /** One partition's batches from `fromOffset` to `toOffset`, outside any group (see part 7). */
  readPartition(options: ReadPartitionOptions): AsyncIterable<FetchedBatch>;
  close(): Promise<void>;
}

/**
 * A commit refused because the group has moved on to a generation this member is not part of
 * (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID), from
 * `commitOffsets` or `sendOffsetsToTransaction`. Not a failure of the app: the records whose
 * offsets it carried are delivered again, to whichever member owns them after the rebalance.
 */
export class GroupRebalancedError extends Error {
  override readonly name: string = 'GroupRebalancedError';
}

export function topicPartitionKey(topicPartition: TopicPartition): string {
  return `${topicPartition.topic}\u0000${topicPartition.partition}`;
}
