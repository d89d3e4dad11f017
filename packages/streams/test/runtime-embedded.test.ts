/**
 * The runtime on the embedded log: the app is given nothing but `{ dataDir }` (its own broker, no
 * sockets), at_least_once and exactly_once; a restart on the same directory continues from the
 * committed offsets; and the same app code on `{ brokers }` (kafkajs) gives the same output.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { app, EmbeddedLog, Serdes, type LogOption, type ProcessingGuarantee, type StreamLog } from '../src/index.js';
import { closeAtEnd, produce, readAll, startCluster, waitForIdle, waitUntil } from './runtime-support.js';

const INPUT = 'numbers';
const OUTPUT = 'even-numbers';

/** The pipeline under test: the same code whatever the log. */
function evenNumbersApp(log: LogOption, processingGuarantee: ProcessingGuarantee) {
  const pipeline = app({ applicationId: `evens-${processingGuarantee}`, log, processingGuarantee, commitIntervalMs: 100, fetchMaxWaitMs: 100 });
  pipeline
    .stream(INPUT, { key: Serdes.string(), value: Serdes.string() })
    .mapValues((value) => Number(value))
    .filter((record) => record.value! % 2 === 0)
    .mapValues((value) => `even:${value}`)
    .to(OUTPUT, { key: Serdes.string(), value: Serdes.string() });
  return pipeline;
}

const numbered = (from: number, to: number) => Array.from({ length: to - from }, (_, index) => ({ key: `k${from + index}`, value: String(from + index) }));

async function temporaryDirectory(t: ExecutionContext): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'defter-runtime-embedded-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  return dataDir;
}

/** Opens the data directory while no app holds it, for setup and checks. */
async function withLog<T>(dataDir: string, use: (log: StreamLog) => Promise<T>): Promise<T> {
  const log = new EmbeddedLog({ dataDir });
  await log.connect();
  try {
    return await use(log);
  } finally {
    await log.close();
  }
}

async function produceNumbers(log: StreamLog, from: number, to: number): Promise<void> {
  const producer = await log.createProducer({});
  const records = numbered(from, to).map(({ key, value }, index) => ({
    topic: INPUT,
    partition: index % 2,
    key: Buffer.from(key),
    value: Buffer.from(value),
    headers: {},
    timestamp: 1_700_000_000_000 + from + index,
  }));
  for (let index = 0; index < records.length; index += 25) await producer.send(records.slice(index, index + 25));
  await producer.close();
}

/** Every committed record of OUTPUT as `key=value`, sorted. */
async function readOutput(log: StreamLog, count: number): Promise<string[]> {
  const seen: string[] = [];
  const consumer = log.createConsumer({
    groupId: `output-reader-${Math.random().toString(36).slice(2)}`,
    topics: [OUTPUT],
    isolationLevel: 'read_committed',
    fetchMaxBytesPerPartition: 1 << 20,
    fetchMaxWaitMs: 100,
    partitionsConcurrentlyMax: 2,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 500,
    fromBeginning: true,
  });
  await consumer.run({
    onAssigned: () => undefined,
    onRevoked: () => undefined,
    onBatch: async (batch) => {
      for (const record of batch.records) seen.push(`${record.key?.toString()}=${record.value?.toString()}`);
    },
    onCrash: () => undefined,
  });
  await waitUntil(() => seen.length >= count, 30_000);
  await consumer.close();
  return seen.sort();
}

const expectedOutput = (from: number, to: number): string[] =>
  numbered(from, to)
    .filter(({ value }) => Number(value) % 2 === 0)
    .map(({ key, value }) => `${key}=even:${value}`)
    .sort();

for (const guarantee of ['at_least_once', 'exactly_once'] as const) {
  test(`${guarantee} on { dataDir }: the pipeline runs on its own embedded broker, and a restart continues from the committed offsets`, async (t) => {
    const dataDir = await temporaryDirectory(t);
    await withLog(dataDir, async (log) => {
      await log.createTopics([
        { name: INPUT, partitions: 2 },
        { name: OUTPUT, partitions: 2 },
      ]);
      await produceNumbers(log, 0, 200);
    });

    const first = closeAtEnd(t, evenNumbersApp({ dataDir }, guarantee));
    await first.start();
    t.true(await waitForIdle(first, 200, 30_000));
    await first.close();
    t.is(first.state, 'NOT_RUNNING');

    await withLog(dataDir, (log) => produceNumbers(log, 200, 300));
    const second = closeAtEnd(t, evenNumbersApp({ dataDir }, guarantee));
    await second.start();
    t.true(await waitForIdle(second, 100, 30_000));
    t.is(
      second.metrics().tasks.reduce((sum, task) => sum + task.recordsIn, 0),
      100,
      'the restarted app reads only what was not committed',
    );
    await second.close();

    const output = await withLog(dataDir, (log) => readOutput(log, 150));
    t.deepEqual(output, expectedOutput(0, 300));
  });
}

test('the same app code on { brokers } (kafkajs) gives the same output as on the embedded log', async (t) => {
  const dataDir = await temporaryDirectory(t);
  await withLog(dataDir, async (log) => {
    await log.createTopics([
      { name: INPUT, partitions: 2 },
      { name: OUTPUT, partitions: 2 },
    ]);
    await produceNumbers(log, 0, 120);
  });
  const embedded = closeAtEnd(t, evenNumbersApp({ dataDir }, 'exactly_once'));
  await embedded.start();
  t.true(await waitForIdle(embedded, 120, 30_000));
  await embedded.close();
  const embeddedOutput = await withLog(dataDir, (log) => readOutput(log, 60));

  const cluster = await startCluster(t);
  await cluster.createTopic(INPUT, 2);
  await cluster.createTopic(OUTPUT, 2);
  await produce(cluster, INPUT, numbered(0, 120));
  const overKafkajs = closeAtEnd(t, evenNumbersApp({ brokers: [cluster.bootstrap] }, 'exactly_once'));
  await overKafkajs.start();
  t.true(await waitForIdle(overKafkajs, 120, 30_000));
  await overKafkajs.close();
  const kafkajsOutput = (await readAll(cluster, [OUTPUT], 60)).map((record) => `${record.key}=${record.value}`).sort();

  t.is(embeddedOutput.length, 60);
  t.deepEqual(kafkajsOutput, embeddedOutput);
  t.deepEqual(embeddedOutput, expectedOutput(0, 120));
});

test('an app on the embedded log keeps its process alive while it waits for records, and stops on SIGTERM', async (t) => {
  const dataDir = await temporaryDirectory(t);
  const child = spawn(process.execPath, ['--import=tsx', '--conditions=defter-source', fileURLToPath(new URL('./embedded-idle-child.ts', import.meta.url)), dataDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  t.true(await waitUntil(() => output.includes('running'), 60_000), 'the app started');
  const early = await Promise.race([exited, new Promise<'alive'>((resolve) => setTimeout(() => resolve('alive'), 2_000))]);
  t.is(early, 'alive', 'nothing to do, yet the process did not end');
  child.kill('SIGTERM');
  t.deepEqual(await exited, { code: null, signal: 'SIGTERM' });
});
