/**
 * The replica manager's side of transactions, against a real broker: KIP-890 part 1 verification
 * of transactional batches (with a verifier that answers from a Set), markers written through
 * `ReplicaManager.writeTxnMarker`, read_committed fetches and ListOffsets bounded by the last
 * stable offset with the aborted transactions listed, a read_committed long poll answered by a
 * marker, and a kafkajs read_committed consumer filtering an aborted transaction.
 */
import test from 'ava';
import { Kafka, logLevel } from 'kafkajs';
import { ErrorCode, isControl, type FetchResponsePartitionData } from '@defter/protocol';
import { ReplicaManager } from '../src/replica/replica-manager.js';
import { connectClient, batchesOf, brokerWithTopics, fetch, listOffset, makeBatch, produce } from './replica-support.js';
import { startTestBroker, eventually } from './helpers/test-broker.js';
import type { RawClient } from './helpers/raw-client.js';
import { SetVerifier, producerBatch, produceAs } from './txn-replica-support.js';

const READ_UNCOMMITTED = 0;
const READ_COMMITTED = 1;
/** Newer than the transactional records' (producerBatch stamps 1_700_000_000_000 on). */
const P1_TIMESTAMP_MS = 1_800_000_000_000n;

/** `[offset, value]` of the data records (control batches left out) of a fetched partition. */
function dataValues(partition: FetchResponsePartitionData): Array<[bigint, string]> {
  return batchesOf(partition.records)
    .filter((batch) => !isControl(batch.attributes))
    .flatMap((batch) => batch.records.map((record): [bigint, string] => [batch.baseOffset + BigInt(record.offsetDelta), record.value!.toString()]));
}

async function fetchOne(client: RawClient, topic: string, offset: bigint, isolationLevel: number, options: { maxWaitMs?: number } = {}): Promise<FetchResponsePartitionData> {
  return (await fetch(client, [{ topic, partition: 0, offset }], { isolationLevel, ...options })).responses[0]!.partitions[0]!;
}

/** A transactional producer writing raw batches with consecutive sequences. */
class TxnProducer {
  private sequence = 0;
  constructor(
    private readonly client: RawClient,
    readonly transactionalId: string,
    readonly producerId: bigint,
    readonly producerEpoch = 0,
  ) {}

  send(topic: string, values: readonly string[]) {
    const batch = producerBatch(values, { producerId: this.producerId, producerEpoch: this.producerEpoch, baseSequence: this.sequence, transactional: true });
    this.sequence += values.length;
    return produceAs(this.client, this.transactionalId, topic, 0, batch);
  }
}

