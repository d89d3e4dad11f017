import { ApiKey, ErrorCode } from '@defter/protocol';
import type { GroupMetadata, LogProducer, OffsetToCommit, OutgoingRecord, TopicPartition } from '../stream-log.js';
import { topicPartitionKey } from '../stream-log.js';
import { CoalescingSendQueue } from '../coalescing-send-queue.js';
import type { BrokerConnection } from './connection.js';
import { EmbeddedLogError, ProducerFencedError, RebalancedError, delay, isFencingCode, isRebalanceCode, isTransactionRetryCode } from './log-errors.js';
import { encodeProducerBatch, estimatedRecordBytes, type ProducerIdentity } from './record-batches.js';

export interface EmbeddedProducerOptions {
  readonly transactionalId?: string;
  readonly transactionTimeoutMs: number;
  /** The most record bytes one Produce request carries (each partition's batch stays below max.message.bytes). */
  readonly requestBytesMax: number;
}

/** The longest a transactional request is retried while the coordinator is busy (CONCURRENT_TRANSACTIONS…). */
const TRANSACTION_RETRY_MS_MAX = 60_000;
const TRANSACTION_RETRY_BACKOFF_MS = 10;
/** Retriable Produce errors (NOT_ENOUGH_REPLICAS, …) are retried with the same sequences this many times. */
const PRODUCE_ATTEMPTS_MAX = 10;
const PRODUCE_RETRY_BACKOFF_MS = 50;
const PRODUCE_TIMEOUT_MS = 30_000;
const SEQUENCE_MAX = 0x7fffffff;

interface PartitionBatch extends TopicPartition {
  readonly bytes: Buffer;
}

interface RequestPartition extends TopicPartition {
  readonly records: OutgoingRecord[];
}

/** One request's records grouped by partition, in the order the partitions first appear; no string key per record. */
class RequestPartitions {
  readonly entries: RequestPartition[] = [];
  private readonly byTopic = new Map<string, Map<number, RequestPartition>>();

  recordsOf(topic: string, partition: number): OutgoingRecord[] {
    let byPartition = this.byTopic.get(topic);
    if (byPartition === undefined) {
      byPartition = new Map();
      this.byTopic.set(topic, byPartition);
    }
    let entry = byPartition.get(partition);
    if (entry === undefined) {
      entry = { topic, partition, records: [] };
      byPartition.set(partition, entry);
      this.entries.push(entry);
    }
    return entry.records;
  }
}

/**
 * The idempotent (optionally transactional) producer over the in-process client.
 *
 * Order: one Produce request at a time; sends that arrive meanwhile are coalesced into the next
 * request (one batch per partition), so a send resolves after every earlier one. Each partition's
 * batches carry consecutive sequence numbers from this producer's id and epoch, so a retried
 * request never duplicates. Transactions: AddPartitionsToTxn before the first write to a
 * partition, AddOffsetsToTxn + TxnOffsetCommit with the group's generation and member id (KIP-447:
 * a member that lost its partitions in a rebalance cannot commit their offsets), EndTxn.
 */
export class EmbeddedProducer implements LogProducer {
  private readonly sendQueue: CoalescingSendQueue<OutgoingRecord>;
  private identity: ProducerIdentity = { producerId: -1n, producerEpoch: -1, transactional: false };
  private readonly sequences = new Map<string, number>();
  private transactionOpen = false;
  /** Partitions added to the open transaction (AddPartitionsToTxn done). */
  private readonly partitionsInTransaction = new Set<string>();
  /** Whether the open transaction has anything on the coordinator (partitions or offsets). */
  private transactionStarted = false;
  private closed = false;

  constructor(
    private readonly connection: BrokerConnection,
    private readonly options: EmbeddedProducerOptions,
  ) {
    this.sendQueue = new CoalescingSendQueue({
      requestBytesMax: options.requestBytesMax,
      recordBytes: estimatedRecordBytes,
      writeRequest: (records) => this.writeRequest(records),
    });
  }

  /** InitProducerId: a producer id, or (transactional) the id's next epoch, which fences older producers. */
  async init(): Promise<void> {
    const transactionalId = this.options.transactionalId ?? null;
    const response = await this.retryingTransactional('InitProducerId', () =>
      this.connection.client.send(ApiKey.InitProducerId, this.connection.versions.initProducerId, {
        transactionalId,
        transactionTimeoutMs: this.options.transactionTimeoutMs,
        producerId: -1n,
        producerEpoch: -1,
      }),
    );
    this.identity = { producerId: response.producerId, producerEpoch: response.producerEpoch, transactional: transactionalId !== null };
  }

