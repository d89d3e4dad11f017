/**
 * Transactions with librdkafka end to end: confluent-kafka-python (init_transactions, begin,
 * commit, abort, commit across 2 topics × 3 partitions) read back by librdkafka consumers in
 * read_committed (exactly the committed records, in order, at Kafka's offsets) and in
 * read_uncommitted (all of them), and by kcat with `-X isolation.level=read_committed`.
 */
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { hasCommand, pythonWith, runProcess } from './helpers/processes.js';
import { startTestBroker } from './helpers/test-broker.js';
import { SENTINEL, kcatReadAll } from './helpers/txn-clients.js';

const python = pythonWith('confluent_kafka');
const pythonTest = python === undefined ? test.skip : test;
const SCRIPT = fileURLToPath(new URL('./helpers/python/txn_confluent.py', import.meta.url));
const TOPICS = ['rd-orders', 'rd-payments'];
const PARTITIONS = 3;
const PER_PARTITION = 3;

interface ScriptOutput {
  committed: Record<string, Array<[number, string]>>;
  uncommitted: Record<string, Array<[number, string]>>;
  failures: string[];
}

/** Per partition, the values transactions `names` wrote there, in order, with their offsets. */
function expected(names: readonly string[]): Record<string, Array<[number, string]>> {
  const result: Record<string, Array<[number, string]>> = {};
  for (const topic of TOPICS) {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      // Transaction k's records sit at k*(PER_PARTITION+1) .. +PER_PARTITION-1; its marker follows.
      result[`${topic}/${partition}`] = names.flatMap((name) => {
        const k = ['first', 'second', 'third'].indexOf(name);
        return Array.from({ length: PER_PARTITION }, (_, i): [number, string] => [k * (PER_PARTITION + 1) + i, `${name}-${topic}-${partition}-${i}`]);
      });
    }
  }
  return result;
}

function sortedEntries<V>(record: Record<string, V>): Array<[string, V]> {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}

pythonTest('librdkafka: commit, abort, commit; read_committed reads the committed records in order, read_uncommitted all', async (t) => {
  const { broker, bootstrap } = await startTestBroker(t, { transactionStateLogNumPartitions: 3, offsetsTopicNumPartitions: 3 });
  for (const topic of TOPICS) await broker.context.metadata.createTopic(topic, PARTITIONS, {});
  const result = await runProcess(t, python!, [SCRIPT, bootstrap, TOPICS.join(','), String(PARTITIONS), 'librdkafka-e2e'], { timeoutMs: 100_000 });
  t.is(result.code, 0, `txn_confluent.py failed: ${result.stderr.slice(-2000)}`);
  const output = JSON.parse(result.stdout) as ScriptOutput;
  t.deepEqual(output.failures, []);
  t.deepEqual(sortedEntries(output.committed), sortedEntries(expected(['first', 'third'])), 'read_committed');
  t.deepEqual(sortedEntries(output.uncommitted), sortedEntries(expected(['first', 'second', 'third'])), 'read_uncommitted');

  const described = broker.context.transactionCoordinator.describe('librdkafka-e2e');
  t.like(described, { state: 'CompleteCommit', topics: [] });

  if (!hasCommand('kcat')) return;
  // The script's read_committed consumer reached the sentinels, so every marker is written: the LSO is the end.
  for (const topic of TOPICS) {
    const lines = await kcatReadAll(t, bootstrap, topic, 'read_committed');
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const read = lines.filter((line) => line.partition === partition).sort((a, b) => a.offset - b.offset);
      // The sentinel comes last (before or after the third transaction's marker: the marker is written after EndTxn answers).
      t.deepEqual(read.at(-1)?.value, SENTINEL);
      t.deepEqual(
        read.slice(0, -1).map((line): [number, string] => [line.offset, line.value]),
        expected(['first', 'third'])[`${topic}/${partition}`]!,
        `kcat read_committed ${topic}/${partition}`,
      );
    }
  }
});
