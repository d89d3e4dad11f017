/**
 * The DSL end to end against a real defter broker: map + filter, keys and output partitions
 * (murmur2, where Kafka's clients would put them), branch/split to several topics, merge, RxJS
 * operators inside pipe().
 */
import test from 'ava';
import { filter, map, mergeMap, bufferCount } from 'rxjs';
import { partitionForKey } from '@defter/broker';
import { app, mapValues, Serdes, type StreamRecord } from '../src/index.js';
import { closeAtEnd, produce, readAll, startCluster, waitForIdle } from './runtime-support.js';

interface Order {
  readonly id: number;
  readonly customer: string;
  readonly amount: number;
}

const orders = (count: number): Order[] => Array.from({ length: count }, (_, id) => ({ id, customer: `c${id % 7}`, amount: id * 10 }));

test('map + filter: outputs keep key, timestamp and headers; each key lands on its murmur2 partition', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('orders', 3);
  await cluster.createTopic('large-orders', 4);
  const input = orders(300);
  await produce(
    cluster,
    'orders',
    input.map((order) => ({ key: order.customer, value: JSON.stringify(order), timestamp: String(1_700_000_000_000 + order.id), headers: { source: 'shop' } })),
  );

  const pipeline = closeAtEnd(t, app({ applicationId: 'map-filter', log: { brokers: [cluster.bootstrap] }, commitIntervalMs: 200 }));
  pipeline
    .stream('orders', { key: Serdes.string(), value: Serdes.json<Order>() })
    .filter((record) => record.value!.amount >= 1000)
    .mapValues((order) => ({ id: order!.id, cents: order!.amount * 100 }))
    .to('large-orders', { key: Serdes.string(), value: Serdes.json<{ id: number; cents: number }>() });
  await pipeline.start();
  t.is(pipeline.state, 'RUNNING');

  const expected = input.filter((order) => order.amount >= 1000);
  const output = await readAll(cluster, ['large-orders'], expected.length);
  t.is(output.length, expected.length);
  const byId = new Map(output.map((record) => [(JSON.parse(record.value!) as { id: number }).id, record]));
  for (const order of expected) {
    const record = byId.get(order.id);
    if (record === undefined) {
      t.fail(`order ${order.id} is missing`);
      continue;
    }
    t.deepEqual(JSON.parse(record.value!), { id: order.id, cents: order.amount * 100 });
    t.is(record.key, order.customer);
    t.is(record.partition, partitionForKey(Buffer.from(order.customer), 4), `key ${order.customer}`);
    t.is(record.timestamp, 1_700_000_000_000 + order.id);
    t.is(record.headers['source'], 'shop');
  }
  t.true(await waitForIdle(pipeline, input.length));
  const metrics = pipeline.metrics();
  t.deepEqual(
    metrics.tasks.map((task) => task.taskId),
    ['0_0', '0_1', '0_2'],
  );
  t.is(metrics.tasks.reduce((sum, task) => sum + task.recordsIn, 0), 300);
  t.is(metrics.tasks.reduce((sum, task) => sum + task.recordsOut, 0), expected.length);
  t.is(Math.max(...metrics.tasks.map((task) => task.streamTimeMs)), 1_700_000_000_299);
  await pipeline.close();
  t.is(pipeline.state, 'NOT_RUNNING');
});

