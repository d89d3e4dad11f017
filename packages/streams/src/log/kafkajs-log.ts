import {
  Kafka,
  logLevel as KafkajsLogLevel,
  type Admin,
  type Batch,
  type Consumer,
  type IHeaders,
  type Message,
  type Producer,
  type TopicMessages,
  type Transaction,
} from 'kafkajs';
import type {
  ConsumerOptions,
  FetchedBatch,
  GroupConsumer,
  GroupHandlers,
  GroupMetadata,
  IsolationLevel,
  LogProducer,
  LogRecord,
  NewTopic,
  OffsetToCommit,
  OutgoingRecord,
  PartitionRange,
  ProducerOptions,
  ReadPartitionOptions,
  StreamLog,
  TopicPartition,
} from './stream-log.js';
import { GroupRebalancedError } from './stream-log.js';
import { KafkajsPartitionReader } from './kafkajs-partition-reader.js';
import { CoalescingSendQueue } from './coalescing-send-queue.js';

/**
 * The `StreamLog` over the Kafka protocol, through kafkajs 2.2.4: a defter broker, Apache Kafka or
 * Redpanda.
 *
 * What kafkajs cannot do, and what this file does about it:
 * - No revocation callback. A rebalance is seen when a heartbeat fails; kafkajs then emits
 *   REBALANCING and re-joins without waiting for anyone. `onRevoked` is called from that event, not
 *   awaited, so a commit it starts races the re-join (a commit with the old generation may be
 *   refused: the records are then processed again, never lost).
 * - No generation in TxnOffsetCommit (it sends v0-1) and no `requireStable` on OffsetFetch, so
 *   KIP-447's fencing of zombies by generation is not available: exactly-once relies on the
 *   transactional id alone (a restarted instance with the same id fences its predecessor).
 * - Heartbeats only between batches: while a batch is handled this file heartbeats on a timer, and
 *   a failed heartbeat (a rebalance) is rethrown once the batch is done, which makes kafkajs re-join.
 */
export interface KafkajsLogOptions {
  readonly brokers: readonly string[];
  readonly clientId?: string;
  readonly connectionTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** kafkajs's own log lines; silent unless asked. */
  readonly logLevel?: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
  /** The most key+value bytes one produce request carries (requests stay below message.max.bytes). */
  readonly produceRequestBytesMax?: number;
}

const LOG_LEVELS = {
  nothing: KafkajsLogLevel.NOTHING,
  error: KafkajsLogLevel.ERROR,
  warn: KafkajsLogLevel.WARN,
  info: KafkajsLogLevel.INFO,
  debug: KafkajsLogLevel.DEBUG,
} as const;

const PRODUCE_REQUEST_BYTES_MAX_DEFAULT = 512 * 1024;

export class KafkajsLog implements StreamLog {
  readonly name = 'kafkajs';
  readonly awaitsRevocation = false;
  private readonly kafka: Kafka;
  private readonly admin: Admin;
  private readonly produceRequestBytesMax: number;
  private readonly clients = new Set<{ close(): Promise<void> }>();
  private readonly partitionReader: KafkajsPartitionReader;

  constructor(options: KafkajsLogOptions) {
    if (options.brokers.length === 0) throw new RangeError('KafkajsLog needs at least one broker address');
    this.kafka = new Kafka({
      clientId: options.clientId ?? 'defter-streams',
      brokers: [...options.brokers],
      logLevel: LOG_LEVELS[options.logLevel ?? 'nothing'],
      ...(options.connectionTimeoutMs !== undefined ? { connectionTimeout: options.connectionTimeoutMs } : {}),
      ...(options.requestTimeoutMs !== undefined ? { requestTimeout: options.requestTimeoutMs } : {}),
    });
    this.admin = this.kafka.admin();
    this.produceRequestBytesMax = options.produceRequestBytesMax ?? PRODUCE_REQUEST_BYTES_MAX_DEFAULT;
    this.partitionReader = new KafkajsPartitionReader(this.kafka);
  }

