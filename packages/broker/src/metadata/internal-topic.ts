import { DecodeError, ErrorCode, decodeRecordBatch, lastOffsetOf, readBatchHeader, type RecordBatch } from '@defter/protocol';
import type { LogManager, PartitionLog } from '@defter/log';
import type { Logger } from 'pino';
import { KafkaError } from '../errors.js';
import type { MetadataStore } from './metadata-store.js';

/** How much of a partition one read brings while replaying. */
const REPLAY_CHUNK_BYTES = 1 << 20;

export interface InternalTopicOptions {
  readonly name: string;
  readonly metadata: MetadataStore;
  readonly logManager: LogManager;
  readonly logger: Logger;
  /** Partitions to create it with (`offsets.topic.num.partitions`, …). */
  readonly partitions: number;
  /** Topic configs at creation (compaction, segment size). */
  readonly configs: Readonly<Record<string, string>>;
}

/**
 * A coordinator's internal topic (`__consumer_offsets`, `__transaction_state`): created on first
 * use as Kafka does, keyed by Kafka's hash so a data directory keeps its layout, and replayed at
 * start. A topic an admin deleted is created again by the next write.
 */
export class InternalTopic {
  private ready: Promise<void> | undefined;
  private count: number;

  constructor(private readonly options: InternalTopicOptions) {
    this.count = options.metadata.topic(options.name)?.partitions ?? options.partitions;
  }

  get name(): string {
    return this.options.name;
  }

  get partitionCount(): number {
    return this.count;
  }

  get exists(): boolean {
    return this.options.metadata.topic(this.options.name) !== undefined;
  }

  /** Kafka's: abs(javaStringHashCode(key)) % partitions. */
  partitionFor(key: string): number {
    return coordinatorPartitionFor(key, this.count);
  }

  /** Creates the topic if it does not exist yet; a failed creation is tried again by the next call. */
  ensure(): Promise<void> {
    if (this.ready === undefined) {
      const ready = this.exists ? Promise.resolve() : this.create();
      this.ready = ready;
      ready.catch(() => {
        if (this.ready === ready) this.ready = undefined;
      });
    }
    return this.ready;
  }

  /** The log of one partition, or COORDINATOR_NOT_AVAILABLE (the topic was deleted: the next `ensure` creates it again). */
  log(partition: number): PartitionLog {
    const log = this.options.logManager.getLog(this.options.name, partition);
    if (log === undefined) {
      if (!this.exists) this.ready = undefined;
      throw new KafkaError(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${this.options.name}-${partition} is not available`);
    }
    return log;
  }

  /**
   * Hands every batch of every partition to `onBatch`, in log order. A batch that cannot be
   * decoded is logged and skipped: one bad batch must not keep a coordinator from loading the rest.
   */
  async replay(onBatch: (batch: RecordBatch, partition: number) => void): Promise<void> {
    const { name, logManager, logger } = this.options;
    for (let partition = 0; partition < this.count; partition++) {
      const log = logManager.getLog(name, partition);
      if (log === undefined) {
        logger.warn({ topic: name, partition }, 'an internal topic partition has no log: its records are not loaded');
        continue;
      }
      await replayPartition(log, (batch) => onBatch(batch, partition), (offset, error) => {
        logger.warn({ topic: name, partition, offset: String(offset), reason: error.message }, 'skipping an unreadable batch of an internal topic');
      });
    }
  }

  private async create(): Promise<void> {
    const { name, metadata, logger } = this.options;
    try {
      const topic = await metadata.createTopic(name, this.options.partitions, { ...this.options.configs });
      this.count = topic.partitions;
      logger.info({ topic: name, partitions: topic.partitions }, 'created an internal topic');
    } catch (error) {
      // Created meanwhile (by an admin request): use it as it is.
      const existing = metadata.topic(name);
      if (!(error instanceof KafkaError && error.code === ErrorCode.TOPIC_ALREADY_EXISTS && existing !== undefined)) throw error;
      this.count = existing.partitions;
    }
  }
}

/** Every batch of a partition from its log start to its current end, decoded. */
async function replayPartition(log: PartitionLog, onBatch: (batch: RecordBatch) => void, onUnreadable: (lastOffset: bigint, error: DecodeError) => void): Promise<void> {
  let offset = log.logStartOffset;
  const end = log.logEndOffset;
  while (offset < end) {
    const batches = await log.readBatches(offset, REPLAY_CHUNK_BYTES, { maxOffset: end });
    if (batches.length === 0) break;
    for (const bytes of batches) {
      // The log hands back whole batches it validated on append or recovery: the header is there.
      const lastOffset = lastOffsetOf(readBatchHeader(bytes));
      offset = lastOffset + 1n;
      let batch: RecordBatch;
      try {
        batch = decodeRecordBatch(bytes);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        onUnreadable(lastOffset, error);
        continue;
      }
      onBatch(batch);
    }
  }
}

/** Java's String.hashCode over UTF-16 code units, then Kafka's Utils.abs (MIN_VALUE → 0) and modulo. */
export function coordinatorPartitionFor(key: string, partitions: number): number {
  let hash = 0;
  for (let i = 0; i < key.length; i++) hash = (Math.imul(hash, 31) + key.charCodeAt(i)) | 0;
  const positive = hash === -0x80000000 ? 0 : Math.abs(hash);
  return positive % partitions;
}