test('selectKey re-partitions by the new key; branch and split route to several topics; merge joins two inputs', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('eu-orders', 2);
  await cluster.createTopic('us-orders', 1);
  for (const topic of ['small', 'big', 'by-region-eu', 'by-region-us', 'by-region-rest']) await cluster.createTopic(topic, 3);
  const input = orders(120);
  await produce(cluster, 'eu-orders', input.slice(0, 60).map((order) => ({ key: null, value: JSON.stringify(order) })));
  await produce(cluster, 'us-orders', input.slice(60).map((order) => ({ key: null, value: JSON.stringify(order) })));

  const pipeline = closeAtEnd(t, app({ applicationId: 'routing', log: { brokers: [cluster.bootstrap] }, commitIntervalMs: 200 }));
  const serdes = { key: Serdes.string(), value: Serdes.json<Order>() };
  const eu = pipeline.stream('eu-orders', serdes);
  const us = pipeline.stream('us-orders', serdes);
  const all = eu.merge(us).selectKey((record) => `customer-${record.value!.customer}`);
  const [small, big] = all.branch(
    (record) => record.value!.amount < 500,
    (record) => record.value!.amount >= 500,
  );
  small!.to('small', serdes);
  big!.to('big', serdes);
  const regions = all.split({
    eu: (record) => record.topic === 'eu-orders' && record.value!.id % 2 === 0,
    us: (record) => record.topic === 'us-orders' && record.value!.id % 2 === 0,
  });
  regions.eu.to('by-region-eu', serdes);
  regions.us.to('by-region-us', serdes);
  regions.rest.to('by-region-rest', serdes);
  await pipeline.start();

  const output = await readAll(cluster, ['small', 'big', 'by-region-eu', 'by-region-us', 'by-region-rest'], 240);
  t.is(output.length, 240, 'each input record once in a size branch and once in a region branch');
  const idsOf = (topic: string): number[] =>
    output
      .filter((record) => record.topic === topic)
      .map((record) => (JSON.parse(record.value!) as Order).id)
      .sort((a, b) => a - b);
  t.deepEqual(idsOf('small'), input.filter((order) => order.amount < 500).map((order) => order.id));
  t.deepEqual(idsOf('big'), input.filter((order) => order.amount >= 500).map((order) => order.id));
  t.deepEqual(idsOf('by-region-eu'), input.filter((order) => order.id < 60 && order.id % 2 === 0).map((order) => order.id));
  t.deepEqual(idsOf('by-region-us'), input.filter((order) => order.id >= 60 && order.id % 2 === 0).map((order) => order.id));
  t.deepEqual(idsOf('by-region-rest'), input.filter((order) => order.id % 2 === 1).map((order) => order.id));
  for (const record of output) {
    const order = JSON.parse(record.value!) as Order;
    t.is(record.key, `customer-${order.customer}`);
    t.is(record.partition, partitionForKey(Buffer.from(`customer-${order.customer}`), 3));
  }
  // Two inputs merged: one sub-topology, tasks 0_0 and 0_1 (us-orders has only partition 0).
  t.deepEqual(
    pipeline.metrics().tasks.map((task) => task.taskId),
    ['0_0', '0_1'],
  );
});

test('ordinary RxJS operators inside pipe(): bufferCount, mergeMap to a Promise, a topic chosen per record', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('numbers', 1);
  await cluster.createTopic('even', 1);
  await cluster.createTopic('odd', 1);
  await produce(
    cluster,
    'numbers',
    Array.from({ length: 50 }, (_, n) => ({ key: String(n), value: String(n) })),
    10,
  );
  const pipeline = closeAtEnd(t, app({ applicationId: 'rxjs-ops', log: { brokers: [cluster.bootstrap] }, commitIntervalMs: 200 }));
  pipeline
    .stream('numbers', { key: Serdes.string(), value: Serdes.string() })
    .pipe(
      mergeMap(async (record: StreamRecord<string, string>) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return { ...record, value: String(Number(record.value) * 2) };
      }),
      bufferCount(4),
      // One output per buffer: the last record of the buffer carries the sum (a remainder buffer flushes at the batch end).
      map((buffer) => ({ ...buffer.at(-1)!, value: String(buffer.reduce((sum, record) => sum + Number(record.value), 0)) })),
      filter((record) => record.value !== '0'),
      mapValues((value: string | null) => value),
    )
    .to((record) => (Number(record.value) % 4 === 0 ? 'even' : 'odd'), { key: Serdes.string(), value: Serdes.string() });
  await pipeline.start();
  t.true(await waitForIdle(pipeline, 50));
  const output = await readAll(cluster, ['even', 'odd'], 1, { settleMs: 500 });
  const total = output.reduce((sum, record) => sum + Number(record.value), 0);
  t.is(total, 2 * ((49 * 50) / 2), 'every doubled number is in exactly one sum: none lost, none twice');
  for (const record of output) t.is(record.topic, Number(record.value) % 4 === 0 ? 'even' : 'odd');
});
