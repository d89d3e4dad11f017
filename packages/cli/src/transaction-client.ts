import { ApiKey, ErrorCode } from '@defter/protocol';
import { TRANSACTION_STATES } from '@defter/broker';
import type { ClusterClient, TopicInfo } from './cluster-client.js';
import { KafkaProtocolError, type KafkaConnection } from './kafka-connection.js';
import { CoordinatorKeyType, findCoordinator } from './find-coordinator.js';

/**
 * The transaction side of the CLI over the raw protocol (kafkajs' admin has none of it):
 * ListTransactions on every broker, DescribeTransactions at each id's transaction coordinator
 * (FindCoordinator key type 1), DescribeProducers at each partition's leader.
 */

/** Version ranges this client encodes (ListTransactions v1 adds the duration filter). */
export const TRANSACTION_CLIENT_VERSIONS = {
  listTransactions: { min: 0, max: 1 },
  describeTransactions: { min: 0, max: 0 },
  describeProducers: { min: 0, max: 0 },
} as const;

/** The state names a transaction coordinator reports (Kafka's `TransactionState`). */
export const TRANSACTION_STATE_NAMES: readonly string[] = TRANSACTION_STATES;

/** "No offset" / "no time" in DescribeProducers and DescribeTransactions. */
const NONE = -1n;

export interface TransactionListing {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly state: string;
}

export interface ListTransactionsFilter {
  /** Empty: every state. */
  readonly states: readonly string[];
  /** Empty: every producer. */
  readonly producerIds: readonly bigint[];
  /** Only transactions running longer than this (ListTransactions v1); undefined: no filter. */
  readonly durationMsMin?: number;
}

export interface TransactionPartitions {
  readonly topic: string;
  readonly partitions: readonly number[];
}

export interface TransactionDescription {
  readonly transactionalId: string;
  readonly state: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly transactionTimeoutMs: number;
  /** Milliseconds since the epoch; null when the coordinator has none (-1). */
  readonly transactionStartTimeMs: bigint | null;
  /** Sorted by topic, partitions ascending. */
  readonly topics: readonly TransactionPartitions[];
}

export interface ProducerOfPartition {
  readonly partition: number;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  /** -1 when the producer has written nothing the partition remembers. */
  readonly lastSequence: number;
  /** Milliseconds since the epoch; null when unknown. */
  readonly lastTimestampMs: bigint | null;
  readonly coordinatorEpoch: number;
  /** The first offset of the producer's open transaction (what holds the LSO back); null when none is open. */
  readonly currentTxnStartOffset: bigint | null;
}

/** The ids the coordinator did not know: `describe` fails with this, naming all of them. */
export class UnknownTransactionalIdError extends Error {
  override readonly name = 'UnknownTransactionalIdError';
  constructor(readonly transactionalIds: readonly string[]) {
    super(`transactional id${transactionalIds.length === 1 ? '' : 's'} ${transactionalIds.map((id) => `'${id}'`).join(', ')} not found`);
  }
}

export class TransactionClient {
  constructor(private readonly cluster: ClusterClient) {}

