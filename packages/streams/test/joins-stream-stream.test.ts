/**
 * Stream–stream joins (inner, left, outer) within a window, against the plain-loop reference:
 * seeded random input with timestamps out of order (some beyond the grace, hence dropped), on the
 * embedded log and over kafkajs; the buffers restored from their changelogs after a close and a
 * wipe of the state directory give the same results as one uninterrupted run.
 */
import { rm } from 'node:fs/promises';
import test, { type ExecutionContext } from 'ava';
import { app, JoinWindows, Serdes, type KStream, type LogOption, type StreamsApp } from '../src/index.js';
import { canonical, joinText, lateRecords, sideRecords, streamStreamReference, type SideRecord } from './joins-support.js';
import { closeAtEnd, produce, readAll, startCluster, waitForIdle, type TestCluster } from './runtime-support.js';
import { stateDirectory } from './stateful-support.js';

const TIME_DIFFERENCE_MS = 50;
const GRACE_MS = 30;
const KINDS = ['inner', 'left', 'outer'] as const;
const PARTITIONS = 2;

interface SideValue {
  readonly side: 'L' | 'R';
  readonly value: string;
}

/** Both sides come from one topic (filtered by side), so each task sees them in offset order: a deterministic interleaving. */
function defineJoins(pipeline: StreamsApp): void {
  const events = pipeline.stream('events', { key: Serdes.string(), value: Serdes.json<SideValue>() });
  const side = (name: 'L' | 'R'): KStream<string, string> => events.filter((record) => record.value!.side === name).mapValues((value) => value!.value);
  const left = side('L');
  const right = side('R');
  const windows = JoinWindows.ofTimeDifference(TIME_DIFFERENCE_MS).grace(GRACE_MS);
  const serdes = { key: Serdes.string(), value: Serdes.string(), otherValue: Serdes.string() };
  const out = { key: Serdes.string(), value: Serdes.string() };
  left.join(right, (l, r) => joinText(l, r), windows, { name: 'inner-buffer', ...serdes }).to('inner-out', out);
  left.leftJoin(right, (l, r) => joinText(l, r), windows, { name: 'left-buffer', ...serdes }).to('left-out', out);
  left.outerJoin(right, (l, r) => joinText(l, r), windows, { name: 'outer-buffer', ...serdes }).to('outer-out', out);
}

function partitionOf(key: string): number {
  return Number(key.slice(1)) % PARTITIONS;
}

async function write(cluster: TestCluster, records: readonly SideRecord[]): Promise<void> {
  await produce(
    cluster,
    'events',
    records.map((record) => ({
      key: record.key,
      value: JSON.stringify({ side: record.side, value: record.value }),
      partition: partitionOf(record.key),
      timestamp: String(record.timestamp),
    })),
    37,
  );
}

function reference(records: readonly SideRecord[], kind: (typeof KINDS)[number]): string[] {
  const outputs = [];
  for (let partition = 0; partition < PARTITIONS; partition += 1) {
    outputs.push(...streamStreamReference(records.filter((record) => partitionOf(record.key) === partition), kind, TIME_DIFFERENCE_MS, GRACE_MS));
  }
  return canonical(outputs);
}

async function checkOutputs(t: ExecutionContext, cluster: TestCluster, records: readonly SideRecord[], seed: number): Promise<void> {
  for (const kind of KINDS) {
    const expected = reference(records, kind);
    const actual = canonical(await readAll(cluster, [`${kind}-out`], expected.length, { settleMs: 500 }));
    t.deepEqual(actual, expected, `${kind} join, seed ${seed}`);
  }
}

