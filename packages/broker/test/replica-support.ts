import {
  ApiKey,
  CompressionType,
  decodeRecordBatches,
  encodeRecordBatch,
  type FetchResponse,
  type ProduceResponsePartitionProduceResponse,
  type RecordBatch,
} from '@defter/protocol';
import type { ExecutionContext } from 'ava';
import { RawClient } from './helpers/raw-client.js';
import { startTestBroker, type TestBroker } from './helpers/test-broker.js';

/** A broker with topics already created, and a raw client connected to it (closed at teardown). */
export async function brokerWithTopics(
  t: ExecutionContext,
  topics: ReadonlyArray<{ name: string; partitions?: number; configs?: Record<string, string> }>,
): Promise<TestBroker & { client: RawClient }> {
  const test = await startTestBroker(t);
  for (const topic of topics) await test.broker.context.metadata.createTopic(topic.name, topic.partitions ?? 1, topic.configs ?? {});
  const client = await connectClient(t, test.port);
  return { ...test, client };
}

export async function connectClient(t: ExecutionContext, port: number): Promise<RawClient> {
  const client = await RawClient.connect(port);
  t.teardown(() => client.close());
  return client;
}

/** A batch of `values` (keys `k<i>`), timestamps `timestampMs + i`. */
export function makeBatch(values: readonly string[], options: { timestampMs?: bigint; compression?: CompressionType } = {}): Buffer {
  const timestampMs = options.timestampMs ?? 1_700_000_000_000n;
  return encodeRecordBatch({
    compression: options.compression ?? CompressionType.None,
    records: values.map((value, i) => ({
      timestamp: timestampMs + BigInt(i),
      key: Buffer.from(`k${i}`),
      value: Buffer.from(value),
      headers: [{ key: 'h', value: Buffer.from(`hv${i}`) }],
    })),
  });
}

/** Produces one batch to one partition and returns that partition's response. */
export async function produce(
  client: RawClient,
  topic: string,
  partition: number,
  records: Buffer | null,
  options: { version?: number; acks?: number } = {},
): Promise<ProduceResponsePartitionProduceResponse> {
  const { body } = await client.request(ApiKey.Produce, options.version ?? 7, {
    transactionalId: null,
    acks: options.acks ?? -1,
    timeoutMs: 5_000,
    topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
  });
  return body.responses[0]!.partitionResponses[0]!;
}

export interface FetchOptions {
  version?: number;
  maxWaitMs?: number;
  minBytes?: number;
  maxBytes?: number;
  partitionMaxBytes?: number;
  isolationLevel?: number;
  sessionId?: number;
  sessionEpoch?: number;
}

/** A Fetch of the given partitions (by name, v4-12) with a timeout above its maxWaitMs. */
export async function fetch(client: RawClient, partitions: ReadonlyArray<{ topic: string; partition: number; offset: bigint }>, options: FetchOptions = {}): Promise<FetchResponse> {
  const topics = [...new Set(partitions.map((p) => p.topic))].map((topic) => ({
    topic,
    partitions: partitions
      .filter((p) => p.topic === topic)
      .map((p) => ({ partition: p.partition, currentLeaderEpoch: -1, fetchOffset: p.offset, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: options.partitionMaxBytes ?? 1 << 20 })),
  }));
  const maxWaitMs = options.maxWaitMs ?? 0;
  const { body } = await client.request(
    ApiKey.Fetch,
    options.version ?? 11,
    {
      replicaId: -1,
      maxWaitMs,
      minBytes: options.minBytes ?? 1,
      maxBytes: options.maxBytes ?? 50 << 20,
      isolationLevel: options.isolationLevel ?? 1,
      sessionId: options.sessionId ?? 0,
      sessionEpoch: options.sessionEpoch ?? -1,
      topics,
      forgottenTopicsData: [],
      rackId: '',
    },
    { timeoutMs: maxWaitMs + 5_000 },
  );
  return body;
}

/** The batches of a fetched partition's records. */
export function batchesOf(records: Buffer | null): RecordBatch[] {
  return records === null || records.length === 0 ? [] : decodeRecordBatches(records);
}

/** `[offset, value]` of every record in a fetched partition's records. */
export function valuesOf(records: Buffer | null): Array<[bigint, string]> {
  return batchesOf(records).flatMap((batch) => batch.records.map((record): [bigint, string] => [batch.baseOffset + BigInt(record.offsetDelta), record.value?.toString() ?? '<null>']));
}

/** ListOffsets v(version) for one partition. */
export async function listOffset(client: RawClient, topic: string, partition: number, timestamp: bigint, version = 7, options: { isolationLevel?: number; maxNumOffsets?: number } = {}) {
  const { body } = await client.request(ApiKey.ListOffsets, version, {
    replicaId: -1,
    ...(version >= 2 ? { isolationLevel: options.isolationLevel ?? 0 } : {}),
    topics: [
      {
        name: topic,
        partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp, ...(version === 0 ? { maxNumOffsets: options.maxNumOffsets ?? 10 } : {}) }],
      },
    ],
  });
  return body.topics[0]!.partitions[0]!;
}
