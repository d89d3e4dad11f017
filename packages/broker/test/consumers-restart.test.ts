/**
 * A broker restart in the middle of a group's life: the committed offsets are still there, the
 * group re-forms around the same consumers, and they go on without reading again anything
 * committed before the restart; once re-formed, the group reads each new record exactly once.
 */
import test from 'ava';
import { startBroker } from '../src/index.js';
import {
  ADMIN_POLL_MS,
  Ledger,
  assignmentProblems,
  commitsCaughtUp,
  committedOffsets,
  kafkaFor,
  produceSpread,
  startKafkajsMember,
  waitUntil,
} from './helpers/group-consumers.js';
import { tempDir } from './helpers/test-broker.js';

const PARTITIONS = 4;
const WAIT_MS = 45_000;

test('committed offsets survive a restart; the group re-forms and never re-reads what it had committed', async (t) => {
  const dataDir = await tempDir(t, 'defter-consumers-restart-');
  const settings = { dataDir, host: '127.0.0.1', groupInitialRebalanceDelayMs: 200, groupMinSessionTimeoutMs: 1_000, shutdownTimeoutMs: 1_000, logLevel: 'error' };
  let broker = await startBroker({ ...settings, port: 0 });
  const port = broker.port;
  t.teardown(() => broker.close());
  const bootstrap = `127.0.0.1:${port}`;
  const topic = 'restart';
  const groupId = 'restart-group';
  await broker.context.metadata.createTopic(topic, PARTITIONS, {});
  const kafka = kafkaFor(bootstrap);
  const ledger = new Ledger();
  const members = await Promise.all(
    ['r1', 'r2'].map((name) => startKafkajsMember(t, { bootstrap, groupId, topic, name, ledger, sessionTimeoutMs: 6_000 })),
  );
  await waitUntil(() => assignmentProblems(members.map((m) => m.assignment), topic, PARTITIONS).length === 0, WAIT_MS, () => JSON.stringify(members.map((m) => m.assignment)));
  const before = await produceSpread(kafka, topic, PARTITIONS, 200, 'before');
  await waitUntil(() => ledger.distinct() === 200, WAIT_MS, () => `${ledger.distinct()} of 200 consumed`);
  await waitUntil(() => commitsCaughtUp(kafka, groupId, topic), WAIT_MS, () => 'commits behind before the restart', ADMIN_POLL_MS);
  const joinsBefore = members.map((member) => member.joins);

  await broker.close();
  broker = await startBroker({ ...settings, port });
  t.deepEqual(
    [...(await committedOffsets(kafka, groupId, topic))].sort(([a], [b]) => a - b),
    Array.from({ length: PARTITIONS }, (_, partition) => [partition, 50]),
    'the committed offsets were loaded from __consumer_offsets',
  );

  // Records produced while the group re-forms may be read again if a consumer read them before it
  // learned that its generation was gone (its commit is then refused): at least once, never less.
  // What the group committed before the restart is never read again.
  const during = await produceSpread(kafka, topic, PARTITIONS, 200, 'during');
  await waitUntil(() => ledger.distinct() === 400, WAIT_MS, () => `${ledger.distinct()} of 400 consumed`);
  await waitUntil(
    () => members.every((member, i) => member.joins > joinsBefore[i]!) && assignmentProblems(members.map((m) => m.assignment), topic, PARTITIONS).length === 0,
    WAIT_MS,
    () => `joins ${JSON.stringify(members.map((m) => m.joins))}, assignments ${JSON.stringify(members.map((m) => m.assignment))}`,
  );
  await waitUntil(() => commitsCaughtUp(kafka, groupId, topic), WAIT_MS, () => 'commits behind after the restart', ADMIN_POLL_MS);
  t.deepEqual(ledger.missing([...before, ...during]), []);
  const rereads = ledger.duplicates();
  t.deepEqual(
    rereads.filter((position) => Number(/@(\d+)/.exec(position)![1]) < 50),
    [],
    'nothing below the offsets committed before the restart is read again',
  );
  t.log(`${rereads.length} record(s) produced during the re-formation were read twice: ${rereads.join(', ')}`);

  // The re-formed group is a group like any other: exactly once again.
  const readsBefore = ledger.size;
  const after = await produceSpread(kafka, topic, PARTITIONS, 200, 'after');
  await waitUntil(() => ledger.distinct() === 600, WAIT_MS, () => `${ledger.distinct()} of 600 consumed`);
  await waitUntil(() => commitsCaughtUp(kafka, groupId, topic), WAIT_MS, () => 'commits behind after the re-formation', ADMIN_POLL_MS);
  t.is(ledger.size - readsBefore, 200, 'each record produced after the re-formation read once');
  t.deepEqual(ledger.missing(after), []);
  t.deepEqual(assignmentProblems(members.map((m) => m.assignment), topic, PARTITIONS), [], 'the re-formed group covers each partition once');

  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const { groups } = await admin.describeGroups([groupId]);
  t.is(groups[0]?.state, 'Stable');
  t.is(groups[0]?.members.length, 2);
});
