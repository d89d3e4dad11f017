/**
 * Scale-out: two instances of one application (two child processes, one group) share the tasks of
 * an 8-partition input while it is fed; one is SIGKILLed mid-stream; once its session expires the
 * other takes over all eight tasks, and the output is complete — every input at least once
 * (at_least_once), or exactly once in the read_committed output (exactly_once: the killed
 * instance's open transaction is aborted by the coordinator when it times out, as nobody restarts
 * its transactional id).
 */
import test, { type ExecutionContext } from 'ava';
import type { ProcessingGuarantee } from '../src/index.js';
import {
  AppChild,
  checkOutput,
  expectedOutputValue,
  InputFeeder,
  readOutput,
  waitForCommittedToEnd,
  type FaultAppConfig,
} from './fault-support.js';
import { startCluster, waitUntil } from './runtime-support.js';

const PARTITIONS = 8;
const ALL_TASKS = Array.from({ length: PARTITIONS }, (_, partition) => `0_${partition}`);

async function scaleOut(t: ExecutionContext, processingGuarantee: ProcessingGuarantee): Promise<void> {
  t.timeout(180_000);
  const cluster = await startCluster(t, { groupMinSessionTimeoutMs: 1_000, transactionAbortTimedOutTransactionCleanupIntervalMs: 500 });
  await cluster.createTopic('in', PARTITIONS);
  await cluster.createTopic('out', PARTITIONS);
  const feeder = await InputFeeder.start(t, cluster.kafka, { topic: 'in', partitions: PARTITIONS, recordsPerChunk: 16, chunkIntervalMs: 50, recordsMax: 40_000 });
  const applicationId = `scale-${processingGuarantee}`;
  const config = (instanceId: string): FaultAppConfig => ({
    bootstrap: cluster.bootstrap,
    applicationId,
    instanceId,
    processingGuarantee,
    commitIntervalMs: processingGuarantee === 'exactly_once' ? 100 : 200,
    // Low (the test broker allows it), so that the survivor takes over soon after the kill.
    sessionTimeoutMs: 4_000,
    heartbeatIntervalMs: 400,
    // exactly_once: nobody fences the killed instance's transactional id, so its open transaction
    // (which holds the read_committed output back) ends when the coordinator times it out.
    transactionTimeoutMs: 5_000,
    input: 'in',
    output: 'out',
    pipeline: 'spans',
  });
  // a runs alone first, then b joins: a goes through a rebalance while it processes, and gives up half its tasks.
  const survivor = AppChild.spawn(t, config('a'));
  t.true(await survivor.waitFor((child) => (child.progress?.recordsOut ?? 0) >= 200, 60_000, 'instance a writes'), `instance a stopped: ${survivor.error ?? survivor.stderr().slice(-500)}`);
  const victim = AppChild.spawn(t, config('b'));

  // Both get tasks: disjoint sets that together are all eight, and both write.
  const shared = await waitUntil(() => {
    if (!survivor.alive || !victim.alive) return true;
    const a = survivor.progress?.tasks ?? [];
    const b = victim.progress?.tasks ?? [];
    return a.length > 0 && b.length > 0 && [...a, ...b].sort().join() === ALL_TASKS.join() && (victim.progress?.recordsOut ?? 0) > 0;
  }, 60_000);
  t.true(shared, `the tasks are not shared: a ${JSON.stringify(survivor.progress)}, b ${JSON.stringify(victim.progress)}`);
  t.true(survivor.alive, `instance a stopped at the rebalance when b joined: ${survivor.error ?? survivor.stderr().slice(-500)}`);
  t.true(victim.alive, `instance b stopped: ${victim.error ?? victim.stderr().slice(-500)}`);
  if (!survivor.alive || !victim.alive) return;
  const victimTasks = [...victim.progress!.tasks];
  t.log(`instance a holds ${survivor.progress!.tasks.join(' ')}; instance b holds ${victimTasks.join(' ')}`);
  const writtenBefore = victim.progress!.recordsOut;
  t.true(await victim.waitFor((child) => (child.progress?.recordsOut ?? 0) >= writtenBefore + 100, 30_000, 'instance b writes'));
  t.true(victim.alive && survivor.alive);

  const last = victim.progress!;
  t.is((await victim.kill()).signal, 'SIGKILL');
  t.log(`killed b mid-stream (in ${last.recordsIn}, out ${last.recordsOut}, in flight ${last.inFlight}, ${last.commits} commits)`);

  t.true(
    await survivor.waitFor((child) => child.progress?.tasks.length === PARTITIONS, 60_000, 'instance a takes over'),
    `instance a stopped at the rebalance after b's death: ${survivor.error ?? ''} ${survivor.stderr().slice(-500)}`,
  );
  if (!survivor.alive) return;
  t.deepEqual(survivor.progress!.tasks, ALL_TASKS, 'instance a holds every task, b’s included');
  // Keep feeding a little after the takeover, so the survivor processes new input on b's partitions too.
  await feeder.reached(feeder.produced + 400);
  const total = await feeder.stop();

  t.true(await waitForCommittedToEnd(cluster.kafka, applicationId, 'in', 60_000), `instance a does not finish: ${JSON.stringify(survivor.progress)}`);
  t.deepEqual(await survivor.terminate(), { code: 0, signal: null });

  const output = await readOutput(cluster, 'out', total, { timeoutMs: 30_000 });
  const check = checkOutput(output, total, expectedOutputValue);
  t.log(`${total} input records; ${output.length} output records; ${check.duplicates} duplicates`);
  t.deepEqual(check.missing.slice(0, 20), [], 'no input missing from the output');
  t.deepEqual(check.wrong, [], 'every output value is its input transformed');
  // Exactly once across instances needs the consumer side of KIP-447 (revocation awaited before the
  // rejoin, the generation on TxnOffsetCommit, requireStable on OffsetFetch), which kafkajs 2.2.4
  // lacks and the embedded log has: through kafkajs a rebalance may write a few records twice
  // (counted above and logged), never lose one. One instance killed and restarted is exact
  // (faults-exactly-once.test.ts).
  t.is(output.length, total + check.duplicates);
}

/*
 * Both scenarios once failed the running instance at the first rebalance: a commit refused with the
 * old generation (at_least_once) and a transaction aborted under a commit in flight (exactly_once).
 * A refused commit is now a `GroupRebalancedError`: the app aborts the transaction (exactly_once),
 * commits nothing more until the next assignment, and processes the records again; and under
 * exactly_once on a log that does not await revocation (kafkajs) a revocation aborts rather than commits.
 */
test.serial('at_least_once: two instances share the tasks; one is SIGKILLed; the other takes them all and nothing is lost', async (t) => {
  await scaleOut(t, 'at_least_once');
});

test.serial('exactly_once: two instances share the tasks; one is SIGKILLed; the other takes them all and nothing is lost', async (t) => {
  await scaleOut(t, 'exactly_once');
});
