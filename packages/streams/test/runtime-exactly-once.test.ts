/**
 * exactly_once against a real broker: outputs become visible to read_committed readers only when
 * the commit's transaction commits (with the input offsets in it), and an instance killed with
 * its transaction open leaves nothing visible; its successor (same instance id) fences it and
 * writes every input exactly once.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { app, Serdes } from '../src/index.js';
import { closeAtEnd, committedOffsets, produce, readAll, startCluster, waitForIdle, waitUntil } from './runtime-support.js';

const records = (count: number) => Array.from({ length: count }, (_, n) => ({ key: `k${n}`, value: String(n) }));

test('outputs are invisible to read_committed until the transaction commits, then all there with the offsets', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('in', 2);
  await cluster.createTopic('out', 2);
  await produce(cluster, 'in', records(100));
  const commitIntervalMs = 4_000;
  const pipeline = closeAtEnd(
    t,
    app({ applicationId: 'eos-visible', processingGuarantee: 'exactly_once', commitIntervalMs, log: { brokers: [cluster.bootstrap] } }),
  );
  pipeline
    .stream('in', { key: Serdes.string(), value: Serdes.string() })
    .mapValues((value) => `out-${value}`)
    .to('out', { key: Serdes.string(), value: Serdes.string() });
  const startedMs = Date.now();
  await pipeline.start();
  t.true(await waitUntil(() => pipeline.metrics().tasks.reduce((sum, task) => sum + task.recordsOut, 0) === 100, 3_000));
  const uncommitted = await readAll(cluster, ['out'], 100, { readUncommitted: true, settleMs: 0 });
  t.is(uncommitted.length, 100, 'written, in the open transaction');
  if (Date.now() - startedMs < commitIntervalMs - 500) {
    t.deepEqual(await readAll(cluster, ['out'], 1, { timeoutMs: 300, settleMs: 0 }), [], 'read_committed sees nothing yet');
    t.deepEqual(await committedOffsets(cluster, 'eos-visible', 'in'), ['-1', '-1']);
  } else {
    t.log('the machine was too slow to look before the commit');
  }
  t.true(await waitForIdle(pipeline, 100, 10_000));
  const committed = await readAll(cluster, ['out'], 100);
  t.deepEqual(committed.map((record) => record.value).sort(), records(100).map((record) => `out-${record.value}`).sort());
  t.true(await waitUntil(async () => (await committedOffsets(cluster, 'eos-visible', 'in')).map(Number).reduce((a, b) => a + b, 0) === 100, 5_000));
});

test('an instance killed with its transaction open leaves nothing visible; its successor writes each input exactly once', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('in', 1);
  await cluster.createTopic('out', 1);
  await produce(cluster, 'in', records(60));
  const child = spawn(
    process.execPath,
    ['--import=tsx', '--conditions=defter-source', fileURLToPath(new URL('./runtime-eos-child.ts', import.meta.url)), cluster.bootstrap, '600000'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  t.true(await waitUntil(() => output.includes('processed 60'), 30_000), `child output: ${output}`);
  t.is((await readAll(cluster, ['out'], 60, { readUncommitted: true, settleMs: 0 })).length, 60, 'the outputs are in the log, uncommitted');
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  t.deepEqual(await readAll(cluster, ['out'], 1, { timeoutMs: 500, settleMs: 0 }), [], 'read_committed sees nothing of the killed transaction');

  await produce(cluster, 'in', records(90).slice(60));
  const successor = closeAtEnd(
    t,
    app({
      applicationId: 'eos-crash',
      instanceId: 'instance-1',
      processingGuarantee: 'exactly_once',
      commitIntervalMs: 100,
      log: { brokers: [cluster.bootstrap] },
    }),
  );
  successor
    .stream('in', { key: Serdes.string(), value: Serdes.string() })
    .mapValues((value) => `out-${value}`)
    .to('out', { key: Serdes.string(), value: Serdes.string() });
  await successor.start();
  t.true(await waitForIdle(successor, 90, 20_000));
  await successor.close();
  const committed = await readAll(cluster, ['out'], 90);
  t.deepEqual(
    committed.map((record) => record.value),
    records(90).map((record) => `out-${record.value}`),
    'every input once, in order',
  );
  t.deepEqual(await committedOffsets(cluster, 'eos-crash', 'in'), ['90']);
});
