/**
 * Reads a query's output topic back (after timing) and checks it against the reference: the same
 * number of records, the same count per key, and equal content — parsed JSON, deeply — for a
 * sample of each key's records (every `stride`-th, and always the first and last).
 */
import { isDeepStrictEqual } from 'node:util';
import { ApiKey, ErrorCode } from '@defter/protocol';
import type { InProcessClient } from '@defter/broker';
import type { StreamLog } from '../src/index.js';
import type { ReferenceOutput } from './reference.js';

const LATEST_TIMESTAMP = -1n;

/** The log end offset of each partition of `topic`. */
export async function endOffsets(client: InProcessClient, topic: string, partitions: number): Promise<bigint[]> {
  const indexes = Array.from({ length: partitions }, (_, index) => index);
  const response = await client.send(ApiKey.ListOffsets, 7, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: topic, partitions: indexes.map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp: LATEST_TIMESTAMP })) }],
  });
  const answered = response.topics[0]?.partitions ?? [];
  return indexes.map((index) => {
    const partition = answered.find((entry) => entry.partitionIndex === index);
    if (partition === undefined || partition.errorCode !== ErrorCode.NONE || partition.offset === undefined) throw new Error(`ListOffsets for ${topic}-${index} failed with error code ${String(partition?.errorCode)}`);
    return partition.offset;
  });
}

export interface ReadRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
}

/**
 * Every record of `topic` below `until` (end offsets), per partition in offset order, through a
 * consumer group of its own. Keys and values are copied: fetched bytes may live in pooled buffers.
 */
export async function readTopic(log: StreamLog, topic: string, until: readonly bigint[], timeoutMs: number): Promise<ReadRecord[][]> {
  const records: ReadRecord[][] = until.map(() => []);
  const positions = until.map(() => 0n);
  let finish: (error?: Error) => void = () => {};
  const finished = new Promise<void>((resolve, reject) => {
    finish = (error) => (error === undefined ? resolve() : reject(error));
  });
  const checkDone = () => {
    if (positions.every((position, partition) => position >= until[partition]!)) finish();
  };
  const consumer = log.createConsumer({
    groupId: `nexmark-check-${topic}`,
    topics: [topic],
    isolationLevel: 'read_uncommitted',
    fetchMaxBytesPerPartition: 4 * 1024 * 1024,
    fetchMaxWaitMs: 100,
    partitionsConcurrentlyMax: until.length,
    sessionTimeoutMs: 30_000,
    heartbeatIntervalMs: 3_000,
    fromBeginning: true,
  });
  const timer = setTimeout(() => finish(new Error(`reading ${topic} back took over ${timeoutMs} ms`)), timeoutMs);
  try {
    await consumer.run({
      onAssigned: checkDone,
      onRevoked: () => {},
      onCrash: (error) => finish(error),
      onBatch: async (batch) => {
        for (const record of batch.records) {
          if (record.offset >= until[batch.partition]!) continue;
          records[batch.partition]!.push({ key: record.key === null ? null : Buffer.from(record.key), value: record.value === null ? null : Buffer.from(record.value) });
        }
        positions[batch.partition] = batch.nextOffset;
        checkDone();
      },
    });
    await finished;
  } finally {
    clearTimeout(timer);
    await consumer.close();
  }
  return records;
}

export interface CheckResult {
  readonly ok: boolean;
  /** How many records' content was compared. */
  readonly sampled: number;
  /** Keys whose records are all there but in another order than their input (a Kafka client should keep per-key order). */
  readonly reorderedKeys: number;
  /** The first difference found, in one sentence. */
  readonly problem?: string;
}

/**
 * Compares output records (all partitions) with the reference. Content is compared for every
 * `stride`-th record of each key and its last; a key whose sample differs is compared in full as a
 * multiset, so that a reordering (counted) is told apart from a wrong or missing result (a failure).
 */
export function checkOutput(records: Iterable<ReadRecord>, reference: ReferenceOutput, stride: number): CheckResult {
  const byKey = new Map<string, Buffer[]>();
  let count = 0;
  for (const record of records) {
    const key = record.key?.toString('utf8') ?? '<null>';
    let values = byKey.get(key);
    if (values === undefined) byKey.set(key, (values = []));
    values.push(record.value ?? Buffer.alloc(0));
    count += 1;
  }
  let sampled = 0;
  let reorderedKeys = 0;
  if (count !== reference.count) return { ok: false, sampled, reorderedKeys, problem: `the output holds ${count} records, the reference ${reference.count}` };
  for (const [key, expected] of reference.byKey) {
    const actual = byKey.get(key) ?? [];
    if (actual.length !== expected.length) return { ok: false, sampled, reorderedKeys, problem: `key ${key} has ${actual.length} records, the reference ${expected.length}` };
    for (let index = 0; index < expected.length; index += 1) {
      if (index % stride !== 0 && index !== expected.length - 1) continue;
      const value: unknown = JSON.parse(actual[index]!.toString('utf8'));
      sampled += 1;
      if (isDeepStrictEqual(value, expected[index])) continue;
      const problem = multisetDifference(key, actual, expected);
      if (problem !== undefined) return { ok: false, sampled, reorderedKeys, problem };
      reorderedKeys += 1;
      break;
    }
  }
  return { ok: true, sampled, reorderedKeys };
}

/** Whether one key's output holds exactly the reference's results in some order; the difference in a sentence if not. */
function multisetDifference(key: string, actual: readonly Buffer[], expected: readonly unknown[]): string | undefined {
  const canonical = (value: unknown) => JSON.stringify(value);
  const remaining = new Map<string, number>();
  for (const value of expected) remaining.set(canonical(value), (remaining.get(canonical(value)) ?? 0) + 1);
  for (const bytes of actual) {
    const text = canonical(JSON.parse(bytes.toString('utf8')));
    const left = remaining.get(text) ?? 0;
    if (left === 0) return `key ${key} holds ${text}, which the reference does not (or not that often)`;
    remaining.set(text, left - 1);
  }
  return undefined;
}
