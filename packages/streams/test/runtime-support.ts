/**
 * Shared by the runtime and DSL tests: a real defter broker on a temporary directory, and kafkajs
 * clients to feed input topics and read output topics.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { Kafka, logLevel, type Consumer, type IHeaders, type Message } from 'kafkajs';
import { startBroker, type RunningBroker, type StartBrokerOptions } from '@defter/broker';
import type { StreamsApp } from '../src/index.js';

export interface TestCluster {
  readonly broker: RunningBroker;
  readonly bootstrap: string;
  readonly kafka: Kafka;
  createTopic(name: string, partitions: number): Promise<void>;
}

export async function startCluster(t: ExecutionContext, options: Partial<StartBrokerOptions> = {}): Promise<TestCluster> {
  const dataDir = await mkdtemp(join(tmpdir(), 'defter-streams-'));
  const broker = await startBroker({
    dataDir,
    port: 0,
    groupInitialRebalanceDelayMs: 0,
    offsetsTopicNumPartitions: 3,
    transactionStateLogNumPartitions: 3,
    ...options,
  });
  t.teardown(async () => {
    await broker.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const bootstrap = `${broker.host}:${broker.port}`;
  const kafka = new Kafka({ clientId: 'streams-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  return {
    broker,
    bootstrap,
    kafka,
    createTopic: async (name, partitions) => {
      await broker.context.metadata.createTopic(name, partitions, {});
    },
  };
}

/** Writes messages (one request per `chunkSize`, so the log holds several record batches). */
export async function produce(cluster: TestCluster, topic: string, messages: readonly Message[], chunkSize = 100): Promise<void> {
  const producer = cluster.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let index = 0; index < messages.length; index += chunkSize) {
      await producer.send({ topic, acks: -1, messages: messages.slice(index, index + chunkSize) });
    }
  } finally {
    await producer.disconnect();
  }
}

export interface ReadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Record<string, string>;
  readonly timestamp: number;
}

/**
 * Reads topics from the beginning with a fresh group until `count` records arrived (or the
 * timeout passed), then waits `settleMs` more to catch records beyond the count.
 */
export async function readAll(
  cluster: TestCluster,
  topics: readonly string[],
  count: number,
  options: { readUncommitted?: boolean; timeoutMs?: number; settleMs?: number } = {},
): Promise<ReadRecord[]> {
  const consumer: Consumer = cluster.kafka.consumer({
    groupId: `reader-${Math.random().toString(36).slice(2)}`,
    readUncommitted: options.readUncommitted ?? false,
    maxWaitTimeInMs: 100,
  });
  const records: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        records.push({
          topic,
          partition,
          offset: BigInt(message.offset),
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? null,
          headers: decodeHeaders(message.headers),
          timestamp: Number(message.timestamp),
        });
      },
    });
    await waitUntil(() => records.length >= count, options.timeoutMs ?? 20_000);
    await sleep(options.settleMs ?? 300);
  } finally {
    await consumer.disconnect();
  }
  return records;
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    result[name] = Array.isArray(value) ? value.map(String).join(',') : String(value);
  }
  return result;
}

/** The group's committed offsets of `topic`, by partition ('-1' when none). */
export async function committedOffsets(cluster: TestCluster, groupId: string, topic: string): Promise<string[]> {
  const admin = cluster.kafka.admin();
  await admin.connect();
  try {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return result!.partitions.sort((a, b) => a.partition - b.partition).map((p) => p.offset);
  } finally {
    await admin.disconnect();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(intervalMs);
  }
  return condition();
}

/** Closes the app when the test ends, whatever happened. */
export function closeAtEnd(t: ExecutionContext, streamsApp: StreamsApp): StreamsApp {
  t.teardown(() => streamsApp.close());
  return streamsApp;
}

/** Waits until every task's records are processed and committed (no record in flight, no lag). */
export async function waitForIdle(streamsApp: StreamsApp, recordsIn: number, timeoutMs = 20_000): Promise<boolean> {
  return waitUntil(() => {
    const metrics = streamsApp.metrics();
    const total = metrics.tasks.reduce((sum, task) => sum + task.recordsIn, 0);
    return total >= recordsIn && metrics.tasks.every((task) => task.inFlightRecords === 0);
  }, timeoutMs);
}
