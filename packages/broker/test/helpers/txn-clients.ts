import type { ExecutionContext } from 'ava';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { ApiKey, ErrorCode } from '@defter/protocol';
import { RawClient } from './raw-client.js';
import { parseConsumed, type ConsumedLine } from './keyed-lines.js';
import { kcatArgs, runProcess } from './processes.js';

/**
 * Clients for the `txn-*` end-to-end tests: kafkajs set up the way a transactional application
 * sets it up, a plain producer for sentinel records, and readers (a kafkajs group consumer, kcat)
 * that read a topic up to a sentinel in every partition, in either isolation level.
 */

/** A kafkajs client that retries through rebalances, coordinator loads and restarts. */
export function txnKafka(bootstrap: string, clientId = 'txn-e2e'): Kafka {
  return new Kafka({ clientId, brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1_000 } });
}

/** A connected transactional producer (`idempotent`, one request in flight, as kafkajs requires). */
export async function transactionalProducer(t: ExecutionContext, kafka: Kafka, transactionalId: string, transactionTimeoutMs = 60_000): Promise<Producer> {
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: transactionTimeoutMs, allowAutoTopicCreation: false });
  t.teardown(() => producer.disconnect());
  await producer.connect();
  return producer;
}

/** The value a sentinel record carries: the last record a reader of the partition needs to see. */
export const SENTINEL = 'sentinel';

/**
 * Appends one non-transactional record `SENTINEL` to every partition: it lies after everything
 * written before, so a reader that reaches it in each partition has read all of them.
 */
export async function sendSentinels(kafka: Kafka, topics: readonly string[], partitions: number): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.sendBatch({
      acks: -1,
      topicMessages: topics.map((topic) => ({ topic, messages: Array.from({ length: partitions }, (_, partition) => ({ value: SENTINEL, partition })) })),
    });
  } finally {
    await producer.disconnect();
  }
}

/** One record read: where, and its value. */
export interface ReadRecord {
  readonly offset: number;
  readonly value: string;
}

/** `topic/partition` → records in the order read. */
export type ReadByPartition = Map<string, ReadRecord[]>;

export function partitionKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

/**
 * Reads `topics` (each `partitions` wide) from the beginning with a kafkajs group consumer in
 * `isolation` until it has read a SENTINEL in every partition; returns what it read before them.
 */
export async function readUntilSentinels(
  t: ExecutionContext,
  kafka: Kafka,
  options: { groupId: string; topics: readonly string[]; partitions: number; isolation: 'read_committed' | 'read_uncommitted'; timeoutMs?: number },
): Promise<ReadByPartition> {
  const consumer = kafka.consumer({
    groupId: options.groupId,
    readUncommitted: options.isolation === 'read_uncommitted',
    maxWaitTimeInMs: 200,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
  });
  t.teardown(() => consumer.disconnect());
  const read: ReadByPartition = new Map();
  const finished = new Set<string>();
  const expected = options.topics.length * options.partitions;
  const timeoutMs = options.timeoutMs ?? 45_000;
  await consumer.connect();
  await consumer.subscribe({ topics: [...options.topics], fromBeginning: true });
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${options.isolation} reader reached the sentinel of ${[...finished].join(', ')} only, within ${timeoutMs} ms`)),
      timeoutMs,
    );
    void consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        const key = partitionKey(topic, partition);
        if (finished.has(key)) return;
        const value = message.value?.toString() ?? '';
        if (value === SENTINEL) {
          finished.add(key);
          if (finished.size === expected) {
            clearTimeout(timer);
            resolve();
          }
          return;
        }
        const list = read.get(key) ?? [];
        list.push({ offset: Number(message.offset), value });
        read.set(key, list);
      },
    });
  });
  try {
    await done;
  } finally {
    await consumer.disconnect();
  }
  return read;
}

/** The values of `read` per partition, for deepEqual against the expected ones. */
export function valuesByPartition(read: ReadByPartition): Record<string, string[]> {
  return Object.fromEntries([...read].sort(([a], [b]) => a.localeCompare(b)).map(([key, records]) => [key, records.map((record) => record.value)]));
}

/**
 * Reads a whole topic from the beginning with kcat (librdkafka) in `isolation`, up to the end
 * librdkafka sees (in read_committed, the last stable offset).
 */
export async function kcatReadAll(t: ExecutionContext, bootstrap: string, topic: string, isolation: 'read_committed' | 'read_uncommitted'): Promise<ConsumedLine[]> {
  const result = await runProcess(
    t,
    'kcat',
    kcatArgs(bootstrap, '-C', '-e', '-t', topic, '-o', 'beginning', '-X', `isolation.level=${isolation}`, '-f', '%k:%s:%p:%o\\n'),
    { timeoutMs: 60_000 },
  );
  if (result.code !== 0) throw new Error(`kcat -C exited with ${result.code ?? result.signal}: ${result.stderr}`);
  return parseConsumed(result.stdout);
}

/** `[last stable offset, high watermark]` of each partition 0..partitions-1 (ListOffsets v7, latest). */
export async function stableAndHigh(port: number, topic: string, partitions: number): Promise<Array<[bigint, bigint]>> {
  const raw = await RawClient.connect(port);
  try {
    const ends = async (isolationLevel: number) => {
      const { body } = await raw.request(ApiKey.ListOffsets, 7, {
        replicaId: -1,
        isolationLevel,
        topics: [{ name: topic, partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp: -1n })) }],
      });
      const byPartition = new Map(body.topics[0]!.partitions.map((p) => [p.partitionIndex, p]));
      return Array.from({ length: partitions }, (_, partition) => {
        const answer = byPartition.get(partition)!;
        if (answer.errorCode !== ErrorCode.NONE) throw new Error(`ListOffsets ${topic}-${partition}: error ${answer.errorCode}`);
        return answer.offset!;
      });
    };
    const stable = await ends(1);
    const high = await ends(0);
    return stable.map((lso, partition) => [lso, high[partition]!]);
  } finally {
    raw.close();
  }
}

/** Whether no partition has an open transaction (LSO == HW everywhere); false while the broker does not answer. */
export async function allStable(port: number, topic: string, partitions: number): Promise<boolean> {
  try {
    return (await stableAndHigh(port, topic, partitions)).every(([lso, high]) => lso === high);
  } catch {
    return false;
  }
}
