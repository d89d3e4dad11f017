/**
 * kcat (librdkafka 2.0) against the broker: metadata listing, and 10,000 keyed lines produced and
 * consumed back with per-key order and dense offsets in every partition.
 */
import test from 'ava';
import { checkConsumed, keyedLines, murmur2PartitionOracle, parseConsumed } from './helpers/keyed-lines.js';
import { hasCommand, kcatArgs, runProcess } from './helpers/processes.js';
import { startTestBroker } from './helpers/test-broker.js';

const kcatTest = hasCommand('kcat') ? test : test.skip;
const PARTITIONS = 4;
const CONSUME_FORMAT = '%k:%s:%p:%o\\n';

kcatTest('kcat -L lists the broker as controller and each topic with its partitions', async (t) => {
  const { broker, bootstrap, port } = await startTestBroker(t);
  await broker.context.metadata.createTopic('listed', PARTITIONS, {});
  await broker.context.metadata.createTopic('single', 1, {});
  const result = await runProcess(t, 'kcat', kcatArgs(bootstrap, '-L'), { timeoutMs: 20_000 });
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /1 brokers:\n\s+broker 1 at 127\.0\.0\.1:(\d+) \(controller\)/);
  t.true(result.stdout.includes(`broker 1 at 127.0.0.1:${port}`));
  t.regex(result.stdout, /topic "listed" with 4 partitions:/);
  t.regex(result.stdout, /topic "single" with 1 partitions:/);
  for (let partition = 0; partition < PARTITIONS; partition += 1) {
    t.regex(result.stdout, new RegExp(`partition ${partition}, leader 1, replicas: 1, isrs: 1`));
  }
  const oneTopic = await runProcess(t, 'kcat', kcatArgs(bootstrap, '-L', '-t', 'single'), { timeoutMs: 20_000 });
  t.is(oneTopic.code, 0, oneTopic.stderr);
  t.regex(oneTopic.stdout, /1 topics:\n\s+topic "single" with 1 partitions:/);
  t.false(oneTopic.stdout.includes('"listed"'), 'asking for one topic lists only that one');
});

kcatTest('10,000 keyed lines produced by kcat come back in key order with dense offsets', async (t) => {
  const { broker, bootstrap } = await startTestBroker(t);
  await broker.context.metadata.createTopic('lines', PARTITIONS, {});
  const lines = keyedLines(10_000, 97);
  const produced = await runProcess(t, 'kcat', kcatArgs(bootstrap, '-P', '-K:', '-t', 'lines', '-X', 'linger.ms=5'), {
    input: lines.map(({ key, value }) => `${key}:${value}\n`).join(''),
    timeoutMs: 60_000,
  });
  t.is(produced.code, 0, `kcat -P: ${produced.stderr}`);

  const consumed = await runProcess(t, 'kcat', kcatArgs(bootstrap, '-C', '-e', '-K:', '-t', 'lines', '-o', 'beginning', '-f', CONSUME_FORMAT), {
    timeoutMs: 60_000,
  });
  t.is(consumed.code, 0, `kcat -C: ${consumed.stderr}`);
  const records = parseConsumed(consumed.stdout);
  t.is(records.length, lines.length, 'every line comes back once');
  t.deepEqual(records.map((r) => r.value).sort(), lines.map((l) => l.value).sort());
  const check = checkConsumed(records);
  t.deepEqual(check.sparsePartitions, [], 'offsets are 0..n-1 in every partition');
  t.deepEqual(check.splitKeys, [], 'each key stays in one partition');
  t.deepEqual(check.reorderedKeys, [], 'each key is read in the order it was produced');
  t.true(check.countByPartition.size > 1, `keys spread over partitions: ${JSON.stringify([...check.countByPartition])}`);
});

kcatTest('with partitioner=murmur2_random each key lands where Kafka\'s default partitioner puts it', async (t) => {
  const { broker, bootstrap } = await startTestBroker(t);
  const partitions = 6;
  await broker.context.metadata.createTopic('murmur', partitions, {});
  const lines = keyedLines(2_000, 211);
  const produced = await runProcess(t, 'kcat', kcatArgs(bootstrap, '-P', '-K:', '-t', 'murmur', '-X', 'partitioner=murmur2_random'), {
    input: lines.map(({ key, value }) => `${key}:${value}\n`).join(''),
    timeoutMs: 60_000,
  });
  t.is(produced.code, 0, produced.stderr);
  const consumed = await runProcess(t, 'kcat', kcatArgs(bootstrap, '-C', '-e', '-t', 'murmur', '-o', 'beginning', '-f', CONSUME_FORMAT), {
    timeoutMs: 60_000,
  });
  t.is(consumed.code, 0, consumed.stderr);
  const records = parseConsumed(consumed.stdout);
  t.is(records.length, lines.length);
  const expectedPartition = murmur2PartitionOracle('murmur', partitions);
  const misplaced = records.filter((record) => record.partition !== expectedPartition(record.key));
  t.deepEqual(misplaced.slice(0, 5), [], `${misplaced.length} records are not in their murmur2 partition`);
  t.deepEqual(checkConsumed(records).sparsePartitions, []);
});
