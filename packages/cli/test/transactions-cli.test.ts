import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { startBroker, type RunningBroker } from '@defter/broker';
import {
  DESCRIBE_HEADER,
  LIST_HEADER,
  PRODUCERS_HEADER,
  formatTransactionDescriptions,
  parseStateFilters,
  unknownTransactionalIdMessage,
} from '../src/transactions-command.js';
import { runDefter, type DefterExit } from './helpers/run-defter.js';

// `defter transactions …` as a child process against a real broker in this process. The
// transactions are real kafkajs transactional producers: one committed, one aborted, one left open
// across two topics. The coordinator's own view (in-process, not through the wire) is the oracle
// for producer ids, epochs and start times. The tests share one broker and run in order.

const ORDERS = 'txn-cli-orders';
const PAYMENTS = 'txn-cli-payments';
const COMMITTED = 'cli-committed';
const ABORTED = 'cli-aborted';
const OPEN = 'cli-open';
const TRANSACTION_TIMEOUT_MS = 60_000;

let broker: RunningBroker;
let dataDir: string;
let bootstrap: string;
const producers: Producer[] = [];

async function transactionalProducer(kafka: Kafka, transactionalId: string): Promise<Producer> {
  const producer = kafka.producer({ transactionalId, maxInFlightRequests: 1, idempotent: true, transactionTimeout: TRANSACTION_TIMEOUT_MS });
  producers.push(producer);
  await producer.connect();
  return producer;
}

test.before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'defter-cli-txn-'));
  broker = await startBroker({ dataDir, port: 0, logLevel: 'warn' });
  bootstrap = `${broker.host}:${broker.port}`;
  await broker.context.metadata.createTopic(ORDERS, 3, {});
  await broker.context.metadata.createTopic(PAYMENTS, 1, {});
  const kafka = new Kafka({ clientId: 'cli-txn-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });

  const committed = await (await transactionalProducer(kafka, COMMITTED)).transaction();
  await committed.send({ topic: ORDERS, messages: [{ value: 'o1', partition: 0 }, { value: 'o2', partition: 0 }, { value: 'o3', partition: 1 }] });
  await committed.commit();

  const aborted = await (await transactionalProducer(kafka, ABORTED)).transaction();
  await aborted.send({ topic: ORDERS, messages: [{ value: 'never', partition: 1 }] });
  await aborted.abort();

  const open = await (await transactionalProducer(kafka, OPEN)).transaction();
  await open.send({ topic: ORDERS, messages: [{ value: 'p1', partition: 2 }, { value: 'p2', partition: 2 }, { value: 'p3', partition: 2 }] });
  await open.send({ topic: PAYMENTS, messages: [{ value: 'pay', partition: 0 }] });
});

test.after.always(async () => {
  for (const producer of producers) await producer.disconnect().catch(() => undefined);
  await broker?.close();
  await rm(dataDir, { recursive: true, force: true });
});

function defter(args: readonly string[]): Promise<DefterExit> {
  return runDefter(args, { env: { DEFTER_BOOTSTRAP_SERVER: bootstrap } });
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0);
}

/** The coordinator's own view of an id (the oracle). */
function coordinatorView(transactionalId: string): { producerId: bigint; producerEpoch: number; startTimeMs: number } {
  const described = broker.context.transactionCoordinator.describe(transactionalId);
  if (described === undefined) throw new Error(`the coordinator does not know ${transactionalId}`);
  return { producerId: described.producerId, producerEpoch: described.producerEpoch, startTimeMs: described.transactionStartTimeMs };
}

test.serial('list prints every transactional id with its producer id and state, sorted by id', async (t) => {
  const listed = await defter(['transactions', 'list']);
  t.is(listed.code, 0, listed.stderr);
  t.deepEqual(lines(listed.stdout), [
    LIST_HEADER,
    `${ABORTED}\t${coordinatorView(ABORTED).producerId}\tCompleteAbort`,
    `${COMMITTED}\t${coordinatorView(COMMITTED).producerId}\tCompleteCommit`,
    `${OPEN}\t${coordinatorView(OPEN).producerId}\tOngoing`,
  ]);
  t.is(LIST_HEADER, 'TRANSACTIONAL-ID\tPRODUCER-ID\tSTATE');
  const ids = new Set([ABORTED, COMMITTED, OPEN].map((id) => coordinatorView(id).producerId));
  t.is(ids.size, 3, 'three producers, three producer ids');
});

