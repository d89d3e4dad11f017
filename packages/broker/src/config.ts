import { defaultLogConfig, type LogConfig } from '@defter/log';

/**
 * The broker's settings. Each one that Kafka has carries Kafka's name in its comment; the loader
 * (`config-loader.ts`) accepts Kafka's names from a file, flags and the environment.
 */
export interface BrokerConfig {
  /** node.id */
  nodeId: number;
  /** log.dirs (one directory) */
  dataDir: string;
  /** The host of `listeners`; loopback by default. */
  host: string;
  /** The port of `listeners`; 0 picks a free one. */
  port: number;
  /** The host of `advertised.listeners`; defaults to `host` (or 127.0.0.1 when `host` is a wildcard). */
  advertisedHost: string | undefined;
  /** The port of `advertised.listeners`; defaults to the bound port. */
  advertisedPort: number | undefined;
  /** cluster.id; generated and stored in the data directory on first start when absent. */
  clusterId: string | undefined;
  /** auto.create.topics.enable (off by default here: a typo should not create a topic). */
  autoCreateTopicsEnable: boolean;
  /** num.partitions: partitions of an auto-created topic, and of CreateTopics with -1. */
  numPartitions: number;
  /** default.replication.factor */
  defaultReplicationFactor: number;
  /** message.max.bytes: the largest record batch accepted, unless a topic overrides max.message.bytes. */
  messageMaxBytes: number;
  /** socket.request.max.bytes: a larger frame closes the connection. */
  socketRequestMaxBytes: number;
  /** connections.max.idle.ms: connections silent for longer are closed. */
  connectionsMaxIdleMs: number;
  /** queued.max.requests, per connection: reading pauses while this many requests wait. */
  queuedMaxRequests: number;
  /** fetch.max.bytes: the cap on one Fetch response. */
  fetchMaxBytes: number;
  /** log.retention.check.interval.ms */
  logRetentionCheckIntervalMs: number;
  /** log.cleaner.backoff.ms: how often the cleaner looks for work. */
  logCleanerBackoffMs: number;
  /** The topic-level defaults (`log.retention.ms` → retentionMs, `log.segment.bytes` → segmentBytes, …). */
  log: LogConfig;
  /** How long close() waits for in-flight requests before it closes connections anyway. */
  shutdownTimeoutMs: number;
  /** group.initial.rebalance.delay.ms: how long the first rebalance of an empty group waits for more members. */
  groupInitialRebalanceDelayMs: number;
  /** group.min.session.timeout.ms */
  groupMinSessionTimeoutMs: number;
  /** group.max.session.timeout.ms */
  groupMaxSessionTimeoutMs: number;
  /** group.max.size: members per group. */
  groupMaxSize: number;
  /** offsets.topic.num.partitions: partitions of `__consumer_offsets`. */
  offsetsTopicNumPartitions: number;
  /** offsets.topic.segment.bytes */
  offsetsTopicSegmentBytes: number;
  /** offsets.retention.minutes: committed offsets of a group that has been empty this long expire. */
  offsetsRetentionMinutes: number;
  /** offsets.retention.check.interval.ms */
  offsetsRetentionCheckIntervalMs: number;
  /** offset.metadata.max.bytes: the longest metadata string an OffsetCommit may carry. */
  offsetMetadataMaxBytes: number;
  /** producer.id.expiration.ms: a partition forgets a producer idle this long (no open transaction). */
  producerIdExpirationMs: number;
  /** producer.id.expiration.check.interval.ms */
  producerIdExpirationCheckIntervalMs: number;
  /** transaction.state.log.num.partitions: partitions of `__transaction_state`. */
  transactionStateLogNumPartitions: number;
  /** transaction.state.log.segment.bytes */
  transactionStateLogSegmentBytes: number;
  /** transaction.max.timeout.ms: the longest transaction timeout a producer may ask for. */
  transactionMaxTimeoutMs: number;
  /** transactional.id.expiration.ms: a transactional id idle this long is forgotten. */
  transactionalIdExpirationMs: number;
  /** transaction.abort.timed.out.transaction.cleanup.interval.ms: how often timed-out transactions are looked for. */
  transactionAbortTimedOutTransactionCleanupIntervalMs: number;
  /** transaction.remove.expired.transaction.cleanup.interval.ms: how often expired transactional ids are looked for. */
  transactionRemoveExpiredTransactionCleanupIntervalMs: number;
}

export const defaultBrokerConfig: Readonly<BrokerConfig> = Object.freeze({
  nodeId: 1,
  dataDir: './data',
  host: '127.0.0.1',
  port: 9092,
  advertisedHost: undefined,
  advertisedPort: undefined,
  clusterId: undefined,
  autoCreateTopicsEnable: false,
  numPartitions: 1,
  defaultReplicationFactor: 1,
  messageMaxBytes: 1_048_588,
  socketRequestMaxBytes: 104_857_600,
  connectionsMaxIdleMs: 600_000,
  queuedMaxRequests: 500,
  fetchMaxBytes: 57_671_680,
  logRetentionCheckIntervalMs: 300_000,
  logCleanerBackoffMs: 15_000,
  log: { ...defaultLogConfig, maxMessageBytes: 1_048_588 },
  shutdownTimeoutMs: 10_000,
  groupInitialRebalanceDelayMs: 3_000,
  groupMinSessionTimeoutMs: 6_000,
  groupMaxSessionTimeoutMs: 1_800_000,
  groupMaxSize: 2_147_483_647,
  offsetsTopicNumPartitions: 50,
  offsetsTopicSegmentBytes: 104_857_600,
  offsetsRetentionMinutes: 10_080,
  offsetsRetentionCheckIntervalMs: 600_000,
  offsetMetadataMaxBytes: 4_096,
  producerIdExpirationMs: 86_400_000,
  producerIdExpirationCheckIntervalMs: 600_000,
  transactionStateLogNumPartitions: 50,
  transactionStateLogSegmentBytes: 104_857_600,
  transactionMaxTimeoutMs: 900_000,
  transactionalIdExpirationMs: 604_800_000,
  transactionAbortTimedOutTransactionCleanupIntervalMs: 10_000,
  transactionRemoveExpiredTransactionCleanupIntervalMs: 3_600_000,
});