  async connect(): Promise<void> {
    await this.admin.connect();
  }

  async partitionCount(topic: string): Promise<number> {
    const metadata = await this.admin.fetchTopicMetadata({ topics: [topic] }).catch((error: unknown) => {
      // kafkajs rejects a missing topic with the bare protocol error; the contract wants the topic named.
      if ((error as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') throw new Error(`topic "${topic}" does not exist`, { cause: error });
      throw error;
    });
    const found = metadata.topics.find((entry) => entry.name === topic);
    if (found === undefined || found.partitions.length === 0) throw new Error(`topic "${topic}" does not exist`);
    return found.partitions.length;
  }

  async topicsMatching(pattern: RegExp): Promise<string[]> {
    const topics = await this.admin.listTopics();
    return topics.filter((topic) => !topic.startsWith('__') && new RegExp(pattern.source, pattern.flags.replace('g', '')).test(topic)).sort();
  }

  async createTopics(topics: readonly NewTopic[]): Promise<void> {
    if (topics.length === 0) return;
    // createTopics answers false (not an error) for topics that exist already.
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({
        topic: topic.name,
        numPartitions: topic.partitions,
        configEntries: Object.entries(topic.configs ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
  }

  createConsumer(options: ConsumerOptions): GroupConsumer {
    const consumer = new KafkajsGroupConsumer(this.kafka, options);
    this.clients.add(consumer);
    return consumer;
  }

  async createProducer(options: ProducerOptions): Promise<LogProducer> {
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      ...(options.transactionalId !== undefined ? { transactionalId: options.transactionalId } : {}),
      ...(options.transactionTimeoutMs !== undefined ? { transactionTimeout: options.transactionTimeoutMs } : {}),
    });
    await producer.connect();
    if (options.transactionalId !== undefined) {
      // kafkajs sends the transactional InitProducerId (which fences older producers with this id)
      // only at the first transaction(), not in connect(): open one now and end it at once (nothing
      // reached the coordinator, so kafkajs sends no EndTxn), so that the contract's "fenced once
      // created" holds.
      await (await producer.transaction()).abort();
    }
    const logProducer = new KafkajsProducer(producer, this.produceRequestBytesMax, options.transactionalId !== undefined);
    this.clients.add(logProducer);
    return logProducer;
  }

  offsetRange(partition: TopicPartition, isolationLevel: IsolationLevel): Promise<PartitionRange> {
    return this.partitionReader.offsetRange(partition, isolationLevel);
  }

  readPartition(options: ReadPartitionOptions): AsyncIterable<FetchedBatch> {
    return this.partitionReader.readPartition(options);
  }

  async close(): Promise<void> {
    for (const client of this.clients) await client.close().catch(() => undefined);
    this.clients.clear();
    await this.partitionReader.close();
    await this.admin.disconnect();
  }
}

class KafkajsGroupConsumer implements GroupConsumer {
  private readonly consumer: Consumer;
  private assignment: TopicPartition[] = [];
  /** Batches wait for the runtime to have taken in the latest assignment. */
  private assigned: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    kafka: Kafka,
    private readonly options: ConsumerOptions,
  ) {
    this.consumer = kafka.consumer({
      groupId: options.groupId,
      readUncommitted: options.isolationLevel === 'read_uncommitted',
      maxBytesPerPartition: options.fetchMaxBytesPerPartition,
      maxWaitTimeInMs: options.fetchMaxWaitMs,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      allowAutoTopicCreation: false,
      // A crash is the runtime's to handle (it moves to ERROR); kafkajs must not restart behind it.
      retry: { retries: 5, restartOnFailure: async () => false },
    });
  }

  async run(handlers: GroupHandlers): Promise<void> {
    const { GROUP_JOIN, REBALANCING, CRASH } = this.consumer.events;
    this.consumer.on(GROUP_JOIN, (event) => {
      this.assignment = Object.entries(event.payload.memberAssignment).flatMap(([topic, partitions]) =>
        partitions.map((partition) => ({ topic, partition })),
      );
      this.assigned = Promise.resolve(handlers.onAssigned(this.assignment)).catch((error: unknown) => handlers.onCrash(asError(error)));
    });
    this.consumer.on(REBALANCING, () => {
      const revoked = this.assignment;
      this.assignment = [];
      Promise.resolve(handlers.onRevoked(revoked)).catch((error: unknown) => handlers.onCrash(asError(error)));
    });
    this.consumer.on(CRASH, (event) => {
      if (!this.closed) handlers.onCrash(asError(event.payload.error));
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [...this.options.topics], fromBeginning: this.options.fromBeginning });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      partitionsConsumedConcurrently: this.options.partitionsConcurrentlyMax,
      eachBatch: async ({ batch, heartbeat }) => {
        await this.assigned;
        let heartbeatError: unknown;
        const timer = setInterval(() => {
          heartbeat().catch((error: unknown) => {
            heartbeatError ??= error;
          });
        }, this.options.heartbeatIntervalMs);
        try {
          await handlers.onBatch(toFetchedBatch(batch));
        } finally {
          clearInterval(timer);
        }
        // Rethrown so that kafkajs sees the rebalance and re-joins.
        if (heartbeatError !== undefined) throw heartbeatError;
      },
    });
  }