  /**
   * The transactions of every broker that match `filter`, sorted by id. State names the
   * coordinator does not know are an error (they would silently match nothing).
   */
  async listTransactions(filter: ListTransactionsFilter): Promise<TransactionListing[]> {
    const metadata = await this.cluster.metadata([]);
    const listings = new Map<string, TransactionListing>();
    for (const broker of metadata.brokers) {
      const connection = await this.cluster.leaderConnection(broker.nodeId);
      const range = TRANSACTION_CLIENT_VERSIONS.listTransactions;
      const version = connection.versionFor(ApiKey.ListTransactions, filter.durationMsMin === undefined ? range.min : 1, range.max);
      const response = await connection.send(ApiKey.ListTransactions, version, {
        stateFilters: [...filter.states],
        producerIdFilters: [...filter.producerIds],
        ...(version >= 1 ? { durationFilter: BigInt(filter.durationMsMin ?? -1) } : {}),
      });
      if (response.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(response.errorCode, `listing the transactions of broker ${broker.nodeId}`);
      if (response.unknownStateFilters.length > 0) throw new UnknownTransactionStateError(response.unknownStateFilters);
      for (const state of response.transactionStates) {
        listings.set(state.transactionalId, { transactionalId: state.transactionalId, producerId: state.producerId, state: state.transactionState });
      }
    }
    return [...listings.values()].sort((a, b) => compareText(a.transactionalId, b.transactionalId));
  }

  /** The connection to a transactional id's coordinator; retries while it is loading or moving. */
  async coordinator(transactionalId: string): Promise<KafkaConnection> {
    return findCoordinator(this.cluster, transactionalId, CoordinatorKeyType.TRANSACTION);
  }


  /**
   * Each id's transaction as its coordinator sees it, in the order given. Ids no coordinator knows
   * are one `UnknownTransactionalIdError` naming all of them.
   */
  async describeTransactions(transactionalIds: readonly string[]): Promise<TransactionDescription[]> {
    const described = new Map<string, TransactionDescription>();
    const unknown: string[] = [];
    for (const transactionalId of new Set(transactionalIds)) {
      const connection = await this.coordinator(transactionalId);
      const range = TRANSACTION_CLIENT_VERSIONS.describeTransactions;
      const version = connection.versionFor(ApiKey.DescribeTransactions, range.min, range.max);
      const response = await connection.send(ApiKey.DescribeTransactions, version, { transactionalIds: [transactionalId] });
      const state = response.transactionStates.find((candidate) => candidate.transactionalId === transactionalId);
      if (state === undefined) throw new Error(`the coordinator did not describe transactional id '${transactionalId}'`);
      if (state.errorCode === ErrorCode.TRANSACTIONAL_ID_NOT_FOUND) {
        unknown.push(transactionalId);
        continue;
      }
      if (state.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(state.errorCode, `describing transactional id '${transactionalId}'`);
      described.set(transactionalId, {
        transactionalId,
        state: state.transactionState,
        producerId: state.producerId,
        producerEpoch: state.producerEpoch,
        transactionTimeoutMs: state.transactionTimeoutMs,
        transactionStartTimeMs: state.transactionStartTimeMs < 0n ? null : state.transactionStartTimeMs,
        topics: [...state.topics]
          .sort((a, b) => compareText(a.topic, b.topic))
          .map(({ topic, partitions }) => ({ topic, partitions: [...partitions].sort((a, b) => a - b) })),
      });
    }
    if (unknown.length > 0) throw new UnknownTransactionalIdError(unknown);
    return transactionalIds.filter((id, index) => transactionalIds.indexOf(id) === index).map((id) => described.get(id)!);
  }

  /**
   * The producers each partition keeps state for (DescribeProducers at each leader), sorted by
   * partition then producer id.
   */
  async describeProducers(topic: TopicInfo, partitions: readonly number[]): Promise<ProducerOfPartition[]> {
    const byLeader = new Map<number, number[]>();
    for (const partition of partitions) {
      const info = topic.partitions.find((candidate) => candidate.partition === partition);
      if (info === undefined) throw new Error(`topic '${topic.name}' has no partition ${partition} (it has ${topic.partitions.length})`);
      byLeader.set(info.leaderId, [...(byLeader.get(info.leaderId) ?? []), partition]);
    }
    const producers: ProducerOfPartition[] = [];
    for (const [leaderId, leaderPartitions] of byLeader) {
      const connection = await this.cluster.leaderConnection(leaderId);
      const range = TRANSACTION_CLIENT_VERSIONS.describeProducers;
      const version = connection.versionFor(ApiKey.DescribeProducers, range.min, range.max);
      const response = await connection.send(ApiKey.DescribeProducers, version, { topics: [{ name: topic.name, partitionIndexes: leaderPartitions }] });
      for (const topicResponse of response.topics) {
        for (const partition of topicResponse.partitions) {
          if (partition.errorCode !== ErrorCode.NONE) {
            throw new KafkaProtocolError(partition.errorCode, `the producers of ${topic.name}-${partition.partitionIndex}`, partition.errorMessage);
          }
          for (const producer of partition.activeProducers) {
            producers.push({
              partition: partition.partitionIndex,
              producerId: producer.producerId,
              producerEpoch: producer.producerEpoch,
              lastSequence: producer.lastSequence,
              lastTimestampMs: producer.lastTimestamp < 0n ? null : producer.lastTimestamp,
              coordinatorEpoch: producer.coordinatorEpoch,
              currentTxnStartOffset: producer.currentTxnStartOffset === NONE ? null : producer.currentTxnStartOffset,
            });
          }
        }
      }
    }
    return producers.sort((a, b) => a.partition - b.partition || (a.producerId < b.producerId ? -1 : a.producerId > b.producerId ? 1 : 0));
  }
}

/** State filters the coordinator does not know. */
export class UnknownTransactionStateError extends Error {
  override readonly name = 'UnknownTransactionStateError';
  constructor(readonly states: readonly string[]) {
    super(`unknown transaction state${states.length === 1 ? '' : 's'} ${states.map((state) => `'${state}'`).join(', ')}`);
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
