import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { partitionForKey, startBroker, type RunningBroker } from '@defter/broker';
import { ClusterClient } from '../src/cluster-client.js';
import { PartitionFetcher } from '../src/partition-fetcher.js';
import { runDefter, startDefter } from './helpers/run-defter.js';

// `defter run FILE` as a child process: a pipeline file against a real broker (--brokers) and on
// the embedded log (--data-dir), stopped by SIGTERM; and every kind of file that is not a pipeline.

const fixtures = join(import.meta.dirname, 'fixtures');
const uppercase = join(fixtures, 'uppercase-pipeline.ts');

interface Cluster {
  readonly broker: RunningBroker;
  readonly bootstrap: string;
  readonly kafka: Kafka;
}

async function startCluster(dataDir: string): Promise<Cluster> {
  const broker = await startBroker({ dataDir, port: 0, groupInitialRebalanceDelayMs: 0, offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 });
  const bootstrap = `${broker.host}:${broker.port}`;
  return { broker, bootstrap, kafka: new Kafka({ clientId: 'run-test', brokers: [bootstrap], logLevel: logLevel.NOTHING }) };
}

async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** `count` words over two partitions: `word-<i>` keyed `k<i % 5>`. */
async function produceWords(cluster: Cluster, topic: string, count: number): Promise<void> {
  const producer = cluster.kafka.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: Array.from({ length: count }, (_, i) => ({ partition: i % 2, key: `k${i % 5}`, value: `word-${i}` })) });
  await producer.disconnect();
}

/** Every value of a topic with its partition, in offset order per partition. */
async function readValues(bootstrap: string, topic: string): Promise<string[]> {
  const client = await ClusterClient.connect(bootstrap);
  try {
    const info = await client.topic(topic);
    const fetcher = new PartitionFetcher(client, info, info.partitions.map(({ partition }) => ({ partition, offset: 0n, highWatermark: -1n })), { maxWaitMs: 10 });
    const values: string[] = [];
    do values.push(...(await fetcher.fetchOnce()).map((record) => `${record.partition}:${record.key?.toString() ?? ''}=${record.value?.toString() ?? ''}`));
    while (!fetcher.atEnd());
    return values.sort();
  } finally {
    await client.close();
  }
}

