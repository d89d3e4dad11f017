import { CompressionType, DecodeError, ErrorCode, decodeRecordBatch, encodeRecordBatch, isControl, lastOffsetOf, readBatchHeader } from '@defter/protocol';
import type { Clock, LogManager, PartitionLog } from '@defter/log';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import { KafkaError } from '../errors.js';
import type { MetadataStore } from '../metadata/metadata-store.js';
import { partitionForGroup } from '../group/offset-store.js';
import { decodeTransactionLogKey, decodeTransactionLogValue, encodeTransactionLogKey, encodeTransactionLogValue, type TransactionLogValue } from './transaction-state-records.js';

/** Kafka's internal topic of transaction coordinator state. */
export const TRANSACTION_STATE_TOPIC = '__transaction_state';

/** How much of a partition one read brings while loading. */
const LOAD_CHUNK_BYTES = 1_048_576;

export interface TransactionStateLogOptions {
  logManager: LogManager;
  metadata: MetadataStore;
  config: BrokerConfig;
  clock: Clock;
  logger: Logger;
}

/** The latest stored value of every transactional id (expired ids, whose last record is a tombstone, are absent). */
export type LoadedTransactionState = Map<string, TransactionLogValue>;

/**
 * The `__transaction_state` topic: a compacted topic keyed by transactional id, whose latest value
 * per key is the id's state. Ids map to its partitions the way Kafka maps them (Java's
 * String.hashCode), so a data directory moved from one defter to another keeps its layout.
 */
export class TransactionStateLog {
  private partitionCount: number;
  private topicReady: Promise<void> | undefined;

  constructor(private readonly options: TransactionStateLogOptions) {
    this.partitionCount = options.metadata.topic(TRANSACTION_STATE_TOPIC)?.partitions ?? options.config.transactionStateLogNumPartitions;
  }

  /** Kafka's: abs(javaStringHashCode(transactionalId)) % partitions. */
  partitionFor(transactionalId: string): number {
    return partitionForGroup(transactionalId, this.partitionCount);
  }

  /** Creates the topic on first use (as Kafka does). */
  ensureTopic(): Promise<void> {
    if (this.topicReady === undefined) {
      const ready = this.options.metadata.topic(TRANSACTION_STATE_TOPIC) !== undefined ? Promise.resolve() : this.createTopic();
      this.topicReady = ready;
      ready.catch(() => {
        if (this.topicReady === ready) this.topicReady = undefined;
      });
    }
    return this.topicReady;
  }

  /** Appends the id's new state (null: a tombstone); resolves once it is in the log. */
  async write(transactionalId: string, value: TransactionLogValue | null): Promise<void> {
    await this.ensureTopic();
    const log = this.partitionLog(this.partitionFor(transactionalId));
    const batch = encodeRecordBatch({
      compression: CompressionType.None,
      records: [
        {
          timestamp: BigInt(this.options.clock.nowMs()),
          key: encodeTransactionLogKey(transactionalId),
          value: value === null ? null : encodeTransactionLogValue(value),
        },
      ],
    });
    await log.append(batch);
  }

  /**
   * Every id's latest state, replayed from every partition (last value per key wins, tombstones
   * delete). Records that cannot be read are logged and skipped: one bad record must not keep
   * every other transaction from being finished.
   */
  async load(): Promise<LoadedTransactionState> {
    const states: LoadedTransactionState = new Map();
    if (this.options.metadata.topic(TRANSACTION_STATE_TOPIC) === undefined) return states;
    for (let partition = 0; partition < this.partitionCount; partition++) {
      const log = this.options.logManager.getLog(TRANSACTION_STATE_TOPIC, partition);
      if (log === undefined) {
        this.options.logger.warn({ topic: TRANSACTION_STATE_TOPIC, partition }, 'transaction state partition has no log: its transactions are not loaded');
        continue;
      }
      await this.loadPartition(log, partition, states);
    }
    return states;
  }

  private async loadPartition(log: PartitionLog, partition: number, states: LoadedTransactionState): Promise<void> {
    const { logger } = this.options;
    let offset = log.logStartOffset;
    const end = log.logEndOffset;
    while (offset < end) {
      const batches = await log.readBatches(offset, LOAD_CHUNK_BYTES, { maxOffset: end });
      if (batches.length === 0) break;
      for (const bytes of batches) {
        offset = lastOffsetOf(readBatchHeader(bytes)) + 1n;
        try {
          const batch = decodeRecordBatch(bytes);
          if (isControl(batch.attributes)) continue;
          for (const record of batch.records) {
            if (record.key === null) continue;
            const key = decodeTransactionLogKey(record.key);
            if (key.type !== 'transaction') continue;
            if (record.value === null) states.delete(key.transactionalId);
            else states.set(key.transactionalId, decodeTransactionLogValue(record.value));
          }
        } catch (error) {
          if (!(error instanceof DecodeError)) throw error;
          logger.warn({ topic: TRANSACTION_STATE_TOPIC, partition, offset: String(offset - 1n), reason: error.message }, 'skipping an unreadable transaction state record');
        }
      }
    }
  }

  private partitionLog(partition: number): PartitionLog {
    const log = this.options.logManager.getLog(TRANSACTION_STATE_TOPIC, partition);
    if (log === undefined) {
      if (this.options.metadata.topic(TRANSACTION_STATE_TOPIC) === undefined) this.topicReady = undefined;
      throw new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${TRANSACTION_STATE_TOPIC}-${partition} is not available`);
    }
    return log;
  }

  private async createTopic(): Promise<void> {
    const { metadata, config, logger } = this.options;
    try {
      const topic = await metadata.createTopic(TRANSACTION_STATE_TOPIC, config.transactionStateLogNumPartitions, {
        'cleanup.policy': 'compact',
        'segment.bytes': String(config.transactionStateLogSegmentBytes),
      });
      this.partitionCount = topic.partitions;
      logger.info({ topic: TRANSACTION_STATE_TOPIC, partitions: topic.partitions }, 'created the transaction state topic');
    } catch (error) {
      const existing = metadata.topic(TRANSACTION_STATE_TOPIC);
      if (!(error instanceof KafkaError && error.code === ErrorCode.TOPIC_ALREADY_EXISTS && existing !== undefined)) throw error;
      this.partitionCount = existing.partitions;
    }
  }
}