test.serial('list filters by state, producer id and minimum duration; an unknown state gets a suggestion', async (t) => {
  const ongoing = await defter(['transactions', 'list', '--state', 'Ongoing']);
  t.is(ongoing.code, 0, ongoing.stderr);
  t.deepEqual(lines(ongoing.stdout), [LIST_HEADER, `${OPEN}\t${coordinatorView(OPEN).producerId}\tOngoing`]);

  const completed = await defter(['transactions', 'list', '--state', 'CompleteCommit,CompleteAbort']);
  t.deepEqual(lines(completed.stdout).map((line) => line.split('\t')[0]), ['TRANSACTIONAL-ID', ABORTED, COMMITTED]);

  const byProducer = await defter(['transactions', 'list', '--producer-id', String(coordinatorView(COMMITTED).producerId)]);
  t.deepEqual(lines(byProducer.stdout), [LIST_HEADER, `${COMMITTED}\t${coordinatorView(COMMITTED).producerId}\tCompleteCommit`]);

  // Nothing has run for an hour; the open transaction has run for more than 0 ms.
  const longRunning = await defter(['transactions', 'list', '--min-duration', '3600000']);
  t.is(longRunning.code, 0, longRunning.stderr);
  t.deepEqual(lines(longRunning.stdout), [LIST_HEADER]);
  const openForAWhile = await defter(['transactions', 'list', '--state', 'Ongoing', '--min-duration', '0']);
  t.deepEqual(lines(openForAWhile.stdout), [LIST_HEADER, `${OPEN}\t${coordinatorView(OPEN).producerId}\tOngoing`]);

  const typo = await defter(['transactions', 'list', '--state', 'Ongoin']);
  t.is(typo.code, 1);
  t.is(typo.stdout, '');
  t.is(lines(typo.stderr)[0], "defter: unknown transaction state 'Ongoin'. Did you mean 'Ongoing'?");
  const badProducer = await defter(['transactions', 'list', '--producer-id', 'abc']);
  t.is(badProducer.code, 1);
  t.regex(badProducer.stderr, /expected a producer id/);
});

test.serial("describe shows an open transaction's partitions, start time and duration, and a completed one's outcome", async (t) => {
  const before = Date.now();
  const described = await defter(['transactions', 'describe', OPEN, COMMITTED, ABORTED]);
  const after = Date.now();
  t.is(described.code, 0, described.stderr);
  const [header, openRow, committedRow, abortedRow, ...rest] = lines(described.stdout);
  t.is(header, DESCRIBE_HEADER);
  t.deepEqual(rest, []);

  const open = coordinatorView(OPEN);
  const openFields = openRow!.split('\t');
  t.deepEqual(
    [...openFields.slice(0, 6), openFields[7]],
    [OPEN, String(open.producerId), String(open.producerEpoch), 'Ongoing', String(TRANSACTION_TIMEOUT_MS), new Date(open.startTimeMs).toISOString(), `${ORDERS}-2,${PAYMENTS}-0`],
  );
  const durationMs = Number(openFields[6]);
  t.true(durationMs >= before - open.startTimeMs && durationMs <= after - open.startTimeMs, `duration ${openFields[6]}`);

  const committed = coordinatorView(COMMITTED);
  t.is(committedRow, [COMMITTED, committed.producerId, committed.producerEpoch, 'CompleteCommit', TRANSACTION_TIMEOUT_MS, new Date(committed.startTimeMs).toISOString(), '-', '-'].join('\t'));
  const aborted = coordinatorView(ABORTED);
  t.is(abortedRow, [ABORTED, aborted.producerId, aborted.producerEpoch, 'CompleteAbort', TRANSACTION_TIMEOUT_MS, new Date(aborted.startTimeMs).toISOString(), '-', '-'].join('\t'));
});

test.serial('describe of an unknown transactional id is one sentence, with the nearest id, and exit code 1', async (t) => {
  const typo = await defter(['transactions', 'describe', 'cli-opne']);
  t.is(typo.code, 1);
  t.is(typo.stdout, '');
  t.deepEqual(lines(typo.stderr), ["defter: transactional id 'cli-opne' does not exist. Did you mean 'cli-open'?"]);

  const mixed = await defter(['transactions', 'describe', OPEN, 'nothing-like-this', 'nor-this']);
  t.is(mixed.code, 1);
  t.is(mixed.stdout, '', 'nothing printed when any id is unknown');
  t.deepEqual(lines(mixed.stderr), ["defter: transactional ids 'nothing-like-this', 'nor-this' do not exist."]);

  const typoCommand = await defter(['transactions', 'describ', OPEN]);
  t.is(typoCommand.code, 2);
  t.regex(typoCommand.stderr, /defter transactions: unknown command 'describ'\. Did you mean 'describe'\?/);
});

