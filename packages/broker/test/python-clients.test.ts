/**
 * Python clients against the broker: confluent-kafka-python (librdkafka) and kafka-python, each
 * producing keyed messages with acks=all and reading them back with an assign()-based consumer.
 */
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { checkConsumed, murmur2PartitionOracle, type ConsumedLine } from './helpers/keyed-lines.js';
import { pythonWith, runProcess } from './helpers/processes.js';
import { startTestBroker } from './helpers/test-broker.js';

interface RoundTrip {
  acknowledged: Array<[string, string, number, number]>;
  consumed: Array<[string, string, number, number]>;
  failures: string[];
  unflushed: number;
}

const PARTITIONS = 3;
const COUNT = 2_000;
const confluentPython = pythonWith('confluent_kafka');
const kafkaPython = pythonWith('kafka');

async function roundTrip(t: ExecutionContext, python: string, script: string, topic: string): Promise<void> {
  const { broker, bootstrap } = await startTestBroker(t);
  await broker.context.metadata.createTopic(topic, PARTITIONS, {});
  const scriptPath = fileURLToPath(new URL(`./helpers/python/${script}`, import.meta.url));
  const result = await runProcess(t, python, [scriptPath, bootstrap, topic, String(PARTITIONS), String(COUNT)], { timeoutMs: 90_000 });
  t.is(result.code, 0, `${script} failed: ${result.stderr.slice(-2000)}`);
  const outcome = JSON.parse(result.stdout) as RoundTrip;
  t.deepEqual(outcome.failures, [], 'no delivery or consume errors');
  t.is(outcome.unflushed, 0);
  t.is(outcome.acknowledged.length, COUNT, 'every message acknowledged');

  const toLine = ([key, value, partition, offset]: [string, string, number, number]): ConsumedLine => ({ key, value, partition, offset });
  const acknowledged = outcome.acknowledged.map(toLine);
  const consumed = outcome.consumed.map(toLine);
  t.is(consumed.length, COUNT, 'every message consumed once');
  // What the producer was told is exactly where the consumer finds each message.
  const at = (line: ConsumedLine) => `${line.partition}@${line.offset}`;
  const acknowledgedAt = new Map(acknowledged.map((line) => [at(line), line.value]));
  t.is(acknowledgedAt.size, COUNT, 'no two acknowledgements share an offset');
  t.deepEqual(
    consumed.filter((line) => acknowledgedAt.get(at(line)) !== line.value).slice(0, 5),
    [],
    'each message is read at the offset its producer was given',
  );
  const check = checkConsumed(consumed);
  t.deepEqual(check.sparsePartitions, [], 'dense offsets in every partition');
  t.deepEqual(check.splitKeys, [], 'one partition per key');
  t.deepEqual(check.reorderedKeys, [], 'each key in produce order');
  // Both clients were asked for Kafka's murmur2 placement.
  const expected = murmur2PartitionOracle(topic, PARTITIONS);
  t.deepEqual(consumed.filter((line) => line.partition !== expected(line.key)).slice(0, 5), [], 'keys placed by murmur2');
}

(confluentPython === undefined ? test.skip : test)('confluent-kafka-python: acks=all produce, assign-based consume', async (t) => {
  await roundTrip(t, confluentPython!, 'confluent_roundtrip.py', 'confluent');
});

(kafkaPython === undefined ? test.skip : test)('kafka-python: acks=all produce, assign-based consume', async (t) => {
  await roundTrip(t, kafkaPython!, 'kafka_python_roundtrip.py', 'kafka-python');
});
