import { createRequire } from 'node:module';
import type { Kafka } from 'kafkajs';
import type { FetchedBatch, IsolationLevel, LogRecord, PartitionRange, ReadPartitionOptions, RecordHeaders, TopicPartition } from './stream-log.js';

/**
 * Reading one partition outside any group through kafkajs 2.2.4 (the `StreamLog` contract, part 7).
 *
 * kafkajs has no assign-mode consumer: a consumer always joins a group. So this reader uses the
 * client's cluster object (what kafkajs's own admin and consumer are built on, reached through the
 * `Kafka` instance's private factory) to send ListOffsets and Fetch to the partition's leader, and
 * kafkajs's own `Batch` to drop control records and aborted transactions exactly as its consumer
 * does. Both are kafkajs internals, pinned by the exact kafkajs version in package.json and covered
 * by the contract suite.
 */

interface KafkajsMessage {
  readonly offset: string;
  readonly timestamp: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: Record<string, Buffer | Buffer[] | undefined>;
  readonly isControlRecord?: boolean;
}
interface KafkajsPartitionData {
  readonly partition: number;
  readonly errorCode: number;
  readonly highWatermark: string;
  readonly lastStableOffset?: string;
  readonly messages: KafkajsMessage[];
}
interface KafkajsBroker {
  fetch(request: Record<string, unknown>): Promise<{ responses: Array<{ topicName: string; partitions: KafkajsPartitionData[] }> }>;
}
interface KafkajsCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadataIfNecessary(): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(options: { nodeId: string }): Promise<KafkajsBroker>;
  fetchTopicsOffset(topics: Array<{ topic: string; fromBeginning: boolean; partitions: Array<{ partition: number }> }>): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
}
type KafkajsBatchConstructor = new (topic: string, fetchedOffset: string, partitionData: KafkajsPartitionData) => { readonly messages: KafkajsMessage[] };
type ClusterFactory = (options: { isolationLevel: number; allowAutoTopicCreation: boolean }) => KafkajsCluster;

const require = createRequire(import.meta.url);
const READ_PARTITION_MAX_BYTES_DEFAULT = 1_048_576;
const READ_PARTITION_WAIT_MS = 50;

function clusterFactory(kafka: Kafka): ClusterFactory {
  const symbol = Object.getOwnPropertySymbols(kafka).find((entry) => entry.description === 'private:Kafka:createCluster');
  const factory = symbol === undefined ? undefined : (kafka as unknown as Record<symbol, unknown>)[symbol];
  if (typeof factory !== 'function') throw new Error('this kafkajs version has no cluster factory: reading a partition outside a group needs kafkajs 2.2.4');
  return factory as ClusterFactory;
}

/** Clusters per isolation level, connected on first use and closed with the log. */
export class KafkajsPartitionReader {
  private readonly clusters = new Map<IsolationLevel, Promise<KafkajsCluster>>();
  private readonly BatchClass: KafkajsBatchConstructor;

  constructor(private readonly kafka: Kafka) {
    this.BatchClass = require('kafkajs/src/consumer/batch.js') as KafkajsBatchConstructor;
  }

  async offsetRange(partition: TopicPartition, isolationLevel: IsolationLevel): Promise<PartitionRange> {
    const cluster = await this.cluster(isolationLevel, partition.topic);
    const offsetOf = async (fromBeginning: boolean): Promise<bigint> => {
      const [result] = await cluster.fetchTopicsOffset([{ topic: partition.topic, fromBeginning, partitions: [{ partition: partition.partition }] }]);
      const entry = result?.partitions.find((candidate) => candidate.partition === partition.partition);
      if (entry === undefined) throw new Error(`partition ${partition.partition} of topic "${partition.topic}" does not exist`);
      return BigInt(entry.offset);
    };
    return { logStartOffset: await offsetOf(true), endOffset: await offsetOf(false) };
  }

  async *readPartition(options: ReadPartitionOptions): AsyncGenerator<FetchedBatch> {
    const { topic, partition, toOffset, isolationLevel } = options;
    if (options.fromOffset >= toOffset) return;
    const { logStartOffset } = await this.offsetRange(options, isolationLevel);
    let position = options.fromOffset < logStartOffset ? logStartOffset : options.fromOffset;
    const cluster = await this.cluster(isolationLevel, topic);
    const maxBytes = options.maxBytes ?? READ_PARTITION_MAX_BYTES_DEFAULT;
    while (position < toOffset) {
      const leaders = cluster.findLeaderForPartitions(topic, [partition]);
      const nodeId = Object.keys(leaders)[0];
      if (nodeId === undefined) throw new Error(`partition ${partition} of topic "${topic}" has no leader`);
      const broker = await cluster.findBroker({ nodeId });
      const response = await broker.fetch({
        replicaId: -1,
        isolationLevel: isolationLevel === 'read_committed' ? 1 : 0,
        maxWaitTime: READ_PARTITION_WAIT_MS,
        minBytes: 1,
        maxBytes,
        topics: [{ topic, partitions: [{ partition, fetchOffset: String(position), maxBytes }] }],
      });
      const data = response.responses.find((entry) => entry.topicName === topic)?.partitions.find((entry) => entry.partition === partition);
      if (data === undefined) throw new Error(`the fetch of ${topic}[${partition}] got no answer for the partition`);
      if (data.errorCode !== 0) throw new Error(`reading ${topic}[${partition}] at offset ${position} failed with Kafka error code ${data.errorCode}`);
      const within = data.messages.filter((message) => BigInt(message.offset) >= position);
      if (within.length === 0) continue;
      // Control records and aborted transactions count for the position, not as records.
      let nextOffset = BigInt(within[within.length - 1]!.offset) + 1n;
      const visible = new this.BatchClass(topic, String(position), data).messages;
      const records: LogRecord[] = [];
      for (const message of visible) {
        const offset = BigInt(message.offset);
        if (offset >= toOffset) continue;
        records.push({ offset, timestamp: Number(message.timestamp), key: message.key, value: message.value, headers: (message.headers ?? {}) as RecordHeaders });
      }
      if (nextOffset > toOffset && records.length < visible.length) nextOffset = toOffset;
      const highWatermark = BigInt(isolationLevel === 'read_committed' && data.lastStableOffset !== undefined && data.lastStableOffset !== '-1' ? data.lastStableOffset : data.highWatermark);
      yield { topic, partition, records, nextOffset, highWatermark };
      position = nextOffset;
    }
  }

  async close(): Promise<void> {
    const clusters = [...this.clusters.values()];
    this.clusters.clear();
    for (const cluster of clusters) await (await cluster.catch(() => undefined))?.disconnect().catch(() => undefined);
  }

  private async cluster(isolationLevel: IsolationLevel, topic: string): Promise<KafkajsCluster> {
    let cluster = this.clusters.get(isolationLevel);
    if (cluster === undefined) {
      cluster = (async () => {
        const created = clusterFactory(this.kafka)({ isolationLevel: isolationLevel === 'read_committed' ? 1 : 0, allowAutoTopicCreation: false });
        await created.connect();
        return created;
      })();
      this.clusters.set(isolationLevel, cluster);
      cluster.catch(() => this.clusters.delete(isolationLevel));
    }
    const connected = await cluster;
    await connected.addTargetTopic(topic);
    await connected.refreshMetadataIfNecessary();
    return connected;
  }
}
