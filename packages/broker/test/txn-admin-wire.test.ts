/**
 * The transaction admin APIs over the wire, while a kafkajs transaction is open: DescribeTransactions
 * (state, partitions, producer, timeout, start time), ListTransactions (state and producer filters,
 * unknown state names), DescribeProducers (the producer's epoch, last sequence and the open
 * transaction's first offset per partition) — and the same after the transaction commits.
 */
import test from 'ava';
import { ApiKey, ErrorCode } from '@defter/protocol';
import { eventually, startTestBroker } from './helpers/test-broker.js';
import { allStable, transactionalProducer, txnKafka } from './helpers/txn-clients.js';
import { batchesOf, connectClient, fetch } from './replica-support.js';
import type { RawClient } from './helpers/raw-client.js';

const TIMEOUT_MS = 45_000;

async function describeTransactions(raw: RawClient, transactionalIds: string[]) {
  return (await raw.request(ApiKey.DescribeTransactions, 0, { transactionalIds })).body.transactionStates;
}

async function listTransactions(raw: RawClient, filters: { stateFilters?: string[]; producerIdFilters?: bigint[]; durationFilter?: bigint } = {}) {
  const version = filters.durationFilter === undefined ? 0 : 1;
  const { body } = await raw.request(ApiKey.ListTransactions, version, {
    stateFilters: filters.stateFilters ?? [],
    producerIdFilters: filters.producerIdFilters ?? [],
    ...(filters.durationFilter === undefined ? {} : { durationFilter: filters.durationFilter }),
  });
  return { ...body, transactionStates: [...body.transactionStates].sort((a, b) => a.transactionalId.localeCompare(b.transactionalId)) };
}

async function describeProducers(raw: RawClient, topic: string, partitionIndexes: number[]) {
  return (await raw.request(ApiKey.DescribeProducers, 0, { topics: [{ name: topic, partitionIndexes }] })).body.topics;
}