async function scenario(t: ExecutionContext, log: (cluster: TestCluster) => LogOption): Promise<void> {
  const seed = Date.now() % 100_000;
  t.log(`seed ${seed}`);
  const cluster = await startCluster(t);
  await cluster.createTopic('events', PARTITIONS);
  for (const kind of KINDS) await cluster.createTopic(`${kind}-out`, 1);
  const records = sideRecords(400, seed, { keys: 6, startMs: 1_700_000_000_000, stepMs: 12, jitterMs: 45 });
  t.true(records.some((record, index) => index > 0 && record.timestamp < records[index - 1]!.timestamp), 'the input is out of order');
  const [inner, left, outer] = KINDS.map((kind) => reference(records, kind).length);
  t.log(`reference outputs: inner ${inner}, left ${left}, outer ${outer}`);
  t.true(inner > 0 && inner < left && left < outer, 'the input exercises matches and unmatched records of both sides');
  await write(cluster, records);
  const pipeline = closeAtEnd(t, app({ applicationId: 'stream-joins', log: log(cluster), stateDir: await stateDirectory(t), commitIntervalMs: 200 }));
  defineJoins(pipeline);
  await pipeline.start();
  t.true(await waitForIdle(pipeline, records.length, 60_000));
  await checkOutputs(t, cluster, records, seed);
  let late = 0;
  for (let partition = 0; partition < PARTITIONS; partition += 1) late += lateRecords(records.filter((record) => partitionOf(record.key) === partition), GRACE_MS);
  t.true(late > 0, 'some records are beyond the grace');
  const counted = pipeline.metrics().tasks.reduce((sum, task) => sum + task.recordsLate, 0);
  t.is(counted, late * KINDS.length, 'each join counts the late records it dropped');
}

test('embedded log: stream–stream inner/left/outer joins match the plain-loop reference with out-of-order input', async (t) => {
  await scenario(t, (cluster) => ({ broker: cluster.broker }));
});

test('kafkajs: stream–stream inner/left/outer joins match the plain-loop reference with out-of-order input', async (t) => {
  await scenario(t, (cluster) => ({ brokers: [cluster.bootstrap] }));
});

test('the join buffers restored from their changelogs (state directory wiped) go on as one uninterrupted run', async (t) => {
  const seed = (Date.now() % 100_000) + 1;
  t.log(`seed ${seed}`);
  const cluster = await startCluster(t);
  await cluster.createTopic('events', PARTITIONS);
  for (const kind of KINDS) await cluster.createTopic(`${kind}-out`, 1);
  const records = sideRecords(300, seed, { keys: 5, startMs: 1_700_000_000_000, stepMs: 12, jitterMs: 45 });
  const firstHalf = records.slice(0, 150);
  const stateDir = await stateDirectory(t);
  await write(cluster, firstHalf);
  const first = closeAtEnd(t, app({ applicationId: 'stream-joins-restore', log: { broker: cluster.broker }, stateDir, commitIntervalMs: 200 }));
  defineJoins(first);
  await first.start();
  t.true(await waitForIdle(first, firstHalf.length, 60_000));
  await first.close();
  await rm(stateDir, { recursive: true, force: true });

  await write(cluster, records.slice(150));
  let restored = 0;
  const second = closeAtEnd(
    t,
    app({ applicationId: 'stream-joins-restore', log: { broker: cluster.broker }, stateDir, commitIntervalMs: 200, onRestore: (progress) => (restored += progress.done ? progress.restoredRecords : 0) }),
  );
  defineJoins(second);
  await second.start();
  t.true(restored > 0, 'the buffers were restored from their changelogs');
  t.true(await waitForIdle(second, records.length - firstHalf.length, 60_000));
  await checkOutputs(t, cluster, records, seed);
});

test('a stream–stream join needs a window and its serdes', (t) => {
  const pipeline = app({ applicationId: 'bad-join', log: { brokers: ['localhost:1'] }, shutdownOnSignals: false });
  const left = pipeline.stream('a', { key: Serdes.string(), value: Serdes.string() });
  const right = pipeline.stream('b', { key: Serdes.string(), value: Serdes.string() });
  t.throws(() => left.join(right, (l, r) => l + r, undefined as unknown as JoinWindows, { name: 'x', key: Serdes.string(), value: Serdes.string(), otherValue: Serdes.string() }), {
    message: /needs a window/,
  });
  t.throws(() => JoinWindows.ofTimeDifference(-1), { message: /non-negative integer/ });
  t.throws(() => JoinWindows.ofTimeDifference(10).grace(1.5), { message: /non-negative integer/ });
});
