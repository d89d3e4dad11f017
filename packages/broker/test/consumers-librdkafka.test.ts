/**
 * librdkafka consumer groups against the broker (confluent-kafka-python, and kcat -G): two members
 * share a topic and together read everything exactly once with clean commits, with the classic
 * eager assignors and with the incremental cooperative-sticky protocol.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import test from 'ava';
import { waitUntil } from './helpers/group-consumers.js';
import { kcatProduce } from './helpers/kcat.js';
import { hasCommand, kcatArgs, killQuietly, pythonWith } from './helpers/processes.js';
import { runPythonGroup } from './helpers/python-group.js';
import { startTestBroker } from './helpers/test-broker.js';

const confluentPython = pythonWith('confluent_kafka');
const confluentTest = confluentPython === undefined ? test.skip : test;
const kcatTest = hasCommand('kcat') ? test : test.skip;

confluentTest('confluent-kafka-python: a group of two (range) reads every record once', async (t) => {
  await runPythonGroup(t, confluentPython!, 'confluent_group.py', { topic: 'rdk-range', partitions: 4, count: 400, extraArgs: ['range'] });
});

confluentTest('confluent-kafka-python: a group of two (cooperative-sticky) reads every record once', async (t) => {
  await runPythonGroup(t, confluentPython!, 'confluent_group.py', { topic: 'rdk-coop', partitions: 4, count: 400, extraArgs: ['cooperative-sticky'] });
});

kcatTest('two kcat -G members share a topic and read each record once', async (t) => {
  const { broker, bootstrap } = await startTestBroker(t, { groupInitialRebalanceDelayMs: 200 });
  const topic = 'kcat-group';
  await broker.context.metadata.createTopic(topic, 4, {});
  const lines = new Map<string, string[]>();
  const assigned = new Map<string, string>();
  for (const name of ['k1', 'k2']) {
    lines.set(name, []);
    // -G prints rebalance events on stderr ("% Group ... rebalanced ... assigned: topic [0], ..."), records on stdout.
    const child = spawn(
      'kcat',
      kcatArgs(bootstrap, '-u', '-G', `${topic}-group`, '-X', `client.id=${name}`, '-X', 'session.timeout.ms=6000', '-X', 'heartbeat.interval.ms=300', '-o', 'beginning', '-f', '%p:%o:%s\\n', topic),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.teardown(() => killQuietly(child));
    createInterface({ input: child.stdout! }).on('line', (line) => lines.get(name)!.push(line));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (/assigned:/.test(line)) assigned.set(name, line);
    });
  }
  await waitUntil(
    () => {
      const owned = [...assigned.values()].flatMap((line) => [...line.matchAll(/\[(\d+)\]/g)].map((match) => Number(match[1])));
      return assigned.size === 2 && [...owned].sort().join() === '0,1,2,3';
    },
    45_000,
    () => `assignments: ${JSON.stringify([...assigned])}`,
  );
  await kcatProduce(t, bootstrap, topic, Array.from({ length: 200 }, (_, i) => ({ key: `k${i % 13}`, value: `v${i}` })));
  const all = () => [...lines.values()].flat();
  await waitUntil(() => all().length >= 200, 30_000, () => `${all().length} of 200 consumed`);
  await new Promise((resolve) => setTimeout(resolve, 1_000)); // a duplicate would show up by now
  const consumed = all();
  t.is(consumed.length, 200, 'nothing read twice');
  t.deepEqual(consumed.map((line) => line.split(':')[2]).sort(), Array.from({ length: 200 }, (_, i) => `v${i}`).sort());
  for (const name of ['k1', 'k2']) t.true(lines.get(name)!.length > 0, `${name} read a share`);
});
