/**
 * Exactly once across instances on the embedded log: two apps of one applicationId share a broker
 * of this process (`{ broker }`), a second joins while the first is mid-stream and then leaves;
 * every rebalance happens with records under way. The embedded log awaits the revocation's commit
 * before rejoining and sends the generation on TxnOffsetCommit (KIP-447), so the output, read with
 * read_committed, holds every input exactly once — the guarantee kafkajs cannot give across
 * instances (see scale-out.test.ts).
 */
import test from 'ava';
import { concatMap, type Observable } from 'rxjs';
import { app, Serdes, type StreamRecord, type StreamsApp } from '../src/index.js';
import { closeAtEnd, committedOffsets, produce, readAll, startCluster, waitUntil, type TestCluster } from './runtime-support.js';

type Rec = StreamRecord<string, string>;
const PARTITIONS = 8;

function instance(cluster: TestCluster, instanceId: string): StreamsApp {
  const pipeline = app({
    applicationId: 'eos-scale-embedded',
    instanceId,
    processingGuarantee: 'exactly_once',
    commitIntervalMs: 50,
    fetchMaxBytesPerPartition: 2_048,
    fetchMaxWaitMs: 100,
    sessionTimeoutMs: 30_000,
    heartbeatIntervalMs: 500,
    log: { broker: cluster.broker },
  });
  pipeline
    .stream('in', { key: Serdes.string(), value: Serdes.string() })
    // Slow enough that every rebalance finds batches processed but not committed.
    .pipe((records: Observable<Rec>) =>
      records.pipe(
        concatMap(async (record: Rec) => {
          if (Number(record.value) % 5 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
          return record;
        }),
      ),
    )
    .mapValues((value) => `out-${value}`)
    .to('out', { key: Serdes.string(), value: Serdes.string() });
  return pipeline;
}

const processed = (pipeline: StreamsApp) => pipeline.metrics().tasks.reduce((sum, task) => sum + task.recordsIn, 0);
const inputs = (from: number, to: number) => Array.from({ length: to - from }, (_, index) => ({ key: `k${from + index}`, value: String(from + index) }));

test('exactly_once on the embedded log: an instance joins mid-stream and leaves; every input exactly once', async (t) => {
  t.timeout(180_000);
  const cluster = await startCluster(t);
  await cluster.createTopic('in', PARTITIONS);
  await cluster.createTopic('out', PARTITIONS);
  await produce(cluster, 'in', inputs(0, 3_000));

  const first = closeAtEnd(t, instance(cluster, 'a'));
  await first.start();
  t.true(await waitUntil(() => processed(first) >= 300, 60_000), 'a processes');

  const second = closeAtEnd(t, instance(cluster, 'b'));
  const processedAtJoin = processed(first);
  await second.start();
  t.log(`a had processed ${processedAtJoin} of 3000 when b joined`);
  t.true(processedAtJoin < 2_500, 'b joins mid-stream');
  t.true(await waitUntil(() => first.metrics().tasks.length === PARTITIONS / 2 && second.metrics().tasks.length === PARTITIONS / 2, 60_000), 'the tasks are split');
  await produce(cluster, 'in', inputs(3_000, 4_000));
  t.true(await waitUntil(() => processed(second) >= 200, 60_000), 'b processes');
  const processedAtLeave = processed(first) + processed(second);
  await second.close();
  t.log(`${processedAtLeave} processed (with re-processing) of 4000 when b left`);
  t.is(second.state, 'NOT_RUNNING');
  t.true(await waitUntil(() => first.metrics().tasks.length === PARTITIONS, 60_000), 'a takes every task back');
  await produce(cluster, 'in', inputs(4_000, 4_500));

  const ends = async () => (await committedOffsets(cluster, 'eos-scale-embedded', 'in')).reduce((sum, offset) => sum + Number(offset), 0);
  t.true(await waitUntil(async () => (await ends()) === 4_500, 120_000, 200), 'every input committed');
  await first.close();

  const output = await readAll(cluster, ['out'], 4_500, { timeoutMs: 30_000, settleMs: 500 });
  const seen = new Map<string, number>();
  for (const record of output) seen.set(record.value!, (seen.get(record.value!) ?? 0) + 1);
  const duplicated = [...seen].filter(([, count]) => count > 1).map(([value]) => value);
  const missing = inputs(0, 4_500).filter(({ value }) => !seen.has(`out-${value}`)).map(({ value }) => value);
  t.deepEqual(duplicated, [], 'no input twice');
  t.deepEqual(missing, [], 'no input missing');
  t.is(output.length, 4_500);
});
