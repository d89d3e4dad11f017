import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { startBroker, type RunningBroker } from '@defter/broker';
import { runDefter, type DefterExit } from './helpers/run-defter.js';

// `defter groups …` as a child process against a real broker in this process; the group is a real
// kafkajs consumer. The tests share one broker and run in order.

const TOPIC = 'cli-orders';
const GROUP = 'cli-app';
const PARTITIONS = 3;
const RECORDS_PER_PARTITION = 10;

let broker: RunningBroker;
let dataDir: string;
let bootstrap: string;
let kafka: Kafka;
let consumer: Consumer;
let memberId = '';

test.before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'defter-cli-groups-'));
  broker = await startBroker({ dataDir, port: 0, groupInitialRebalanceDelayMs: 0 });
  bootstrap = `${broker.host}:${broker.port}`;
  await broker.context.metadata.createTopic(TOPIC, PARTITIONS, {});
  kafka = new Kafka({ clientId: 'cli-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  for (let partition = 0; partition < PARTITIONS; partition++) {
    await producer.send({ topic: TOPIC, messages: Array.from({ length: RECORDS_PER_PARTITION }, (_, i) => ({ value: `v${i}`, partition })) });
  }
  await producer.disconnect();
});

test.after.always(async () => {
  await consumer?.disconnect();
  await broker?.close();
  await rm(dataDir, { recursive: true, force: true });
});

function defter(args: readonly string[]): Promise<DefterExit> {
  return runDefter(args, { env: { DEFTER_BOOTSTRAP_SERVER: bootstrap } });
}

/** The error sentence: the first line of stderr. */
function firstLine(text: string): string {
  return text.split('\n')[0]!.trim();
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0);
}

async function committed(groupId: string): Promise<number[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [TOPIC] });
    return [...(offsets?.partitions ?? [])].sort((a, b) => a.partition - b.partition).map(({ offset }) => Number(offset));
  } finally {
    await admin.disconnect();
  }
}

test.serial('describe shows per partition the committed offset, log end offset, lag and owner of an active group', async (t) => {
  consumer = kafka.consumer({ groupId: GROUP, heartbeatInterval: 500 });
  const joined = new Promise<void>((resolve) =>
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      memberId = payload.memberId;
      resolve();
    }),
  );
  await consumer.connect();
  await consumer.subscribe({ topic: TOPIC, fromBeginning: false });
  await consumer.run({ autoCommit: false, eachMessage: async () => undefined });
  await joined;
  await consumer.commitOffsets([
    { topic: TOPIC, partition: 0, offset: '10' },
    { topic: TOPIC, partition: 1, offset: '4' },
  ]);

  const listed = await defter(['groups', 'list']);
  t.is(listed.code, 0, listed.stderr);
  t.deepEqual(lines(listed.stdout), [GROUP]);
  const withState = await defter(['groups', 'list', '--state']);
  t.deepEqual(lines(withState.stdout), ['GROUP\tSTATE\tPROTOCOL-TYPE', `${GROUP}\tStable\tconsumer`]);

  const described = await defter(['groups', 'describe', GROUP]);
  t.is(described.code, 0, described.stderr);
  const [header, columns, ...rows] = lines(described.stdout);
  t.is(header, `Group: ${GROUP}\tState: Stable\tProtocol: consumer/RoundRobinAssigner\tMembers: 1`);
  t.is(columns, 'TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tMEMBER-ID\tCLIENT-ID\tHOST');
  const owner = (row: string) => row.split('\t').slice(5);
  t.deepEqual(
    rows.slice(0, 3).map((row) => row.split('\t').slice(0, 5).join('\t')),
    [`${TOPIC}\t0\t10\t10\t0`, `${TOPIC}\t1\t4\t10\t6`, `${TOPIC}\t2\t-\t10\t-`],
  );
  for (const row of rows.slice(0, 3)) {
    t.is(owner(row)[0], memberId);
    t.is(owner(row)[1], 'cli-test');
    t.regex(owner(row)[2]!, /127\.0\.0\.1/);
  }
  t.deepEqual(rows.slice(3), ['Total lag: 6']);
});

test.serial('a mistyped group gets a suggestion; an active group can be neither reset nor deleted', async (t) => {
  const typo = await defter(['groups', 'describe', 'cli-ap']);
  t.is(typo.code, 1);
  t.is(firstLine(typo.stderr), `defter: group 'cli-ap' does not exist. Did you mean '${GROUP}'?`);

  const reset = await defter(['groups', 'reset-offsets', GROUP, '--topic', TOPIC, '--to-earliest', '--execute']);
  t.is(reset.code, 1);
  t.is(firstLine(reset.stderr), `defter: cannot reset the offsets of group '${GROUP}' while it is active (state Stable, 1 member(s)): stop its consumers first.`);
  t.deepEqual(await committed(GROUP), [10, 4, -1], 'nothing changed');

  const deleted = await defter(['groups', 'delete', GROUP]);
  t.is(deleted.code, 1);
  t.is(firstLine(deleted.stderr), `defter: group '${GROUP}' still has members: stop its consumers before deleting it.`);

  const noTarget = await defter(['groups', 'reset-offsets', GROUP, '--topic', TOPIC]);
  t.is(noTarget.code, 1);
  t.regex(noTarget.stderr, /give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset or --shift-by/);
  const typoCommand = await defter(['groups', 'describ', GROUP]);
  t.is(typoCommand.code, 2);
  t.regex(typoCommand.stderr, /Did you mean 'describe'\?/);
});