test('a transactional batch that would open a transaction needs the verifier’s NONE; later batches of the transaction do not ask again', async (t) => {
  const { broker, client } = await brokerWithTopics(t, [{ name: 'verified' }]);
  const replicaManager = broker.context.replicaManager;
  const verifier = new SetVerifier();
  replicaManager.setTransactionVerifier(verifier);
  const producer = new TxnProducer(client, 'tx-a', 7000n);

  const refused = await producer.send('verified', ['not added']);
  t.like(refused, { errorCode: ErrorCode.INVALID_TXN_STATE, baseOffset: -1n, errorMessage: 'Partition was not added to the transaction' });
  t.deepEqual(verifier.asked, [{ transactionalId: 'tx-a', producerId: 7000n, producerEpoch: 0, topic: 'verified', partition: 0 }]);
  t.is((await listOffset(client, 'verified', 0, -1n)).offset, 0n, 'nothing written');

  verifier.add('tx-a', 7000n, 0, 'verified', 0);
  const retried = producerBatch(['first'], { producerId: 7000n, producerEpoch: 0, baseSequence: 0, transactional: true });
  t.like(await produceAs(client, 'tx-a', 'verified', 0, retried), { errorCode: ErrorCode.NONE, baseOffset: 0n });
  t.is(verifier.asked.length, 2);
  // The transaction is open on the partition now: its next batches and retries are not verified.
  t.like(await produceAs(client, 'tx-a', 'verified', 0, producerBatch(['second'], { producerId: 7000n, producerEpoch: 0, baseSequence: 1, transactional: true })), {
    errorCode: ErrorCode.NONE,
    baseOffset: 1n,
  });
  t.like(await produceAs(client, 'tx-a', 'verified', 0, retried), { errorCode: ErrorCode.NONE, baseOffset: 0n });
  t.is(verifier.asked.length, 2);

  // The transaction ends; a late batch of it must not open a new one on the partition (KAFKA-17754).
  t.is(await replicaManager.writeTxnMarker({ topic: 'verified', partition: 0, producerId: 7000n, producerEpoch: 0, coordinatorEpoch: 0, commit: true }), ErrorCode.NONE);
  verifier.clear();
  const late = producerBatch(['late'], { producerId: 7000n, producerEpoch: 0, baseSequence: 2, transactional: true });
  t.is((await produceAs(client, 'tx-a', 'verified', 0, late)).errorCode, ErrorCode.INVALID_TXN_STATE);
  t.is(verifier.asked.length, 3);
  t.is((await listOffset(client, 'verified', 0, -1n)).offset, 3n, 'two records and the marker');

  // The coordinator's other answers, as a Kafka broker translates them for producers.
  const cases: Array<[number, number, RegExp]> = [
    [ErrorCode.PRODUCER_FENCED, ErrorCode.INVALID_PRODUCER_EPOCH, /fenced/],
    [ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.NOT_ENOUGH_REPLICAS, /Underlying error: CONCURRENT_TRANSACTIONS/],
    [ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.NOT_ENOUGH_REPLICAS, /Underlying error: COORDINATOR_LOAD_IN_PROGRESS/],
    [ErrorCode.NOT_COORDINATOR, ErrorCode.NOT_ENOUGH_REPLICAS, /Underlying error: NOT_COORDINATOR/],
    [ErrorCode.TRANSACTION_ABORTABLE, ErrorCode.INVALID_TXN_STATE, /not added/],
    [ErrorCode.INVALID_PRODUCER_ID_MAPPING, ErrorCode.INVALID_PRODUCER_ID_MAPPING, /refused/],
  ];
  for (const [answer, expected, message] of cases) {
    verifier.refusalCode = answer;
    const response = await produceAs(client, 'tx-a', 'verified', 0, late);
    t.is(response.errorCode, expected, `coordinator answer ${answer}`);
    t.regex(response.errorMessage ?? '', message);
  }
  t.is((await listOffset(client, 'verified', 0, -1n)).offset, 3n);
});

test('without a verifier, transactional batches are NOT_ENOUGH_REPLICAS (the coordinator cannot be reached); plain ones are written', async (t) => {
  const { broker } = await brokerWithTopics(t, [{ name: 'unverified' }]);
  const context = broker.context;
  const replicaManager = new ReplicaManager({ logManager: context.logManager, metadata: context.metadata, config: context.config, clock: context.clock, logger: context.logger });
  t.teardown(() => replicaManager.close());
  const [refused, plain] = await Promise.all([
    replicaManager.appendRecords({
      acks: -1,
      produceVersion: 9,
      transactionalId: 'tx-b',
      partitions: [{ topic: 'unverified', partition: 0, records: producerBatch(['t'], { producerId: 8000n, producerEpoch: 0, baseSequence: 0, transactional: true }) }],
    }),
    replicaManager.appendRecords({ acks: 1, produceVersion: 9, transactionalId: null, partitions: [{ topic: 'unverified', partition: 0, records: makeBatch(['plain']) }] }),
  ]);
  t.like(refused[0], { errorCode: ErrorCode.NOT_ENOUGH_REPLICAS, baseOffset: -1n });
  t.regex(refused[0]!.errorMessage ?? '', /Underlying error: COORDINATOR_NOT_AVAILABLE/);
  t.like(plain[0], { errorCode: ErrorCode.NONE, baseOffset: 0n });
});