test('DescribeTransactions, ListTransactions and DescribeProducers during an open transaction and after its commit', async (t) => {
  const { broker, bootstrap, port } = await startTestBroker(t, { transactionStateLogNumPartitions: 3 });
  await broker.context.metadata.createTopic('watched', 3, {});
  const kafka = txnKafka(bootstrap);
  const raw = await connectClient(t, port);

  // A finished transaction of another id, on partition 1.
  const done = await transactionalProducer(t, kafka, 'admin-done');
  const finished = await done.transaction();
  await finished.send({ topic: 'watched', messages: [{ value: 'done', partition: 1 }] });
  await finished.commit();
  // Its marker is written after EndTxn answers: wait for it (DescribeProducers below shows what it left).
  t.true(await eventually(() => allStable(port, 'watched', 3), 10_000));

  const open = await transactionalProducer(t, kafka, 'admin-open', TIMEOUT_MS);
  const beganAtMs = Date.now();
  const transaction = await open.transaction();
  await transaction.send({ topic: 'watched', messages: ['a', 'b', 'c'].map((value) => ({ value, partition: 0 })) });
  await transaction.send({ topic: 'watched', messages: ['d', 'e'].map((value) => ({ value, partition: 2 })) });
  const sentAtMs = Date.now();

  // The producer id and epoch as the records carry them: an independent source for what follows.
  const fetched = await fetch(raw, [0, 1, 2].map((partition) => ({ topic: 'watched', partition, offset: 0n })), { isolationLevel: 0 });
  const headerOf = (partition: number) => batchesOf(fetched.responses[0]!.partitions.find((p) => p.partitionIndex === partition)!.records)[0]!;
  const { producerId, producerEpoch } = headerOf(0);
  const doneProducer = headerOf(1);
  t.is(headerOf(2).producerId, producerId);
  t.not(doneProducer.producerId, producerId);

  const [described, unknown] = await describeTransactions(raw, ['admin-open', 'no-such-id']);
  t.like(described, { errorCode: ErrorCode.NONE, transactionalId: 'admin-open', transactionState: 'Ongoing', transactionTimeoutMs: TIMEOUT_MS, producerId, producerEpoch });
  t.deepEqual(
    described!.topics.map((topic) => ({ topic: topic.topic, partitions: [...topic.partitions].sort() })),
    [{ topic: 'watched', partitions: [0, 2] }],
  );
  const startMs = Number(described!.transactionStartTimeMs);
  t.true(startMs >= beganAtMs - 1_000 && startMs <= sentAtMs, `start ${startMs} within [${beganAtMs}, ${sentAtMs}]`);
  t.like(unknown, { errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND, transactionalId: 'no-such-id' });

  const all = await listTransactions(raw);
  t.is(all.errorCode, ErrorCode.NONE);
  t.deepEqual(
    all.transactionStates.map((state) => [state.transactionalId, state.transactionState]),
    [
      ['admin-done', 'CompleteCommit'],
      ['admin-open', 'Ongoing'],
    ],
  );
  t.deepEqual(all.transactionStates.find((state) => state.transactionalId === 'admin-done')!.producerId, doneProducer.producerId);
  const ongoing = await listTransactions(raw, { stateFilters: ['Ongoing', 'Sleeping'] });
  t.deepEqual(ongoing.transactionStates, [{ transactionalId: 'admin-open', producerId, transactionState: 'Ongoing' }]);
  t.deepEqual(ongoing.unknownStateFilters, ['Sleeping']);
  const byProducer = await listTransactions(raw, { producerIdFilters: [doneProducer.producerId] });
  t.deepEqual(byProducer.transactionStates.map((state) => state.transactionalId), ['admin-done']);
  const longRunning = await listTransactions(raw, { stateFilters: ['Ongoing'], durationFilter: 3_600_000n });
  t.deepEqual(longRunning.transactionStates, [], 'nothing has run for an hour');
  const anyDuration = await listTransactions(raw, { stateFilters: ['Ongoing'], durationFilter: -1n });
  t.deepEqual(anyDuration.transactionStates.map((state) => state.transactionalId), ['admin-open']);

  const [producers] = await describeProducers(raw, 'watched', [0, 1, 2, 7]);
  t.is(producers!.name, 'watched');
  const byPartition = new Map(producers!.partitions.map((partition) => [partition.partitionIndex, partition]));
  t.like(byPartition.get(0), { errorCode: ErrorCode.NONE, activeProducers: [{ producerId, producerEpoch, lastSequence: 2, currentTxnStartOffset: 0n }] });
  t.like(byPartition.get(2), { errorCode: ErrorCode.NONE, activeProducers: [{ producerId, producerEpoch, lastSequence: 1, currentTxnStartOffset: 0n }] });
  const lastTimestampMs = Number(byPartition.get(0)!.activeProducers[0]!.lastTimestamp);
  t.true(lastTimestampMs >= beganAtMs - 1_000 && lastTimestampMs <= sentAtMs, `last timestamp ${lastTimestampMs}`);
  // admin-done's transaction on partition 1 is over: its producer is known, with no open transaction, and the marker's coordinator epoch.
  t.like(byPartition.get(1), {
    errorCode: ErrorCode.NONE,
    activeProducers: [{ producerId: doneProducer.producerId, lastSequence: 0, currentTxnStartOffset: -1n, coordinatorEpoch: 0 }],
  });
  t.is(byPartition.get(7)?.errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);

  await transaction.commit();
  t.true(
    await eventually(async () => (await describeTransactions(raw, ['admin-open']))[0]!.transactionState === 'CompleteCommit', 10_000),
    'the transaction completes once its markers are written',
  );
  const [committed] = await describeTransactions(raw, ['admin-open']);
  t.deepEqual(committed!.topics, [], 'a completed transaction holds no partitions');
  const [after] = await describeProducers(raw, 'watched', [0, 2]);
  for (const partition of after!.partitions) {
    t.like(partition.activeProducers[0], { producerId, currentTxnStartOffset: -1n, coordinatorEpoch: 0 }, `partition ${partition.partitionIndex} after the commit`);
  }
  t.deepEqual((await listTransactions(raw, { stateFilters: ['Ongoing'] })).transactionStates, []);
});
