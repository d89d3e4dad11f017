/**
 * app.table(): the latest value per key with deletes, materialised and queryable; toStream,
 * mapValues and filter on its changes; on the embedded log and over kafkajs.
 */
import test, { type ExecutionContext } from 'ava';
import { app, Serdes, type LogOption } from '../src/index.js';
import { closeAtEnd, produce, readAll, startCluster, waitForIdle, type TestCluster } from './runtime-support.js';
import { stateDirectory, storeContents } from './stateful-support.js';

async function tableScenario(t: ExecutionContext, cluster: TestCluster, log: LogOption): Promise<void> {
  await cluster.createTopic('prices', 2);
  await cluster.createTopic('price-changes', 1);
  await cluster.createTopic('expensive', 1);
  const updates: Array<{ key: string; value: string | null }> = [
    { key: 'apple', value: '3' },
    { key: 'pear', value: '12' },
    { key: 'plum', value: '7' },
    { key: 'apple', value: '15' },
    { key: 'pear', value: null },
    { key: 'plum', value: '2' },
    { key: 'fig', value: '20' },
  ];
  await produce(cluster, 'prices', updates, 1);
  const pipeline = closeAtEnd(t, app({ applicationId: 'tables', log, stateDir: await stateDirectory(t), commitIntervalMs: 200 }));
  const prices = pipeline.table('prices', { key: Serdes.string(), value: Serdes.string() });
  t.is(prices.storeName, 'prices-table');
  prices.toStream().to('price-changes', { key: Serdes.string(), value: Serdes.string() });
  prices
    .mapValues((value) => Number(value))
    .filter((record) => record.value >= 10)
    .mapValues((value) => `expensive at ${value}`)
    .toStream()
    .to('expensive', { key: Serdes.string(), value: Serdes.string() });
  await pipeline.start();
  t.true(await waitForIdle(pipeline, updates.length, 30_000));

  t.deepEqual(await storeContents(pipeline, 'prices-table'), { apple: '15', plum: '2', fig: '20' });
  t.is(await pipeline.store<string, string>('prices-table').get('pear'), undefined, 'deleted');
  const ranged: string[] = [];
  for await (const entry of pipeline.store<string, string>('prices-table').range('b', 'g')) ranged.push(entry.key);
  t.deepEqual(ranged, ['fig']);

  // Every update is emitted (emit-on-update), deletes as null; per key in input order.
  const changes = await readAll(cluster, ['price-changes'], updates.length);
  const byKey = (records: typeof changes, key: string) => records.filter((record) => record.key === key).map((record) => record.value);
  t.deepEqual(byKey(changes, 'apple'), ['3', '15']);
  t.deepEqual(byKey(changes, 'pear'), ['12', null]);
  t.deepEqual(byKey(changes, 'plum'), ['7', '2']);
  // filter forwards an update that no longer matches as a delete.
  const expensive = await readAll(cluster, ['expensive'], updates.length);
  t.deepEqual(byKey(expensive, 'apple'), [null, 'expensive at 15']);
  t.deepEqual(byKey(expensive, 'pear'), ['expensive at 12', null]);
  t.deepEqual(byKey(expensive, 'plum'), [null, null]);
  t.deepEqual(byKey(expensive, 'fig'), ['expensive at 20']);
}

test('embedded log: table() keeps the latest value per key, deletes on null, and emits every change', async (t) => {
  const cluster = await startCluster(t);
  await tableScenario(t, cluster, { broker: cluster.broker });
});

test('kafkajs: table() keeps the latest value per key, deletes on null, and emits every change', async (t) => {
  const cluster = await startCluster(t);
  await tableScenario(t, cluster, { brokers: [cluster.bootstrap] });
});