test.serial("producers shows each partition's producers, and the open transaction's first offset that holds the LSO back", async (t) => {
  const committed = coordinatorView(COMMITTED);
  const aborted = coordinatorView(ABORTED);
  const open = coordinatorView(OPEN);
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

  const all = await defter(['transactions', 'producers', '--topic', ORDERS]);
  t.is(all.code, 0, all.stderr);
  const [header, ...rows] = lines(all.stdout);
  t.is(header, PRODUCERS_HEADER);
  const withoutTimestamp = rows.map((row) => row.split('\t').filter((_, index) => index !== 4));
  // Sequences count records from 0 per partition; a marker sets the coordinator epoch (0 here), so
  // the producer whose transaction is still open has none (-1) and a first offset instead.
  const byProducerId = (a: string[], b: string[]) => Number(a[0]) - Number(b[0]) || (BigInt(a[1]!) < BigInt(b[1]!) ? -1 : 1);
  t.deepEqual(
    withoutTimestamp,
    [
      ['0', String(committed.producerId), String(committed.producerEpoch), '1', '0', '-'],
      ['1', String(committed.producerId), String(committed.producerEpoch), '0', '0', '-'],
      ['1', String(aborted.producerId), String(aborted.producerEpoch), '0', '0', '-'],
      ['2', String(open.producerId), String(open.producerEpoch), '2', '-1', '0'],
    ].sort(byProducerId),
  );
  for (const row of rows) t.regex(row.split('\t')[4]!, iso);

  const one = await defter(['transactions', 'producers', '--topic', PAYMENTS, '--partition', '0']);
  t.is(one.code, 0, one.stderr);
  t.deepEqual(
    lines(one.stdout).map((line) => line.split('\t').filter((_, index) => index !== 4)),
    [PRODUCERS_HEADER.split('\t').filter((_, index) => index !== 4), ['0', String(open.producerId), String(open.producerEpoch), '0', '-1', '0']],
  );

  const unknownTopic = await defter(['transactions', 'producers', '--topic', 'txn-cli-order']);
  t.is(unknownTopic.code, 1);
  t.is(lines(unknownTopic.stderr)[0], `defter: topic 'txn-cli-order' does not exist. Did you mean '${ORDERS}'?`);
  const noPartition = await defter(['transactions', 'producers', '--topic', ORDERS, '--partition', '7']);
  t.is(noPartition.code, 1);
  t.is(lines(noPartition.stderr)[0], `defter: topic '${ORDERS}' has no partition 7 (it has 3).`);
});

// ---- the formatting alone (no broker) ---------------------------------------------------------

test('describe rows: ISO start time, a duration only while the transaction runs, partitions in order', (t) => {
  const startMs = Date.UTC(2024, 4, 1, 12, 0, 0, 250);
  const rows = formatTransactionDescriptions(
    [
      { transactionalId: 'a', state: 'PrepareCommit', producerId: 7n, producerEpoch: 3, transactionTimeoutMs: 1000, transactionStartTimeMs: BigInt(startMs), topics: [{ topic: 't', partitions: [0, 4] }, { topic: 'u', partitions: [1] }] },
      { transactionalId: 'b', state: 'Empty', producerId: 8n, producerEpoch: 0, transactionTimeoutMs: 1000, transactionStartTimeMs: null, topics: [] },
      { transactionalId: 'c', state: 'CompleteAbort', producerId: 9n, producerEpoch: 1, transactionTimeoutMs: 500, transactionStartTimeMs: BigInt(startMs), topics: [] },
    ],
    startMs + 1500,
  );
  t.deepEqual(rows, [
    DESCRIBE_HEADER,
    'a\t7\t3\tPrepareCommit\t1000\t2024-05-01T12:00:00.250Z\t1500\tt-0,t-4,u-1',
    'b\t8\t0\tEmpty\t1000\t-\t-\t-',
    'c\t9\t1\tCompleteAbort\t500\t2024-05-01T12:00:00.250Z\t-\t-',
  ]);
});

test('state filters split on commas and repeat; unknown-id messages name the nearest id', (t) => {
  t.deepEqual(parseStateFilters(['Ongoing', 'PrepareCommit, PrepareAbort', 'Ongoing', '']), ['Ongoing', 'PrepareCommit', 'PrepareAbort']);
  t.is(unknownTransactionalIdMessage(['orders-tx'], ['orders-txn', 'payments']), "transactional id 'orders-tx' does not exist. Did you mean 'orders-txn'?");
  t.is(unknownTransactionalIdMessage(['x'], []), "transactional id 'x' does not exist (the cluster has no transactional ids).");
  t.is(unknownTransactionalIdMessage(['zzzzzzzz'], ['orders-txn']), "transactional id 'zzzzzzzz' does not exist.");
});
