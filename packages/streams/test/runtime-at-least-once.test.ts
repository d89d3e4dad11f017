/**
 * at_least_once against a real broker: commits happen on the interval, a restarted app continues
 * from them with nothing lost, the lifecycle is observable, and a slow operator keeps the records
 * in flight under the high-water mark.
 */
import test from 'ava';
import { concatMap } from 'rxjs';
import { app, Serdes, type AppState, type StreamRecord } from '../src/index.js';
import { closeAtEnd, committedOffsets, produce, readAll, sleep, startCluster, waitForIdle, waitUntil } from './runtime-support.js';

const numbered = (from: number, to: number) => Array.from({ length: to - from }, (_, index) => ({ key: `k${from + index}`, value: String(from + index) }));

function upperCasePipeline(bootstrap: string, commitIntervalMs: number) {
  const pipeline = app({ applicationId: 'restartable', log: { brokers: [bootstrap] }, commitIntervalMs });
  pipeline
    .stream('words', { key: Serdes.string(), value: Serdes.string() })
    .mapValues((value) => `v${value}`)
    .to('tagged', { key: Serdes.string(), value: Serdes.string() });
  return pipeline;
}

test('commits every commitIntervalMs; a restarted app continues from the committed offsets with no loss', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('words', 2);
  await cluster.createTopic('tagged', 2);
  await produce(cluster, 'words', numbered(0, 200));

  const first = closeAtEnd(t, upperCasePipeline(cluster.bootstrap, 150));
  const states: AppState[] = [];
  first.state$.subscribe((state) => states.push(state));
  await first.start();
  t.true(await waitForIdle(first, 200), 'every fetched record is committed without close()');
  const committed = (await committedOffsets(cluster, 'restartable', 'words')).map(Number);
  t.is(committed[0]! + committed[1]!, 200, 'the interval commit covers all 200 input records');
  t.true(first.metrics().commits >= 1);
  await first.close();
  t.deepEqual(states, ['CREATED', 'REBALANCING', 'RUNNING', 'PENDING_SHUTDOWN', 'NOT_RUNNING']);

  await produce(cluster, 'words', numbered(200, 300));
  const second = closeAtEnd(t, upperCasePipeline(cluster.bootstrap, 150));
  await second.start();
  t.true(await waitForIdle(second, 100));
  t.is(
    second.metrics().tasks.reduce((sum, task) => sum + task.recordsIn, 0),
    100,
    'the restarted app reads only what was not committed',
  );
  await second.close();

  const output = await readAll(cluster, ['tagged'], 300);
  const values = output.map((record) => Number(record.value!.slice(1))).sort((a, b) => a - b);
  t.deepEqual(values, Array.from({ length: 300 }, (_, n) => n), 'every input exactly once (graceful stops)');
  for (const record of output) t.is(record.value, `v${record.key!.slice(1)}`);
});

test('close() finishes the batch under way and commits it before leaving the group', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('words', 1);
  await cluster.createTopic('tagged', 1);
  await produce(cluster, 'words', numbered(0, 50));
  // The interval never fires: only close() commits.
  const pipeline = closeAtEnd(t, upperCasePipeline(cluster.bootstrap, 600_000));
  await pipeline.start();
  t.true(await waitUntil(() => pipeline.metrics().tasks[0]?.recordsIn === 50, 15_000));
  t.deepEqual(await committedOffsets(cluster, 'restartable', 'words'), ['-1']);
  await pipeline.close();
  t.deepEqual(await committedOffsets(cluster, 'restartable', 'words'), ['50']);
  t.is((await readAll(cluster, ['tagged'], 50)).length, 50);
});

test('backpressure: an operator slower than the input keeps records fetched-but-not-committed under the high-water mark', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('fast', 1);
  await cluster.createTopic('slow-out', 1);
  const total = 3_000;
  await produce(
    cluster,
    'fast',
    Array.from({ length: total }, (_, n) => ({ key: null, value: String(n).padStart(8, '0') })),
    50,
  );
  const highWaterMark = 600;
  const pipeline = closeAtEnd(
    t,
    app({
      applicationId: 'slow',
      log: { brokers: [cluster.bootstrap] },
      // Never by the timer: only the high-water mark triggers commits.
      commitIntervalMs: 600_000,
      inFlightRecordsHighWaterMark: highWaterMark,
      fetchMaxBytesPerPartition: 4_096,
    }),
  );
  let inOperator = 0;
  let inOperatorMax = 0;
  pipeline
    .stream('fast', { key: Serdes.string(), value: Serdes.string() })
    .pipe(
      concatMap(async (record: StreamRecord<string, string>) => {
        inOperator += 1;
        inOperatorMax = Math.max(inOperatorMax, inOperator);
        if (Number(record.value) % 100 === 0) await sleep(5);
        inOperator -= 1;
        return record;
      }),
    )
    .to('slow-out', { key: Serdes.string(), value: Serdes.string() });
  await pipeline.start();
  t.true(await waitUntil(() => (pipeline.metrics().tasks[0]?.recordsIn ?? 0) >= total, 40_000));
  const task = pipeline.metrics().tasks[0]!;
  t.true(task.batchRecordsMax > 0 && task.batchRecordsMax < total / 4, `small batches (largest ${task.batchRecordsMax})`);
  t.true(
    task.inFlightRecordsMax <= highWaterMark + task.batchRecordsMax,
    `in flight at most ${task.inFlightRecordsMax} ≤ ${highWaterMark} + one batch of ${task.batchRecordsMax}`,
  );
  t.true(task.commits >= Math.floor(total / (highWaterMark + task.batchRecordsMax)), `${task.commits} commits, driven by the high-water mark`);
  t.is(inOperatorMax, 1, 'concatMap: one record in the operator at a time');
  await pipeline.close();
  const output = await readAll(cluster, ['slow-out'], total, { settleMs: 100 });
  t.deepEqual(
    output.map((record) => Number(record.value)),
    Array.from({ length: total }, (_, n) => n),
    'in order, none lost, none twice',
  );
});