  send(records: readonly OutgoingRecord[]): Promise<void> {
    if (this.sendQueue.failure !== undefined) return Promise.reject(this.sendQueue.failure);
    if (this.closed) return Promise.reject(new Error('the producer is closed'));
    if (records.length === 0) return Promise.resolve();
    if (this.identity.transactional && !this.transactionOpen) {
      return Promise.reject(new Error('a transactional producer sends only inside a transaction: call beginTransaction() first'));
    }
    return this.sendQueue.send(records);
  }

  /** One request of the send queue: one batch per partition, in the order the partitions first appear. */
  private async writeRequest(records: readonly OutgoingRecord[]): Promise<void> {
    const partitions = new RequestPartitions();
    for (const record of records) partitions.recordsOf(record.topic, record.partition).push(record);
    if (this.identity.transactional) await this.addPartitionsToTransaction(partitions.entries);
    const batches: PartitionBatch[] = partitions.entries.map((entry) => ({
      topic: entry.topic,
      partition: entry.partition,
      bytes: encodeProducerBatch(entry.records, this.identity, this.takeSequences(entry, entry.records.length)),
    }));
    await this.produce(batches);
  }

  /** The base sequence for `count` records of a partition; the next batch starts after them. */
  private takeSequences(partition: TopicPartition, count: number): number {
    const key = topicPartitionKey(partition);
    const base = this.sequences.get(key) ?? 0;
    this.sequences.set(key, (base + count) % (SEQUENCE_MAX + 1));
    return base;
  }

  /** One Produce request; partitions answered with a retriable error are sent again as they were (same sequences). */
  private async produce(batches: readonly PartitionBatch[]): Promise<void> {
    let remaining = batches;
    for (let attempt = 1; remaining.length > 0; attempt++) {
      const byTopic = new Map<string, PartitionBatch[]>();
      for (const batch of remaining) byTopic.set(batch.topic, [...(byTopic.get(batch.topic) ?? []), batch]);
      const response = await this.connection.client.send(ApiKey.Produce, this.connection.versions.produce, {
        transactionalId: this.options.transactionalId ?? null,
        acks: -1,
        timeoutMs: PRODUCE_TIMEOUT_MS,
        topicData: [...byTopic].map(([name, list]) => ({ name, partitionData: list.map((batch) => ({ index: batch.partition, records: batch.bytes })) })),
      });
      const retry: PartitionBatch[] = [];
      for (const batch of remaining) {
        const result = response.responses.find((topic) => topic.name === batch.topic)?.partitionResponses.find((entry) => entry.index === batch.partition);
        const code = result?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
        // A duplicate is a batch an earlier attempt wrote: acknowledged.
        if (code === ErrorCode.NONE || code === ErrorCode.DUPLICATE_SEQUENCE_NUMBER) continue;
        const action = `producing to ${batch.topic}[${batch.partition}]`;
        if (isFencingCode(code) && this.options.transactionalId !== undefined) throw new ProducerFencedError(code, this.options.transactionalId, action);
        const error = new EmbeddedLogError(code, action, result?.errorMessage ?? undefined);
        if (!error.retriable || attempt >= PRODUCE_ATTEMPTS_MAX) throw error;
        retry.push(batch);
      }
      remaining = retry;
      if (remaining.length > 0) await delay(PRODUCE_RETRY_BACKOFF_MS);
    }
  }

  private async addPartitionsToTransaction(partitions: readonly TopicPartition[]): Promise<void> {
    const added = partitions.filter((partition) => !this.partitionsInTransaction.has(topicPartitionKey(partition)));
    if (added.length === 0) return;
    const transactionalId = this.options.transactionalId!;
    const byTopic = new Map<string, number[]>();
    for (const { topic, partition } of added) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
    await this.retryingTransactional('AddPartitionsToTxn', async () => {
      const response = await this.connection.client.send(ApiKey.AddPartitionsToTxn, this.connection.versions.addPartitionsToTxn, {
        v3AndBelowTransactionalId: transactionalId,
        v3AndBelowProducerId: this.identity.producerId,
        v3AndBelowProducerEpoch: this.identity.producerEpoch,
        v3AndBelowTopics: [...byTopic].map(([name, list]) => ({ name, partitions: list })),
      });
      // The request succeeds or fails as a whole; the first real error says why.
      const codes = (response.resultsByTopicV3AndBelow ?? []).flatMap((topic) => topic.resultsByPartition.map((result) => result.partitionErrorCode));
      const code = codes.find((entry) => entry !== ErrorCode.NONE && entry !== ErrorCode.OPERATION_NOT_ATTEMPTED) ?? codes.find((entry) => entry !== ErrorCode.NONE);
      return { errorCode: code ?? ErrorCode.NONE };
    });
    for (const partition of added) this.partitionsInTransaction.add(topicPartitionKey(partition));
    this.transactionStarted = true;
  }