test.serial('once the group is empty, reset-offsets prints a dry run, and commits with --execute', async (t) => {
  await consumer.disconnect();
  const described = lines((await defter(['groups', 'describe', GROUP])).stdout);
  // Kafka keeps an empty group's protocol type; a coordinator may also forget it with the last member.
  t.regex(described[0]!, new RegExp(`^Group: ${GROUP}\tState: Empty\tProtocol: (consumer|-)\tMembers: 0$`));
  t.deepEqual(described.slice(2), [`${TOPIC}\t0\t10\t10\t0\t-\t-\t-`, `${TOPIC}\t1\t4\t10\t6\t-\t-\t-`, 'Total lag: 6']);

  const dryRun = await defter(['groups', 'reset-offsets', GROUP, '--topic', TOPIC, '--to-earliest']);
  t.is(dryRun.code, 0, dryRun.stderr);
  t.deepEqual(lines(dryRun.stdout), [
    'TOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET',
    `${TOPIC}\t0\t10\t0`,
    `${TOPIC}\t1\t4\t0`,
    `${TOPIC}\t2\t-\t0`,
    'Dry run: nothing was committed. Add --execute to commit these offsets.',
  ]);
  t.deepEqual(await committed(GROUP), [10, 4, -1], 'a dry run commits nothing');

  const toOffset = await defter(['groups', 'reset-offsets', GROUP, '--topic', TOPIC, '--to-offset', '7', '--execute']);
  t.is(toOffset.code, 0, toOffset.stderr);
  t.is(lines(toOffset.stdout).at(-1), `Committed the new offsets of 3 partition(s) for group ${GROUP}.`);
  t.deepEqual(await committed(GROUP), [7, 7, 7]);

  const shifted = await defter(['groups', 'reset-offsets', GROUP, '--topic', `${TOPIC}:0,2`, '--shift-by', '-5', '--execute']);
  t.is(shifted.code, 0, shifted.stderr);
  t.deepEqual(await committed(GROUP), [2, 7, 2]);

  const future = await defter(['groups', 'reset-offsets', GROUP, '--topic', `${TOPIC}:1`, '--to-datetime', '2999-01-01T00:00:00Z', '--execute']);
  t.is(future.code, 0, future.stderr);
  t.deepEqual(await committed(GROUP), [2, 10, 2], 'no record at or after the time: the end of the log');
  const past = await defter(['groups', 'reset-offsets', GROUP, '--topic', TOPIC, '--to-datetime', '2000-01-01T00:00:00Z', '--execute']);
  t.is(past.code, 0, past.stderr);
  t.deepEqual(await committed(GROUP), [0, 0, 0]);

  const latest = await defter(['groups', 'reset-offsets', GROUP, '--topic', TOPIC, '--to-latest', '--execute']);
  t.is(latest.code, 0, latest.stderr);
  t.deepEqual(await committed(GROUP), [10, 10, 10]);
  const lag = lines((await defter(['groups', 'describe', GROUP])).stdout).at(-1);
  t.is(lag, 'Total lag: 0');

  const unknownTopic = await defter(['groups', 'reset-offsets', GROUP, '--topic', 'cli-order', '--to-latest']);
  t.is(unknownTopic.code, 1);
  t.is(firstLine(unknownTopic.stderr), `defter: topic 'cli-order' does not exist. Did you mean '${TOPIC}'?`);
});

test.serial('reset-offsets can give a new group its first offsets; delete removes a group and its offsets', async (t) => {
  const created = await defter(['groups', 'reset-offsets', 'cli-fresh', '--topic', TOPIC, '--to-offset', '3', '--execute']);
  t.is(created.code, 0, created.stderr);
  t.regex(created.stderr, /Note: group 'cli-fresh' has no offsets yet; --execute creates them\./);
  t.deepEqual(await committed('cli-fresh'), [3, 3, 3]);
  t.deepEqual(lines((await defter(['groups', 'list'])).stdout), [GROUP, 'cli-fresh']);

  const deleted = await defter(['groups', 'delete', GROUP, 'cli-fresh']);
  t.is(deleted.code, 0, deleted.stderr);
  t.deepEqual(lines(deleted.stdout), [`Deleted group ${GROUP}.`, 'Deleted group cli-fresh.']);
  t.deepEqual(lines((await defter(['groups', 'list'])).stdout), []);
  t.deepEqual(await committed(GROUP), [-1, -1, -1], 'its offsets went with it');
  const again = await defter(['groups', 'delete', GROUP]);
  t.is(again.code, 1);
  t.is(firstLine(again.stderr), `defter: group '${GROUP}' does not exist (the cluster has no groups).`);
});