  pause(partitions: readonly TopicPartition[]): void {
    this.consumer.pause(groupByTopic(partitions));
  }

  resume(partitions: readonly TopicPartition[]): void {
    this.consumer.resume(groupByTopic(partitions));
  }

  async commitOffsets(offsets: readonly OffsetToCommit[]): Promise<void> {
    if (offsets.length === 0) return;
    await this.consumer
      .commitOffsets(offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset: offset.toString() })))
      .catch((error: unknown) => rethrowRebalance(error, this.options.groupId, 'committing offsets'));
  }

  groupMetadata(): GroupMetadata {
    return { groupId: this.options.groupId, generationId: -1, memberId: '' };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.consumer.disconnect();
  }
}

/** kafkajs's types for the codes that mean "the group moved on", and its messages for them (a NonRetriable wrapper keeps only the message). */
const REBALANCE_TYPES: ReadonlySet<string> = new Set(['ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS', 'FENCED_INSTANCE_ID']);
const REBALANCE_MESSAGES: readonly string[] = [
  'Specified group generation id is not valid',
  'The coordinator is not aware of this member',
  'The group is rebalancing, so a rejoin is needed',
];

function rethrowRebalance(error: unknown, groupId: string, action: string): never {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    const type = (current as { type?: unknown }).type;
    if ((typeof type === 'string' && REBALANCE_TYPES.has(type)) || REBALANCE_MESSAGES.some((message) => current instanceof Error && current.message.includes(message))) {
      throw new GroupRebalancedError(`${action} for group "${groupId}" was refused: the group has rebalanced (${current.message})`, { cause: error });
    }
  }
  throw error;
}

function toFetchedBatch(batch: Batch): FetchedBatch {
  const records: LogRecord[] = batch.messages.map((message) => ({
    offset: BigInt(message.offset),
    timestamp: Number(message.timestamp),
    key: message.key ?? null,
    value: message.value ?? null,
    headers: message.headers ?? {},
  }));
  return {
    topic: batch.topic,
    partition: batch.partition,
    records,
    nextOffset: BigInt(batch.lastOffset()) + 1n,
    highWatermark: BigInt(batch.highWatermark),
  };
}

function groupByTopic(partitions: readonly TopicPartition[]): Array<{ topic: string; partitions: number[] }> {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of partitions) {
    const list = byTopic.get(topic) ?? [];
    list.push(partition);
    byTopic.set(topic, list);
  }
  return [...byTopic].map(([topic, list]) => ({ topic, partitions: list }));
}

