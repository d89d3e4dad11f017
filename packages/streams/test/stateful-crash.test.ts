/**
 * A stateful app SIGKILLed mid-stream, then a successor on the same state directory:
 * exactly_once discards the local state (no clean checkpoint), restores it from the changelog and
 * ends with exactly the right counts; at_least_once never loses a count but may count a record
 * twice after a crash (its contract).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { app, type ProcessingGuarantee } from '../src/index.js';
import { closeAtEnd, committedOffsets, produce, startCluster, waitForIdle, waitUntil } from './runtime-support.js';
import { countBy, defineCounting, stateDirectory, storeContents } from './stateful-support.js';

const TOTAL = 600;
const input = Array.from({ length: TOTAL }, (_, n) => ({ key: `k${n % 11}`, value: `v${n}` }));

async function crashAndRecover(t: ExecutionContext, guarantee: ProcessingGuarantee): Promise<{ counts: Record<string, number>; restored: number; committed: number }> {
  const cluster = await startCluster(t);
  await cluster.createTopic('in', 2);
  await cluster.createTopic('counts-out', 2);
  const stateDir = await stateDirectory(t);
  await produce(cluster, 'in', input, 20);
  const child = spawn(
    process.execPath,
    ['--import=tsx', '--conditions=defter-source', fileURLToPath(new URL('./stateful-crash-child.ts', import.meta.url)), cluster.bootstrap, stateDir, guarantee],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let processed = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    for (const match of chunk.toString().matchAll(/processed (\d+)/g)) processed = Math.max(processed, Number(match[1]));
  });
  t.true(await waitUntil(() => processed >= TOTAL / 3, 40_000), `the child processed ${processed}`);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const committed = (await committedOffsets(cluster, 'crash-counts', 'in')).map(Number).reduce((sum, offset) => sum + Math.max(0, offset), 0);
  t.log(`killed after ${processed} records, ${committed} committed`);

  let restored = 0;
  const successor = closeAtEnd(
    t,
    app({
      applicationId: 'crash-counts',
      instanceId: 'instance-1',
      processingGuarantee: guarantee,
      commitIntervalMs: 150,
      stateDir,
      log: { brokers: [cluster.bootstrap] },
      onRestore: (progress) => {
        if (progress.done) restored += progress.restoredRecords;
      },
    }),
  );
  defineCounting(successor);
  await successor.start();
  // Everything after the last committed offset is processed again: wait until nothing is left.
  t.true(
    await waitUntil(async () => Object.values(await storeContents<number>(successor, 'counts')).reduce((sum, count) => sum + count, 0) >= TOTAL, 40_000),
    'the successor caught up',
  );
  t.true(await waitForIdle(successor, 1, 20_000));
  const counts = await storeContents<number>(successor, 'counts');
  await successor.close();
  return { counts, restored, committed };
}

test('exactly_once: a SIGKILLed instance leaves no trusted local state; the successor restores it and counts exactly', async (t) => {
  const { counts, restored, committed } = await crashAndRecover(t, 'exactly_once');
  t.deepEqual(counts, countBy(input, (entry) => entry.key));
  // The local state was wiped: every committed changelog record (one per key and commit at most) came back from the log.
  if (committed > 0) t.true(restored > 0, `restored ${restored} changelog records after ${committed} committed inputs`);
  t.log(`restored ${restored} changelog records`);
});

test('at_least_once: after a SIGKILL no count is lost (a record may be counted twice)', async (t) => {
  const { counts } = await crashAndRecover(t, 'at_least_once');
  const exact = countBy(input, (entry) => entry.key);
  t.deepEqual(Object.keys(counts).sort(), Object.keys(exact).sort());
  for (const [key, count] of Object.entries(exact)) t.true(counts[key]! >= count, `${key}: ${counts[key]} >= ${count}`);
  t.log(`over-counted by ${Object.values(counts).reduce((a, b) => a + b, 0) - TOTAL}`);
});
