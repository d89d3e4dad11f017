import { CompressionType, DecodeError, encodeRecordBatch, isControl, type RecordBatch } from '@defter/protocol';
import type { Clock, LogManager } from '@defter/log';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import type { MetadataStore } from '../metadata/metadata-store.js';
import { InternalTopic } from '../metadata/internal-topic.js';
import { decodeTransactionLogKey, decodeTransactionLogValue, encodeTransactionLogKey, encodeTransactionLogValue, type TransactionLogValue } from './transaction-state-records.js';

/** Kafka's internal topic of transaction coordinator state. */
export const TRANSACTION_STATE_TOPIC = '__transaction_state';

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
  private readonly topic: InternalTopic;

  constructor(private readonly options: TransactionStateLogOptions) {
    this.topic = new InternalTopic({
      name: TRANSACTION_STATE_TOPIC,
      metadata: options.metadata,
      logManager: options.logManager,
      logger: options.logger,
      partitions: options.config.transactionStateLogNumPartitions,
      configs: { 'cleanup.policy': 'compact', 'segment.bytes': String(options.config.transactionStateLogSegmentBytes) },
    });
  }

  partitionFor(transactionalId: string): number {
    return this.topic.partitionFor(transactionalId);
  }

  /** Creates the topic on first use (as Kafka does). */
  ensureTopic(): Promise<void> {
    return this.topic.ensure();
  }

  /** Appends the id's new state (null: a tombstone); resolves once it is in the log. */
  async write(transactionalId: string, value: TransactionLogValue | null): Promise<void> {
    await this.topic.ensure();
    const log = this.topic.log(this.partitionFor(transactionalId));
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
    if (!this.topic.exists) return states;
    await this.topic.replay((batch, partition) => this.loadBatch(batch, partition, states));
    return states;
  }

  private loadBatch(batch: RecordBatch, partition: number, states: LoadedTransactionState): void {
    if (isControl(batch.attributes)) return;
    for (const record of batch.records) {
      if (record.key === null) continue;
      try {
        const key = decodeTransactionLogKey(record.key);
        if (key.type !== 'transaction') continue;
        if (record.value === null) states.delete(key.transactionalId);
        else states.set(key.transactionalId, decodeTransactionLogValue(record.value));
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        const offset = String(batch.baseOffset + BigInt(record.offsetDelta));
        this.options.logger.warn({ topic: TRANSACTION_STATE_TOPIC, partition, offset, reason: error.message }, 'skipping an unreadable transaction state record');
      }
    }
  }
}