  /**
   * Runs a transactional request, retrying while the coordinator is busy (an earlier transaction's
   * markers being written, a fenced predecessor's transaction being aborted); a fenced producer and
   * any other error reject with a clear error.
   */
  private async retryingTransactional<R extends { errorCode: number }>(action: string, request: () => Promise<R>): Promise<R> {
    const deadline = Date.now() + TRANSACTION_RETRY_MS_MAX;
    for (;;) {
      const response = await request();
      const code = response.errorCode;
      if (code === ErrorCode.NONE) return response;
      if (isTransactionRetryCode(code) && Date.now() < deadline) {
        await delay(TRANSACTION_RETRY_BACKOFF_MS);
        continue;
      }
      if (isFencingCode(code) && this.options.transactionalId !== undefined) throw new ProducerFencedError(code, this.options.transactionalId, action);
      throw new EmbeddedLogError(code, action);
    }
  }

  /** Resolves once every queued send is written; after a failed request, rejects with its error. */
  private idle(): Promise<void> {
    return this.sendQueue.idle();
  }

  async beginTransaction(): Promise<void> {
    if (!this.identity.transactional) throw new Error('beginTransaction() needs a producer created with a transactionalId');
    if (this.transactionOpen) throw new Error('a transaction is already open');
    if (this.sendQueue.failure !== undefined) throw this.sendQueue.failure;
    this.transactionOpen = true;
    this.transactionStarted = false;
    this.partitionsInTransaction.clear();
  }

  async sendOffsetsToTransaction(offsets: readonly OffsetToCommit[], group: GroupMetadata): Promise<void> {
    this.requireOpenTransaction();
    await this.idle();
    if (offsets.length === 0) return;
    const transactionalId = this.options.transactionalId!;
    await this.retryingTransactional('AddOffsetsToTxn', () =>
      this.connection.client.send(ApiKey.AddOffsetsToTxn, this.connection.versions.addOffsetsToTxn, {
        transactionalId,
        producerId: this.identity.producerId,
        producerEpoch: this.identity.producerEpoch,
        groupId: group.groupId,
      }),
    );
    this.transactionStarted = true;
    const byTopic = new Map<string, OffsetToCommit[]>();
    for (const offset of offsets) byTopic.set(offset.topic, [...(byTopic.get(offset.topic) ?? []), offset]);
    const action = `committing offsets of group "${group.groupId}" in the transaction`;
    await this.retryingTransactional(action, async () => {
      const response = await this.connection.client.send(ApiKey.TxnOffsetCommit, this.connection.versions.txnOffsetCommit, {
        transactionalId,
        groupId: group.groupId,
        producerId: this.identity.producerId,
        producerEpoch: this.identity.producerEpoch,
        generationId: group.generationId,
        memberId: group.memberId,
        groupInstanceId: null,
        topics: [...byTopic].map(([name, list]) => ({
          name,
          partitions: list.map(({ partition, offset }) => ({ partitionIndex: partition, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null })),
        })),
      });
      const code = response.topics.flatMap((topic) => topic.partitions.map((partition) => partition.errorCode)).find((entry) => entry !== ErrorCode.NONE);
      if (code !== undefined && isRebalanceCode(code)) throw new RebalancedError(code, group.groupId, action);
      return { errorCode: code ?? ErrorCode.NONE };
    });
  }

  async commitTransaction(): Promise<void> {
    this.requireOpenTransaction();
    await this.idle();
    await this.endTransaction(true);
  }

  async abortTransaction(): Promise<void> {
    this.requireOpenTransaction();
    await this.idle().catch(() => undefined);
    await this.endTransaction(false);
  }

  private async endTransaction(committed: boolean): Promise<void> {
    // A transaction that wrote nothing never reached the coordinator: there is nothing to end.
    if (this.transactionStarted) {
      await this.retryingTransactional(committed ? 'EndTxn (commit)' : 'EndTxn (abort)', () =>
        this.connection.client.send(ApiKey.EndTxn, this.connection.versions.endTxn, {
          transactionalId: this.options.transactionalId!,
          producerId: this.identity.producerId,
          producerEpoch: this.identity.producerEpoch,
          committed,
        }),
      );
    }
    this.transactionOpen = false;
    this.transactionStarted = false;
    this.partitionsInTransaction.clear();
  }

  inTransaction(): boolean {
    return this.transactionOpen;
  }

  private requireOpenTransaction(): void {
    if (!this.transactionOpen) throw new Error('no transaction is open');
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle().catch(() => undefined);
  }
}