test('read_committed stops at the LSO before a commit marker and sees everything after it; ListOffsets follows the LSO', async (t) => {
  const { broker, client } = await brokerWithTopics(t, [{ name: 'rc' }]);
  const replicaManager = broker.context.replicaManager;
  const verifier = new SetVerifier();
  verifier.add('tx-c', 9000n, 0, 'rc', 0);
  replicaManager.setTransactionVerifier(verifier);
  const producer = new TxnProducer(client, 'tx-c', 9000n);

  await produce(client, 'rc', 0, makeBatch(['p0'], { timestampMs: 1_000n }));
  t.like(await producer.send('rc', ['t1', 't2']), { errorCode: ErrorCode.NONE, baseOffset: 1n });
  await produce(client, 'rc', 0, makeBatch(['p1'], { timestampMs: P1_TIMESTAMP_MS }));

  const committedView = await fetchOne(client, 'rc', 0n, READ_COMMITTED);
  t.like(committedView, { errorCode: ErrorCode.NONE, highWatermark: 4n, lastStableOffset: 1n });
  t.deepEqual(committedView.abortedTransactions, []);
  t.deepEqual(dataValues(committedView), [[0n, 'p0']]);
  const uncommittedView = await fetchOne(client, 'rc', 0n, READ_UNCOMMITTED);
  t.like(uncommittedView, { highWatermark: 4n, lastStableOffset: 1n, abortedTransactions: null });
  t.deepEqual(dataValues(uncommittedView).map(([, value]) => value), ['p0', 't1', 't2', 'p1']);
  // read_committed at the LSO: nothing yet, no error.
  const atLso = await fetchOne(client, 'rc', 1n, READ_COMMITTED);
  t.like(atLso, { errorCode: ErrorCode.NONE, lastStableOffset: 1n });
  t.is(atLso.records?.length ?? 0, 0);

  t.is((await listOffset(client, 'rc', 0, -1n, 7, { isolationLevel: READ_COMMITTED })).offset, 1n);
  t.is((await listOffset(client, 'rc', 0, -1n, 7, { isolationLevel: READ_UNCOMMITTED })).offset, 4n);
  // p1 (the newest timestamp) lies above the LSO: not visible to read_committed yet.
  t.like(await listOffset(client, 'rc', 0, P1_TIMESTAMP_MS, 7, { isolationLevel: READ_COMMITTED }), { offset: -1n, timestamp: -1n });
  t.like(await listOffset(client, 'rc', 0, P1_TIMESTAMP_MS, 7, { isolationLevel: READ_UNCOMMITTED }), { offset: 3n, timestamp: P1_TIMESTAMP_MS });

  t.is(await replicaManager.writeTxnMarker({ topic: 'rc', partition: 0, producerId: 9000n, producerEpoch: 0, coordinatorEpoch: 3, commit: true }), ErrorCode.NONE);
  const afterCommit = await fetchOne(client, 'rc', 0n, READ_COMMITTED);
  t.like(afterCommit, { highWatermark: 5n, lastStableOffset: 5n });
  t.deepEqual(afterCommit.abortedTransactions, []);
  t.deepEqual(dataValues(afterCommit), [
    [0n, 'p0'],
    [1n, 't1'],
    [2n, 't2'],
    [3n, 'p1'],
  ]);
  const marker = batchesOf(afterCommit.records).at(-1)!;
  t.like(marker, { baseOffset: 4n, producerId: 9000n, producerEpoch: 0, baseSequence: -1 });
  t.true(isControl(marker.attributes));
  t.is((await listOffset(client, 'rc', 0, -1n, 7, { isolationLevel: READ_COMMITTED })).offset, 5n);
  t.like(await listOffset(client, 'rc', 0, P1_TIMESTAMP_MS, 7, { isolationLevel: READ_COMMITTED }), { offset: 3n, timestamp: P1_TIMESTAMP_MS });
});