/**
 * One produce request in flight at a time (the idempotent producer's order), later sends coalesced
 * into the next request up to `requestBytesMax`. Inside a transaction the sends go to it.
 */
class KafkajsProducer implements LogProducer {
  private readonly sendQueue: CoalescingSendQueue<OutgoingRecord>;
  private transaction: Transaction | undefined;

  constructor(
    private readonly producer: Producer,
    requestBytesMax: number,
    private readonly transactional: boolean,
  ) {
    this.sendQueue = new CoalescingSendQueue({
      requestBytesMax,
      recordBytes: (record) => (record.key?.length ?? 0) + (record.value?.length ?? 0) + 64,
      writeRequest: (records) => this.writeRequest(records),
    });
  }

  send(records: readonly OutgoingRecord[]): Promise<void> {
    if (this.sendQueue.failure !== undefined) return Promise.reject(this.sendQueue.failure);
    if (records.length === 0) return Promise.resolve();
    if (this.transactional && this.transaction === undefined) {
      return Promise.reject(new Error('a transactional producer sends only inside a transaction: call beginTransaction() first'));
    }
    return this.sendQueue.send(records);
  }

  /** One request of the send queue: the records grouped by topic, in the order the topics first appear. */
  private async writeRequest(records: readonly OutgoingRecord[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const record of records) {
      const messages = byTopic.get(record.topic) ?? [];
      messages.push(toKafkajsMessage(record));
      byTopic.set(record.topic, messages);
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    const sender = this.transaction ?? this.producer;
    await sender.sendBatch({ topicMessages, acks: -1 });
  }

  /** Resolves once every queued send is written; after a failed request, rejects with its error. */
  private idle(): Promise<void> {
    return this.sendQueue.idle();
  }

  async beginTransaction(): Promise<void> {
    if (!this.transactional) throw new Error('beginTransaction() needs a producer created with a transactionalId');
    if (this.transaction !== undefined) throw new Error('a transaction is already open');
    this.transaction = await this.producer.transaction();
  }

  async sendOffsetsToTransaction(offsets: readonly OffsetToCommit[], group: GroupMetadata): Promise<void> {
    const transaction = this.openTransaction();
    await this.idle();
    if (offsets.length === 0) return;
    await transaction
      .sendOffsets({ consumerGroupId: group.groupId, topics: groupOffsetsByTopic(offsets) })
      .catch((error: unknown) => rethrowRebalance(error, group.groupId, 'sending offsets to the transaction'));
  }

  async commitTransaction(): Promise<void> {
    const transaction = this.openTransaction();
    await this.idle();
    await transaction.commit();
    this.transaction = undefined;
  }

  async abortTransaction(): Promise<void> {
    const transaction = this.openTransaction();
    await this.idle().catch(() => undefined);
    this.transaction = undefined;
    await transaction.abort();
  }

  inTransaction(): boolean {
    return this.transaction !== undefined;
  }

  private openTransaction(): Transaction {
    if (this.transaction === undefined) throw new Error('no transaction is open');
    return this.transaction;
  }

  async close(): Promise<void> {
    await this.idle().catch(() => undefined);
    await this.producer.disconnect();
  }
}

function toKafkajsMessage(record: OutgoingRecord): Message {
  return {
    key: record.key,
    value: record.value,
    partition: record.partition,
    timestamp: String(record.timestamp),
    headers: record.headers as IHeaders,
  };
}

function groupOffsetsByTopic(offsets: readonly OffsetToCommit[]): Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> {
  const byTopic = new Map<string, Array<{ partition: number; offset: string }>>();
  for (const { topic, partition, offset } of offsets) {
    const list = byTopic.get(topic) ?? [];
    list.push({ partition, offset: offset.toString() });
    byTopic.set(topic, list);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
