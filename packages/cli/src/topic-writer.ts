import { partitionForKey } from '@defter/broker';
import { ApiKey, ErrorCode, encodeRecordBatch, type RecordBatchInput } from '@defter/protocol';
import type { ClusterClient, TopicInfo } from './cluster-client.js';
import { KafkaProtocolError } from './kafka-connection.js';
import type { FormattableRecord } from './record-format.js';
import type { RequestTransport } from './request-transport.js';

/**
 * Writes records to a topic over the raw protocol (so it works in-process too), keeping each
 * record's key, value, headers and timestamp (as CreateTime), with acks=all and one request in
 * flight per partition: records land in each partition in the order given.
 *
 * Partitions: the record's own partition number when the target has at least as many partitions
 * as the source (a replay keeps its layout), else murmur2 of the key (`partitionForKey`, what
 * Kafka's clients do); a record without a key then goes to its partition number modulo the
 * target's partition count.
 */

/** Produce versions this writer encodes: RecordBatch v2 (v3+), below the topic-id-only versions. */
const PRODUCE_VERSIONS = { min: 3, max: 9 } as const;
const ACKS_ALL = -1;
const PRODUCE_TIMEOUT_MS = 30_000;
/** Below the default max.message.bytes (1 MiB) with room for the batch and record overheads. */
const BATCH_BYTES_MAX = 512 * 1024;
const BATCH_RECORDS_MAX = 10_000;

export interface TopicWriterOptions {
  /** The partition count of the topic the records come from. */
  sourcePartitionCount: number;
}

export class TopicWriter {
  private readonly keepPartitions: boolean;
  private readonly partitionCount: number;

  constructor(
    private readonly client: ClusterClient<RequestTransport>,
    private readonly target: TopicInfo,
    options: TopicWriterOptions,
  ) {
    this.partitionCount = target.partitions.length;
    this.keepPartitions = this.partitionCount >= options.sourcePartitionCount;
  }

  /** The target partition of a record. */
  partitionFor(record: FormattableRecord): number {
    if (this.keepPartitions) return record.partition;
    if (record.key === null) return record.partition % this.partitionCount;
    return partitionForKey(record.key, this.partitionCount);
  }

  /** Writes `records` and resolves once every one is acknowledged by all in-sync replicas. */
  async write(records: readonly FormattableRecord[]): Promise<void> {
    // Per partition, a queue of batches in record order; each request takes the next batch of every partition.
    const queues = new Map<number, RecordBatchInput['records'][]>();
    const sizes = new Map<number, number>();
    for (const record of records) {
      const partition = this.partitionFor(record);
      let queue = queues.get(partition);
      if (queue === undefined) queues.set(partition, (queue = [[]]));
      const bytes = (record.key?.length ?? 0) + (record.value?.length ?? 0) + record.headers.reduce((sum, header) => sum + header.key.length + (header.value?.length ?? 0), 0);
      let last = queue[queue.length - 1]!;
      if (last.length > 0 && (last.length >= BATCH_RECORDS_MAX || (sizes.get(partition) ?? 0) + bytes > BATCH_BYTES_MAX)) {
        queue.push((last = []));
        sizes.set(partition, 0);
      }
      last.push({ timestamp: record.timestamp, key: record.key, value: record.value, headers: record.headers.map((header) => ({ key: header.key, value: header.value })) });
      sizes.set(partition, (sizes.get(partition) ?? 0) + bytes);
    }
    while (queues.size > 0) {
      const round = new Map<number, RecordBatchInput['records']>();
      for (const [partition, queue] of queues) {
        round.set(partition, queue.shift()!);
        if (queue.length === 0) queues.delete(partition);
      }
      await this.produce(round);
    }
  }

  private async produce(batches: ReadonlyMap<number, RecordBatchInput['records']>): Promise<void> {
    const byLeader = new Map<number, number[]>();
    for (const partition of batches.keys()) {
      const leaderId = this.target.partitions.find((info) => info.partition === partition)?.leaderId ?? -1;
      byLeader.set(leaderId, [...(byLeader.get(leaderId) ?? []), partition]);
    }
    await Promise.all(
      [...byLeader].map(async ([leaderId, partitions]) => {
        const connection = await this.client.leaderConnection(leaderId);
        const version = connection.versionFor(ApiKey.Produce, PRODUCE_VERSIONS.min, PRODUCE_VERSIONS.max);
        const response = await connection.send(ApiKey.Produce, version, {
          transactionalId: null,
          acks: ACKS_ALL,
          timeoutMs: PRODUCE_TIMEOUT_MS,
          topicData: [
            {
              name: this.target.name,
              partitionData: partitions.map((partition) => ({ index: partition, records: encodeRecordBatch({ records: batches.get(partition)! }) })),
            },
          ],
        });
        for (const topic of response.responses) {
          for (const partition of topic.partitionResponses) {
            if (partition.errorCode !== ErrorCode.NONE) {
              throw new KafkaProtocolError(partition.errorCode, `writing to ${this.target.name}-${partition.index}`, partition.errorMessage);
            }
          }
        }
      }),
    );
  }
}
