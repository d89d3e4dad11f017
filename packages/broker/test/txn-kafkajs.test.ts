/**
 * Transactions with kafkajs 2.2.4 end to end: a transactional producer commits one transaction,
 * aborts a second and commits a third, each across two topics of three partitions; a
 * read_committed kafkajs consumer reads exactly the committed records in order, a read_uncommitted
 * one reads all of them, each at the offset Kafka's layout gives it (one control marker after
 * each transaction). And an open transaction holds back the last stable offset: later records,
 * even non-transactional ones, stay invisible to read_committed until it ends.
 */
import test from 'ava';
import { startTestBroker } from './helpers/test-broker.js';
import { connectClient, fetch, listOffset, valuesOf } from './replica-support.js';
import { partitionKey, readUntilSentinels, sendSentinels, transactionalProducer, txnKafka, valuesByPartition } from './helpers/txn-clients.js';

const TOPICS = ['txn-orders', 'txn-payments'];
const PARTITIONS = 3;
const PER_PARTITION = 4;

/** The records a transaction `name` writes: PER_PARTITION per partition of each topic. */
function transactionRecords(name: string): Array<{ topic: string; partition: number; values: string[] }> {
  return TOPICS.flatMap((topic) =>
    Array.from({ length: PARTITIONS }, (_, partition) => ({
      topic,
      partition,
      values: Array.from({ length: PER_PARTITION }, (_, i) => `${name}-${topic}-${partition}-${i}`),
    })),
  );
}

function expectedValues(names: readonly string[]): Record<string, string[]> {
  const expected: Record<string, string[]> = {};
  for (const name of names) {
    for (const { topic, partition, values } of transactionRecords(name)) (expected[partitionKey(topic, partition)] ??= []).push(...values);
  }
  return Object.fromEntries(Object.entries(expected).sort(([a], [b]) => a.localeCompare(b)));
}

test('kafkajs: commit, abort, commit across 2 topics × 3 partitions; read_committed sees the committed ones in order, read_uncommitted all', async (t) => {
  const { broker, bootstrap } = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0, offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 });
  for (const topic of TOPICS) await broker.context.metadata.createTopic(topic, PARTITIONS, {});
  const kafka = txnKafka(bootstrap);
  const producer = await transactionalProducer(t, kafka, 'kafkajs-e2e');

  for (const [name, outcome] of [
    ['first', 'commit'],
    ['second', 'abort'],
    ['third', 'commit'],
  ] as const) {
    const transaction = await producer.transaction();
    // Two requests per transaction: the second adds no partition, the first adds all six.
    const records = transactionRecords(name);
    const half = PER_PARTITION / 2;
    for (const part of [0, 1]) {
      await transaction.sendBatch({
        topicMessages: TOPICS.map((topic) => ({
          topic,
          messages: records
            .filter((record) => record.topic === topic)
            .flatMap(({ partition, values }) => values.slice(part * half, (part + 1) * half).map((value) => ({ key: `k${partition}`, value, partition }))),
        })),
      });
    }
    if (outcome === 'commit') await transaction.commit();
    else await transaction.abort();
  }
  await sendSentinels(kafka, TOPICS, PARTITIONS);

  const committed = await readUntilSentinels(t, kafka, { groupId: 'reader-committed', topics: TOPICS, partitions: PARTITIONS, isolation: 'read_committed' });
  t.deepEqual(valuesByPartition(committed), expectedValues(['first', 'third']), 'read_committed: the committed transactions, in order');

  const uncommitted = await readUntilSentinels(t, kafka, { groupId: 'reader-uncommitted', topics: TOPICS, partitions: PARTITIONS, isolation: 'read_uncommitted' });
  t.deepEqual(valuesByPartition(uncommitted), expectedValues(['first', 'second', 'third']), 'read_uncommitted: everything, aborted included');
  // Each transaction's records are followed by its marker, which takes an offset of its own.
  const n = PER_PARTITION;
  const expectedOffsets = [...range(0, n), ...range(n + 1, 2 * n + 1), ...range(2 * n + 2, 3 * n + 2)];
  for (const [key, records] of uncommitted) t.deepEqual(records.map((record) => record.offset), expectedOffsets, `offsets of ${key}`);
  for (const [key, records] of committed) t.deepEqual(records.map((record) => record.offset), [...range(0, n), ...range(2 * n + 2, 3 * n + 2)], `committed offsets of ${key}`);
});

test('kafkajs: an open transaction holds back the last stable offset, for later non-transactional records too', async (t) => {
  const { broker, bootstrap } = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0, offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 });
  await broker.context.metadata.createTopic('held', 1, {});
  const kafka = txnKafka(bootstrap);
  const producer = await transactionalProducer(t, kafka, 'kafkajs-held');
  const plain = kafka.producer({ allowAutoTopicCreation: false });
  t.teardown(() => plain.disconnect());
  await plain.connect();

  await plain.send({ topic: 'held', acks: -1, messages: [{ value: 'before', partition: 0 }] });
  const transaction = await producer.transaction();
  await transaction.send({ topic: 'held', messages: [{ value: 'open-1', partition: 0 }] });
  await plain.send({ topic: 'held', acks: -1, messages: [{ value: 'plain-during', partition: 0 }] });
  await transaction.send({ topic: 'held', messages: [{ value: 'open-2', partition: 0 }] });

  // Over the wire: ListOffsets(latest) in read_committed answers the LSO, the first offset of the
  // open transaction; a read_committed Fetch returns only what lies below it and says where it is.
  const raw = await connectClient(t, broker.port);
  t.is((await listOffset(raw, 'held', 0, -1n, 7, { isolationLevel: 1 })).offset, 1n, 'read_committed end: the LSO');
  t.is((await listOffset(raw, 'held', 0, -1n, 7, { isolationLevel: 0 })).offset, 4n, 'read_uncommitted end: the high watermark');
  const held = (await fetch(raw, [{ topic: 'held', partition: 0, offset: 0n }], { isolationLevel: 1 })).responses[0]!.partitions[0]!;
  t.like(held, { highWatermark: 4n, lastStableOffset: 1n });
  t.deepEqual(valuesOf(held.records), [[0n, 'before']], 'read_committed stops at the open transaction');
  const all = (await fetch(raw, [{ topic: 'held', partition: 0, offset: 0n }], { isolationLevel: 0 })).responses[0]!.partitions[0]!;
  t.deepEqual(valuesOf(all.records).map(([, value]) => value), ['before', 'open-1', 'plain-during', 'open-2']);

  // A read_committed reader started now reads only `before`; a sentinel written after the commit ends its read.
  await transaction.commit();
  await sendSentinels(kafka, ['held'], 1);
  const read = await readUntilSentinels(t, kafka, { groupId: 'held-reader', topics: ['held'], partitions: 1, isolation: 'read_committed' });
  t.deepEqual(valuesByPartition(read), { 'held/0': ['before', 'open-1', 'plain-during', 'open-2'] }, 'once committed, all of it in offset order');
  t.deepEqual(read.get('held/0')!.map((record) => record.offset), [0, 1, 2, 3]);
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