async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The outputs of `word-0`..`word-<count-1>`: the app places each by murmur2 of its key. */
function uppercased(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${partitionForKey(Buffer.from(`k${i % 5}`), 2)}:k${i % 5}=WORD-${i}`);
}

test('a TypeScript pipeline against --brokers: runs, reports its states, and stops gracefully on SIGTERM with its offsets committed', async (t) => {
  const dataDir = await tempDir('defter-run-brokers-');
  const cluster = await startCluster(dataDir);
  t.teardown(async () => {
    await cluster.broker.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  await cluster.broker.context.metadata.createTopic('words', 2, {});
  await cluster.broker.context.metadata.createTopic('words-upper', 2, {});
  await produceWords(cluster, 'words', 20);

  const running = startDefter(['run', uppercase, '--bootstrap-server', cluster.bootstrap, '--', 'words', 'words-upper', 'upper-app']);
  t.teardown(() => running.kill('SIGKILL'));
  await running.stderrLine(/pipeline upper-app: REBALANCING -> RUNNING/);
  await waitUntil(async () => (await readValues(cluster.bootstrap, 'words-upper')).length >= 20, 'the first 20 outputs');
  await produceWords(cluster, 'words', 30);
  await waitUntil(async () => (await readValues(cluster.bootstrap, 'words-upper')).length >= 30 + 20, 'the next 30 outputs');

  running.kill('SIGTERM');
  const exit = await running.exit;
  t.is(exit.signal, 'SIGTERM', exit.stderr);
  t.is(exit.code, null);
  t.is(exit.stdout, '');
  t.deepEqual(
    exit.stderr.split('\n').filter((line) => line.startsWith('pipeline ')),
    ['pipeline upper-app: CREATED -> REBALANCING', 'pipeline upper-app: REBALANCING -> RUNNING', 'pipeline upper-app: RUNNING -> PENDING_SHUTDOWN', 'pipeline upper-app: PENDING_SHUTDOWN -> NOT_RUNNING'],
  );
  // The graceful stop committed every input: 20 + 30 records, 25 per partition.
  const admin = cluster.kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const committed = await admin.fetchOffsets({ groupId: 'upper-app', topics: ['words'] });
  t.deepEqual(committed[0]!.partitions.map(({ partition, offset }) => ({ partition, offset })).sort((a, b) => a.partition - b.partition), [
    { partition: 0, offset: '25' },
    { partition: 1, offset: '25' },
  ]);
  t.deepEqual(await readValues(cluster.bootstrap, 'words-upper'), [...uppercased(20), ...uppercased(30)].sort());
});

test('a pipeline whose app fails exits 1 with the error in one sentence', async (t) => {
  const dataDir = await tempDir('defter-run-fails-');
  const cluster = await startCluster(dataDir);
  t.teardown(async () => {
    await cluster.broker.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const failed = await runDefter(['run', uppercase, '--brokers', cluster.bootstrap, '-q', '--', 'no-such-topic', 'out', 'failing-app']);
  t.is(failed.code, 1);
  t.regex(failed.stderr, /^defter: pipeline failing-app failed: .*no-such-topic.*\.\n$/);
  t.is(failed.stderr.split('\n').length, 2, failed.stderr);
});

test('a pipeline on the embedded log (--data-dir), with status lines, stopped by SIGTERM', async (t) => {
  const dataDir = await tempDir('defter-run-embedded-');
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  // Topics and input written by a broker that then stops and lets the pipeline have the directory.
  const before = await startCluster(dataDir);
  await before.broker.context.metadata.createTopic('words', 2, {});
  await before.broker.context.metadata.createTopic('words-upper', 2, {});
  await produceWords(before, 'words', 40);
  await before.broker.close();

  const running = startDefter(['run', uppercase, '--data-dir', dataDir, '--status-interval-ms', '200', '--', 'words', 'words-upper', 'embedded-app']);
  t.teardown(() => running.kill('SIGKILL'));
  await running.stderrLine(/pipeline embedded-app: RUNNING, 2 task\(s\), 40 record\(s\) in, 40 out/);
  running.kill('SIGTERM');
  const exit = await running.exit;
  t.is(exit.signal, 'SIGTERM', exit.stderr);

  const after = await startCluster(dataDir);
  t.teardown(() => after.broker.close());
  t.deepEqual(await readValues(after.bootstrap, 'words-upper'), uppercased(40).sort());
  const admin = after.kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const committed = await admin.fetchOffsets({ groupId: 'embedded-app', topics: ['words'] });
  t.deepEqual(committed[0]!.partitions.map(({ partition, offset }) => ({ partition, offset })).sort((a, b) => a.partition - b.partition), [
    { partition: 0, offset: '20' },
    { partition: 1, offset: '20' },
  ]);
});

test('a file that is not a pipeline gets one sentence and exit code 2', async (t) => {
  const dataDir = await tempDir('defter-run-bad-');
  const cluster = await startCluster(dataDir);
  t.teardown(async () => {
    await cluster.broker.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  await cluster.broker.context.metadata.createTopic('started-input', 1, {});
  const unreachable = ['--brokers', '127.0.0.1:1'];
  const cases: Array<[string[], string]> = [
    [['run', join(fixtures, 'missing.ts')], `defter: pipeline file '${join(fixtures, 'missing.ts')}' does not exist.`],
    [['run', join(fixtures, 'no-default-export.ts'), ...unreachable], `defter: pipeline file '${join(fixtures, 'no-default-export.ts')}' has no default export: export default a function (context) => app({ ..., log: context.log }).`],
    [['run', join(fixtures, 'default-not-a-function.mjs'), ...unreachable], `defter: the default export of '${join(fixtures, 'default-not-a-function.mjs')}' is a number, not a function (context) => StreamsApp.`],
    [['run', join(fixtures, 'returns-not-an-app.ts'), ...unreachable], `defter: the pipeline in '${join(fixtures, 'returns-not-an-app.ts')}' returned an object, not a StreamsApp (return the app that app({ ... }) made).`],
    [['run', uppercase, ...unreachable], `defter: the pipeline in '${uppercase}' failed to build its app: expected the arguments INPUT OUTPUT APPLICATION_ID after --.`],
    [['run', join(fixtures, 'no-streams.ts'), ...unreachable], `defter: ${join(fixtures, 'no-streams.ts')}: the app has no streams: call app.stream() before start().`],
    [
      ['run', join(fixtures, 'starts-itself.ts'), '--brokers', cluster.bootstrap, '--', 'started-input', 'starts-itself'],
      `defter: the pipeline in '${join(fixtures, 'starts-itself.ts')}' returned an app that was already started (state RUNNING): return it unstarted, defter run starts it.`,
    ],
    [['run', join(fixtures, '..', '..', 'package.json')], `defter: '${join(fixtures, '..', '..', 'package.json')}' is not a pipeline file: expected a .ts, .mts, .js or .mjs file.`],
    [['run', uppercase, '--brokers', cluster.bootstrap, '--data-dir', dataDir], 'defter: give either --brokers (a cluster) or --data-dir (the embedded log), not both.'],
  ];
  const results = await Promise.all(cases.map(([args]) => runDefter(args)));
  for (const [index, result] of results.entries()) {
    const [args, message] = cases[index]!;
    t.is(result.code, 2, args.join(' '));
    t.is(result.stderr, `${message}\n`, args.join(' '));
  }
});
