/**
 * `@defter/streams/testing`: `runUntilProcessed` runs a real app on a real broker until its input
 * is taken in, and `readTopic` reads the output back exactly as stored.
 */
import test from 'ava';
import { partitionForKey } from '@defter/broker';
import { Serdes, app } from '../src/index.js';
import { readTopic, runUntilProcessed } from '../src/testing/index.js';
import { produce, startCluster } from './runtime-support.js';

const INPUT_PARTITIONS = 2;
const OUTPUT_PARTITIONS = 2;

test('runUntilProcessed returns once every input record is in; readTopic reads the outputs back in offset order', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('words', INPUT_PARTITIONS);
  await cluster.createTopic('shouted', OUTPUT_PARTITIONS);
  await produce(
    cluster,
    'words',
    ['a', 'b', 'c', 'd', 'e', 'f'].map((word, index) => ({ key: `k${index % 3}`, value: word, partition: index % INPUT_PARTITIONS, timestamp: String(1_000 + index), headers: { n: String(index) } })),
    2,
  );
  const streamsApp = app({ applicationId: 'testing-helpers', log: { broker: cluster.broker } });
  streamsApp
    .stream('words', { key: Serdes.string(), value: Serdes.string() })
    .mapValues((word) => word!.toUpperCase())
    .to('shouted', { key: Serdes.string(), value: Serdes.string() });

  await runUntilProcessed(streamsApp, 6);
  t.is(streamsApp.state, 'NOT_RUNNING');

  const records = await readTopic(cluster.broker, 'shouted', OUTPUT_PARTITIONS);
  t.is(records.length, 6);
  // Each output record is on its key's partition; the two input partitions' tasks interleave, so
  // within an output partition only the offsets (dense, from 0, in order) are fixed.
  for (const record of records) t.is(record.partition, partitionForKey(record.key!, OUTPUT_PARTITIONS));
  for (const partition of [0, 1]) {
    const offsets = records.filter((record) => record.partition === partition).map((record) => record.offset);
    t.deepEqual(offsets, offsets.map((_, index) => BigInt(index)));
  }
  t.deepEqual(records.map((record) => record.partition), [...records.map((record) => record.partition)].sort());
  const shown = records.map((record) => `${record.topic} ${record.key!.toString()}=${record.value!.toString()} t=${record.timestamp} n=${record.headers.n}`).sort();
  t.deepEqual(shown, [
    'shouted k0=A t=1000 n=0',
    'shouted k0=D t=1003 n=3',
    'shouted k1=B t=1001 n=1',
    'shouted k1=E t=1004 n=4',
    'shouted k2=C t=1002 n=2',
    'shouted k2=F t=1005 n=5',
  ]);
});

test('runUntilProcessed gives up after its timeout with a clear message, and closes the app', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('few', 1);
  await produce(cluster, 'few', [{ key: 'k', value: 'only one' }]);
  const streamsApp = app({ applicationId: 'testing-helpers-timeout', log: { broker: cluster.broker } });
  streamsApp.stream('few', { key: Serdes.string(), value: Serdes.string() }).to('few-out-unused', { key: Serdes.string(), value: Serdes.string() });
  await cluster.createTopic('few-out-unused', 1);

  await t.throwsAsync(runUntilProcessed(streamsApp, 5, { timeoutMs: 1_500 }), { message: 'the pipeline took in 1 of 5 records in 1500 ms' });
  t.is(streamsApp.state, 'NOT_RUNNING');
});

test('bad arguments are refused in one sentence', async (t) => {
  const cluster = await startCluster(t);
  const streamsApp = app({ applicationId: 'testing-helpers-arguments', log: { broker: cluster.broker } });
  await t.throwsAsync(runUntilProcessed(streamsApp, -1), { instanceOf: RangeError, message: 'recordsCount must be a non-negative integer, got -1' });
  await t.throwsAsync(readTopic(cluster.broker, 'anything', 0), { instanceOf: RangeError, message: 'partitions must be a positive integer, got 0' });
  await t.throwsAsync(readTopic(cluster.broker, 'no-such-topic', 1), { message: /^cannot list the offsets of no-such-topic-0: error code \d+$/ });
});
