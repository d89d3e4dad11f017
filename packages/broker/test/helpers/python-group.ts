import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { assignmentProblems } from './group-consumers.js';
import { runProcess } from './processes.js';
import { startTestBroker } from './test-broker.js';

/** What confluent_group.py and kafka_python_group.py print. */
export interface PythonGroupRun {
  assignments: Record<string, number[]>;
  acknowledged: Array<[number, number, string]>;
  consumed: Array<[string, number, number, string]>;
  failures: string[];
  committed: Record<string, number>;
}

/**
 * Runs a two-member Python group script against a fresh broker and checks what a group promises:
 * the members' partitions are disjoint and complete, each holds some, every acknowledged record was
 * consumed exactly once by the member owning its partition, and the committed offsets are the ends.
 */
export async function runPythonGroup(
  t: ExecutionContext,
  python: string,
  script: string,
  options: { topic: string; partitions: number; count: number; extraArgs?: readonly string[] },
): Promise<PythonGroupRun> {
  const { broker, bootstrap } = await startTestBroker(t, { groupInitialRebalanceDelayMs: 200 });
  await broker.context.metadata.createTopic(options.topic, options.partitions, {});
  const scriptPath = fileURLToPath(new URL(`./python/${script}`, import.meta.url));
  const result = await runProcess(
    t,
    python,
    [scriptPath, bootstrap, options.topic, `${options.topic}-group`, String(options.partitions), String(options.count), ...(options.extraArgs ?? [])],
    { timeoutMs: 100_000 },
  );
  t.is(result.code, 0, `${script} failed: ${result.stderr.slice(-2000)}`);
  const run = JSON.parse(result.stdout) as PythonGroupRun;
  t.deepEqual(run.failures, [], 'no errors in the clients');
  t.is(run.acknowledged.length, options.count, 'every record acknowledged');

  const members = Object.keys(run.assignments).sort();
  t.deepEqual(members, ['m1', 'm2']);
  t.deepEqual(assignmentProblems(members.map((member) => ({ [options.topic]: run.assignments[member]! })), options.topic, options.partitions), []);
  for (const member of members) t.true(run.assignments[member]!.length > 0, `${member} holds partitions`);

  const at = (partition: number, offset: number) => `${partition}@${offset}`;
  const consumedCount = new Map<string, number>();
  for (const [, partition, offset] of run.consumed) consumedCount.set(at(partition, offset), (consumedCount.get(at(partition, offset)) ?? 0) + 1);
  t.deepEqual([...consumedCount].filter(([, n]) => n > 1), [], 'nothing consumed twice');
  const acknowledgedValue = new Map(run.acknowledged.map(([partition, offset, value]) => [at(partition, offset), value]));
  t.deepEqual([...acknowledgedValue.keys()].filter((position) => !consumedCount.has(position)), [], 'everything consumed');
  t.deepEqual(
    run.consumed.filter(([, partition, offset, value]) => acknowledgedValue.get(at(partition, offset)) !== value).slice(0, 3),
    [],
    'each record read at the offset its producer was given',
  );
  t.deepEqual(
    run.consumed.filter(([member, partition]) => !run.assignments[member]!.includes(partition)).slice(0, 3),
    [],
    'each record read by the member that owns its partition',
  );
  for (const member of members) t.true(run.consumed.some(([who]) => who === member), `${member} consumed a share`);

  const ends = new Map<number, number>();
  for (const [partition, offset] of run.acknowledged) ends.set(partition, Math.max(ends.get(partition) ?? 0, offset + 1));
  t.deepEqual(
    Object.fromEntries(Object.entries(run.committed).sort(([a], [b]) => Number(a) - Number(b))),
    Object.fromEntries([...ends].sort(([a], [b]) => a - b).map(([partition, end]) => [String(partition), end])),
    'the committed offsets are the ends of the partitions',
  );
  return run;
}
