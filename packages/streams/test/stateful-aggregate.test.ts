/**
 * count / reduce / aggregate against a reference computed with plain loops over the same seeded
 * input, with groupBy changing the key (through a repartition topic) and groupByKey keeping it;
 * on the embedded log and over the Kafka protocol (kafkajs). Also: interactive queries, every
 * update emitted (emit-on-update), and the describe() output naming the stores.
 */
import test, { type ExecutionContext } from 'ava';
import { app, Serdes, type LogOption } from '../src/index.js';
import { closeAtEnd, produce, readAll, startCluster, waitForIdle, type TestCluster } from './runtime-support.js';
import { countBy, purchases, stateDirectory, storeContents, type Purchase } from './stateful-support.js';

const SEED = 7_2026;
const COUNT = 600;

async function runAggregations(t: ExecutionContext, cluster: TestCluster, log: LogOption): Promise<void> {
  t.log(`seed ${SEED}`);
  const input = purchases(COUNT, SEED);
  await cluster.createTopic('purchases', 3);
  for (const topic of ['category-counts', 'user-totals', 'user-max']) await cluster.createTopic(topic, 2);
  await produce(cluster, 'purchases', input.map((purchase) => ({ key: purchase.user, value: JSON.stringify(purchase) })), 50);

  const pipeline = closeAtEnd(t, app({ applicationId: 'aggregations', log, stateDir: await stateDirectory(t), commitIntervalMs: 200 }));
  const purchasesStream = pipeline.stream('purchases', { key: Serdes.string(), value: Serdes.json<Purchase>() });
  purchasesStream
    .groupBy((record) => record.value!.category, { key: Serdes.string(), value: Serdes.json<Purchase>() })
    .count({ name: 'category-counts' })
    .toStream()
    .to('category-counts', { key: Serdes.string(), value: Serdes.float64() });
  const amounts = purchasesStream.mapValues((purchase) => purchase!.amount);
  amounts
    .groupByKey({ key: Serdes.string(), value: Serdes.float64() })
    .reduce((sum, amount) => sum + amount, { name: 'user-totals' })
    .toStream()
    .to('user-totals', { key: Serdes.string(), value: Serdes.float64() });
  purchasesStream
    .groupByKey({ key: Serdes.string(), value: Serdes.json<Purchase>() })
    .aggregate(() => ({ max: 0, categories: [] as string[] }), (_user, purchase, aggregate) => ({
      max: Math.max(aggregate.max, purchase.amount),
      categories: aggregate.categories.includes(purchase.category) ? aggregate.categories : [...aggregate.categories, purchase.category].sort(),
    }), { name: 'user-max', value: Serdes.json<{ max: number; categories: string[] }>() })
    .toStream()
    .to('user-max', { key: Serdes.string(), value: Serdes.json() });
  t.regex(String(pipeline.describe()), /stores: category-counts/);
  t.regex(String(pipeline.describe()), /aggregations-category-counts-repartition/);
  await pipeline.start();
  // Each input record is read twice: from `purchases`, and (for the category count) from the repartition topic.
  t.true(await waitForIdle(pipeline, 2 * COUNT, 40_000), `${pipeline.state} ${String(pipeline.error)} ${JSON.stringify(pipeline.metrics().tasks.map((task) => [task.taskId, task.recordsIn, task.inFlightRecords, task.commits]))}`);

  // The reference, with plain loops.
  const categoryCounts = countBy(input, (purchase) => purchase.category);
  const userTotals: Record<string, number> = {};
  const userMax: Record<string, { max: number; categories: string[] }> = {};
  for (const purchase of input) {
    userTotals[purchase.user] = (userTotals[purchase.user] ?? 0) + purchase.amount;
    const current = userMax[purchase.user] ?? { max: 0, categories: [] };
    userMax[purchase.user] = {
      max: Math.max(current.max, purchase.amount),
      categories: current.categories.includes(purchase.category) ? current.categories : [...current.categories, purchase.category].sort(),
    };
  }

  t.deepEqual(await storeContents(pipeline, 'category-counts'), categoryCounts);
  t.deepEqual(await storeContents(pipeline, 'user-totals'), userTotals);
  t.deepEqual(await storeContents(pipeline, 'user-max'), userMax);
  t.is(await pipeline.store<string, number>('category-counts').get('c0'), categoryCounts.c0);
  t.is(await pipeline.store<string, number>('category-counts').get('no-such-category'), undefined);

  // Emit-on-update: one change record per input record; the last per key is the final value.
  const outputs = await readAll(cluster, ['category-counts', 'user-totals', 'user-max'], 3 * COUNT, { timeoutMs: 30_000 });
  t.is(outputs.length, 3 * COUNT);
  const last = (topic: string, decode: (value: string) => unknown): Record<string, unknown> => {
    const result: Record<string, unknown> = {};
    for (const record of outputs.filter((entry) => entry.topic === topic)) result[record.key!] = decode(record.value!);
    return result;
  };
  const float = (value: string): number => Buffer.from(value, 'latin1').readDoubleBE(0);
  t.is(Object.keys(last('category-counts', float)).length, Object.keys(categoryCounts).length);
  t.deepEqual(last('user-max', (value) => JSON.parse(value)), userMax);
  // Within a key, counts arrive as 1, 2, 3… (the updates of one key are in one partition, in order).
  const c0 = outputs.filter((entry) => entry.topic === 'category-counts' && entry.key === 'c0').sort((a, b) => Number(a.offset - b.offset));
  t.is(c0.length, categoryCounts.c0!);
}

test('embedded log: count/reduce/aggregate match plain loops, groupBy repartitions, queries read the stores', async (t) => {
  const cluster = await startCluster(t);
  await runAggregations(t, cluster, { broker: cluster.broker });
});

test('kafkajs: count/reduce/aggregate match plain loops, groupBy repartitions, queries read the stores', async (t) => {
  const cluster = await startCluster(t);
  await runAggregations(t, cluster, { brokers: [cluster.bootstrap] });
});

test('a stateful step needs a name; store names are unique and valid', (t) => {
  const pipeline = app({ applicationId: 'names', log: { dataDir: '/nonexistent-never-started' } });
  const grouped = pipeline.stream('in', { key: Serdes.string(), value: Serdes.string() }).groupByKey({ key: Serdes.string(), value: Serdes.string() });
  t.throws(() => grouped.count({ name: '' }), { message: /needs a name/ });
  grouped.count({ name: 'counts' });
  t.throws(() => grouped.count({ name: 'counts' }), { message: /a store named "counts" exists already/ });
  t.throws(() => grouped.count({ name: 'bad name' }), { message: /only letters, digits/ });
  t.throws(() => pipeline.store('missing'), { message: /no store named "missing"/ });
});