test('an aborted transaction is listed with its first offset; DescribeProducers shows the open transaction and the marker’s coordinator epoch', async (t) => {
  const { broker, client } = await brokerWithTopics(t, [{ name: 'ab' }]);
  const replicaManager = broker.context.replicaManager;
  const verifier = new SetVerifier();
  verifier.add('tx-d', 9100n, 1, 'ab', 0);
  replicaManager.setTransactionVerifier(verifier);
  const producer = new TxnProducer(client, 'tx-d', 9100n, 1);

  await produce(client, 'ab', 0, makeBatch(['before']));
  await producer.send('ab', ['x1', 'x2']);
  await producer.send('ab', ['x3']);
  t.like(replicaManager.describeProducers('ab', 0).activeProducers[0], { producerId: 9100n, producerEpoch: 1, lastSequence: 2, coordinatorEpoch: -1, currentTxnStartOffset: 1n });

  t.is(await replicaManager.writeTxnMarker({ topic: 'ab', partition: 0, producerId: 9100n, producerEpoch: 1, coordinatorEpoch: 5, commit: false }), ErrorCode.NONE);
  await produce(client, 'ab', 0, makeBatch(['after']));
  t.like(replicaManager.describeProducers('ab', 0).activeProducers[0], { producerId: 9100n, coordinatorEpoch: 5, currentTxnStartOffset: -1n });

  const fromStart = await fetchOne(client, 'ab', 0n, READ_COMMITTED);
  t.like(fromStart, { highWatermark: 6n, lastStableOffset: 6n });
  t.deepEqual(fromStart.abortedTransactions, [{ producerId: 9100n, firstOffset: 1n }]);
  t.deepEqual(dataValues(fromStart).map(([, value]) => value), ['before', 'x1', 'x2', 'x3', 'after'], 'the records come; the client filters them');
  // Past the aborted transaction's marker, nothing to filter.
  t.deepEqual((await fetchOne(client, 'ab', 5n, READ_COMMITTED)).abortedTransactions, []);
  t.is((await fetchOne(client, 'ab', 0n, READ_UNCOMMITTED)).abortedTransactions, null);

  // A marker with an older coordinator epoch is fenced; markers for unknown partitions and hostile ones get codes.
  t.is(await replicaManager.writeTxnMarker({ topic: 'ab', partition: 0, producerId: 9100n, producerEpoch: 1, coordinatorEpoch: 4, commit: true }), ErrorCode.TRANSACTION_COORDINATOR_FENCED);
  t.is(await replicaManager.writeTxnMarker({ topic: 'nope', partition: 0, producerId: 9100n, producerEpoch: 1, coordinatorEpoch: 5, commit: true }), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  t.is(await replicaManager.writeTxnMarker({ topic: 'ab', partition: 0, producerId: -1n, producerEpoch: 1, coordinatorEpoch: 5, commit: true }), ErrorCode.INVALID_REQUEST);
  t.is(await replicaManager.writeTxnMarker({ topic: 'ab', partition: 0, producerId: 9100n, producerEpoch: -2, coordinatorEpoch: 5, commit: true }), ErrorCode.INVALID_REQUEST);
  t.is(await replicaManager.writeTxnMarker({ topic: 'ab', partition: 0, producerId: 9100n, producerEpoch: 0, coordinatorEpoch: 5, commit: true }), ErrorCode.INVALID_PRODUCER_EPOCH);
  t.is((await listOffset(client, 'ab', 0, -1n)).offset, 6n, 'refused markers wrote nothing');
});

test('a read_committed long poll waits through transactional appends and is answered by the marker', async (t) => {
  const { broker, client, port } = await brokerWithTopics(t, [{ name: 'poll' }]);
  const replicaManager = broker.context.replicaManager;
  const verifier = new SetVerifier();
  verifier.add('tx-e', 9200n, 0, 'poll', 0);
  replicaManager.setTransactionVerifier(verifier);
  const producer = new TxnProducer(client, 'tx-e', 9200n);
  await producer.send('poll', ['open']);

  const poller = await connectClient(t, port);
  const startedMs = Date.now();
  const committedPoll = fetchOne(poller, 'poll', 0n, READ_COMMITTED, { maxWaitMs: 10_000 });
  t.true(await eventually(() => replicaManager.waitingFetchCount === 1), 'the fetch waits: nothing is stable yet');

  // More records of the open transaction do not answer it…
  await producer.send('poll', ['more']);
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.is(replicaManager.waitingFetchCount, 1);
  // …but they answer a read_uncommitted long poll.
  const uncommittedClient = await connectClient(t, port);
  const uncommittedPoll = fetchOne(uncommittedClient, 'poll', 2n, READ_UNCOMMITTED, { maxWaitMs: 10_000 });
  t.true(await eventually(() => replicaManager.waitingFetchCount === 2));
  await producer.send('poll', ['third']);
  t.deepEqual(dataValues(await uncommittedPoll), [[2n, 'third']]);

  t.is(await replicaManager.writeTxnMarker({ topic: 'poll', partition: 0, producerId: 9200n, producerEpoch: 0, coordinatorEpoch: 0, commit: true }), ErrorCode.NONE);
  const answered = await committedPoll;
  t.true(Date.now() - startedMs < 8_000, 'answered by the marker, not by maxWaitMs');
  t.like(answered, { lastStableOffset: 4n, highWatermark: 4n });
  t.deepEqual(dataValues(answered), [
    [0n, 'open'],
    [1n, 'more'],
    [2n, 'third'],
  ]);
  t.is(replicaManager.waitingFetchCount, 0);
});

test('markers go into internal topics too (__consumer_offsets)', async (t) => {
  const started = await startTestBroker(t, { offsetsTopicNumPartitions: 1 });
  const context = started.broker.context;
  await context.offsetStore.ensureTopic();
  t.is(await context.replicaManager.writeTxnMarker({ topic: '__consumer_offsets', partition: 0, producerId: 42n, producerEpoch: 3, coordinatorEpoch: 1, commit: true }), ErrorCode.NONE);
  const log = context.logManager.getLog('__consumer_offsets', 0)!;
  const batches = batchesOf(Buffer.concat(await log.readBatches(0n, 1 << 20)));
  const marker = batches.at(-1)!;
  t.like(marker, { producerId: 42n, producerEpoch: 3, baseSequence: -1 });
  t.true(isControl(marker.attributes));
  t.is(marker.records.length, 1);
});

test('a kafkajs read_committed consumer skips aborted records and sees committed ones in order; read_uncommitted sees all', async (t) => {
  const { broker, client, bootstrap } = await (async () => {
    const started = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0 });
    await started.broker.context.metadata.createTopic('kjs', 1, {});
    return { ...started, client: await connectClient(t, started.port) };
  })();
  const replicaManager = broker.context.replicaManager;
  const verifier = new SetVerifier();
  for (const [id, pid] of [['c', 1n], ['d', 2n], ['e', 3n], ['f', 4n]] as const) verifier.add(`tx-${id}`, pid, 0, 'kjs', 0);
  replicaManager.setTransactionVerifier(verifier);
  const [c, d, e, f] = [new TxnProducer(client, 'tx-c', 1n), new TxnProducer(client, 'tx-d', 2n), new TxnProducer(client, 'tx-e', 3n), new TxnProducer(client, 'tx-f', 4n)];
  const marker = (producerId: bigint, commit: boolean) => replicaManager.writeTxnMarker({ topic: 'kjs', partition: 0, producerId, producerEpoch: 0, coordinatorEpoch: 0, commit });

  await produce(client, 'kjs', 0, makeBatch(['before']));
  await c.send('kjs', ['c1', 'c2']);
  t.is(await marker(1n, true), ErrorCode.NONE);
  await d.send('kjs', ['a1', 'a2']);
  t.is(await marker(2n, false), ErrorCode.NONE);
  // Two transactions interleaved: e commits, f aborts in between.
  await e.send('kjs', ['e1']);
  await f.send('kjs', ['f1']);
  await e.send('kjs', ['e2']);
  t.is(await marker(4n, false), ErrorCode.NONE);
  t.is(await marker(3n, true), ErrorCode.NONE);
  await produce(client, 'kjs', 0, makeBatch(['after']));

  const kafka = new Kafka({ clientId: 'txn-replica', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100 } });
  const consume = async (groupId: string, readUncommitted: boolean): Promise<string[]> => {
    const consumer = kafka.consumer({ groupId, readUncommitted, maxWaitTimeInMs: 200 });
    t.teardown(() => consumer.disconnect());
    const seen: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: 'kjs', fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    t.true(await eventually(() => seen.includes('after'), 20_000), `${groupId} reached the last record: ${JSON.stringify(seen)}`);
    await consumer.disconnect();
    return seen;
  };
  t.deepEqual(await consume('committed', false), ['before', 'c1', 'c2', 'e1', 'e2', 'after']);
  t.deepEqual(await consume('uncommitted', true), ['before', 'c1', 'c2', 'a1', 'a2', 'e1', 'f1', 'e2', 'after']);
});
