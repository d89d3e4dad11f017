/**
 * `through` and `repartition`: the graph split into sub-topologies at them (without a broker), and
 * end to end against a real broker — after `selectKey`, every record of a key goes to the
 * repartition topic's murmur2 partition and is processed downstream by that one task, with key,
 * timestamp and headers kept, under at_least_once and exactly_once; the internal topic is created
 * with the right partition count, and one that exists with another count fails start().
 */
import test, { type ExecutionContext } from 'ava';
import { partitionForKey } from '@defter/broker';
import { app, KStream, Serdes, type ProcessingGuarantee } from '../src/index.js';
import { Topology, type AnyRecord } from '../src/topology/topology.js';
import { closeAtEnd, produce, readAll, startCluster, waitForIdle, type TestCluster } from './runtime-support.js';

const strings = { key: Serdes.string(), value: Serdes.string() };

interface Order {
  readonly id: number;
  readonly customer: string;
}

/** Downstream of the repartition: the order and where it was processed. */
interface Seen extends Order {
  readonly seenIn: string;
}

const orderSerdes = { key: Serdes.string(), value: Serdes.json<Order>() };

test('describe(): sub-topologies split at through and repartition; names, partitions and validation', (t) => {
  const topology = new Topology();
  const source = new KStream<string, string>(
    topology,
    topology.addSource({ topics: ['orders'], keySerde: strings.key, valueSerde: strings.value, timestampExtractor: undefined }),
  );
  source
    .selectKey((record) => record.value)
    .repartition({ ...strings, name: 'by-value' })
    .mapValues((value) => value)
    .through('middle', strings)
    .repartition(strings)
    .to('out', strings);
  const description = topology.describe('shop');
  t.deepEqual(
    description.subTopologies.map((part) => ({ id: part.subTopologyId, reads: part.sourceTopics, writes: part.sinkTopics })),
    [
      { id: 0, reads: ['orders'], writes: ['shop-by-value-repartition'] },
      { id: 1, reads: ['shop-by-value-repartition'], writes: ['middle'] },
      { id: 2, reads: ['middle'], writes: ['shop-KSTREAM-REPARTITION-0000000007-repartition'] },
      { id: 3, reads: ['shop-KSTREAM-REPARTITION-0000000007-repartition'], writes: ['out'] },
    ],
  );
  t.is(
    description.toString(),
    [
      'Sub-topology 0: reads orders; writes shop-by-value-repartition',
      '  source 0 [orders]',
      '  processor 1 <- 0',
      '  sink 2 <- 1 [shop-by-value-repartition]',
      'Sub-topology 1: reads shop-by-value-repartition; writes middle',
      '  source 3 [shop-by-value-repartition]',
      '  processor 4 <- 3',
      '  sink 5 <- 4 [middle]',
      'Sub-topology 2: reads middle; writes shop-KSTREAM-REPARTITION-0000000007-repartition',
      '  source 6 [middle]',
      '  sink 7 <- 6 [shop-KSTREAM-REPARTITION-0000000007-repartition]',
      'Sub-topology 3: reads shop-KSTREAM-REPARTITION-0000000007-repartition; writes out',
      '  source 8 [shop-KSTREAM-REPARTITION-0000000007-repartition]',
      '  sink 9 <- 8 [out]',
      'Repartition topic shop-by-value-repartition: partitions of the topics upstream',
      'Repartition topic shop-KSTREAM-REPARTITION-0000000007-repartition: partitions of the topics upstream',
    ].join('\n'),
  );

  // Partitions: the most among the topics the writer reads, through chains of repartition topics.
  const parts = topology.subTopologies(
    new Map([
      [0, ['orders']],
      [1, ['shop-by-value-repartition']],
      [2, ['middle']],
      [3, ['shop-KSTREAM-REPARTITION-0000000007-repartition']],
    ]),
  );
  const counts = topology.repartitionPartitions(parts, 'shop', new Map([['orders', 6], ['middle', 2]]));
  t.deepEqual([...counts.values()], [6, 2]);

  t.throws(() => source.repartition({ ...strings, name: 'by-value' }), { message: 'a repartition topic named "by-value" exists already in this app: give each repartition() its own name' });
  t.throws(() => source.repartition({ ...strings, name: 'by value' }), { message: `the repartition name "by value" may hold only letters, digits, '.', '_' and '-'` });
  t.throws(() => source.repartition({ ...strings, partitions: 0 }), { message: 'repartition partitions must be a positive integer, got 0' });
  t.throws(() => source.through('', strings), { message: 'through() needs a topic name' });
});

test('a batch of the writing sub-topology ends at the repartition sink; the reading one starts from its source', async (t) => {
  const topology = new Topology();
  const source = new KStream<string, string>(
    topology,
    topology.addSource({ topics: ['in'], keySerde: strings.key, valueSerde: strings.value, timestampExtractor: undefined }),
  );
  source.selectKey((record) => record.value).repartition({ ...strings, name: 'r' }).mapValues((value) => `after-${value}`).to('out', strings);
  const [writer, reader] = topology.subTopologies(new Map([[0, ['in']], [1, ['app-r-repartition']]]));
  const record = (topic: string): AnyRecord => ({ key: 'k', value: 'v', headers: { h: 'x' }, timestamp: 7, topic, partition: 0, offset: 3n });
  const written = await topology.run(writer!, new Map([[0, [record('in')]]]));
  t.deepEqual(
    written.map((output) => ({ topic: output.sink.topic, key: output.record.key, value: output.record.value })),
    [{ topic: { name: 'r', partitions: undefined }, key: 'v', value: 'v' }],
  );
  const read = await topology.run(reader!, new Map([[1, [record('app-r-repartition')]]]));
  t.deepEqual(
    read.map((output) => ({ topic: output.sink.topic, value: output.record.value })),
    [{ topic: 'out', value: 'after-v' }],
  );
});

const ORDERS = 400;
const orders: Order[] = Array.from({ length: ORDERS }, (_, id) => ({ id, customer: `customer-${(id * 7) % 23}` }));

/** Orders keyed by id on `orders` (3 partitions) and `returns` (5 partitions), re-keyed by customer. */
async function feed(cluster: TestCluster): Promise<void> {
  await cluster.createTopic('orders', 3);
  await cluster.createTopic('returns', 5);
  await cluster.createTopic('by-customer', 2);
  const message = (order: Order) => ({
    key: `order-${order.id}`,
    value: JSON.stringify(order),
    timestamp: String(1_700_000_000_000 + order.id),
    headers: { origin: `shop-${order.id % 3}` },
  });
  await produce(cluster, 'orders', orders.filter((order) => order.id % 4 !== 0).map(message));
  await produce(cluster, 'returns', orders.filter((order) => order.id % 4 === 0).map(message));
}

async function selectKeyThenRepartition(t: ExecutionContext, processingGuarantee: ProcessingGuarantee): Promise<void> {
  const cluster = await startCluster(t);
  await feed(cluster);
  const applicationId = `regroup-${processingGuarantee}`;
  const pipeline = closeAtEnd(t, app({ applicationId, processingGuarantee, commitIntervalMs: 100, log: { brokers: [cluster.bootstrap] } }));
  pipeline
    .stream('orders', orderSerdes)
    .merge(pipeline.stream('returns', orderSerdes))
    .selectKey((record) => record.value!.customer)
    .repartition({ ...orderSerdes, name: 'by-customer' })
    .mapValues((order, record): Seen => ({ ...order!, seenIn: `${record.topic}/${record.partition}` }))
    .to('by-customer', { key: Serdes.string(), value: Serdes.json<Seen>() });
  await pipeline.start();
  const internal = `${applicationId}-by-customer-repartition`;
  t.true(await waitForIdle(pipeline, 2 * ORDERS, 30_000), JSON.stringify(pipeline.metrics().tasks));

  const admin = cluster.kafka.admin();
  await admin.connect();
  const metadata = await admin.fetchTopicMetadata({ topics: [internal] });
  await admin.disconnect();
  t.is(metadata.topics[0]!.partitions.length, 5, 'as many partitions as the widest upstream topic (returns)');

  const repartitioned = await readAll(cluster, [internal], ORDERS);
  t.is(repartitioned.length, ORDERS);
  for (const record of repartitioned) {
    const order = JSON.parse(record.value!) as Order;
    t.is(record.key, order.customer);
    t.is(record.partition, partitionForKey(Buffer.from(order.customer), 5), `${order.customer} in its murmur2 partition`);
    t.is(record.timestamp, 1_700_000_000_000 + order.id, 'the timestamp written as the CreateTime');
    t.deepEqual(record.headers, { origin: `shop-${order.id % 3}` });
  }

  const output = await readAll(cluster, ['by-customer'], ORDERS);
  t.deepEqual(
    output.map((record) => (JSON.parse(record.value!) as Seen).id).sort((a, b) => a - b),
    orders.map((order) => order.id),
    'every order once',
  );
  const tasksByCustomer = new Map<string, Set<string>>();
  for (const record of output) {
    const seen = JSON.parse(record.value!) as Seen;
    t.is(record.key, seen.customer);
    t.is(seen.seenIn, `${internal}/${partitionForKey(Buffer.from(seen.customer), 5)}`);
    t.is(record.timestamp, 1_700_000_000_000 + seen.id);
    t.deepEqual(record.headers, { origin: `shop-${seen.id % 3}` });
    tasksByCustomer.set(seen.customer, (tasksByCustomer.get(seen.customer) ?? new Set()).add(seen.seenIn));
  }
  t.is(tasksByCustomer.size, 23);
  t.true([...tasksByCustomer.values()].every((tasks) => tasks.size === 1), 'each customer processed by one task');

  const tasks = pipeline.metrics().tasks;
  t.deepEqual(
    tasks.map((task) => task.taskId),
    ['0_0', '0_1', '0_2', '0_3', '0_4', '1_0', '1_1', '1_2', '1_3', '1_4'],
  );
  const recordsIn = (subTopologyId: number) => tasks.filter((task) => task.subTopologyId === subTopologyId).reduce((sum, task) => sum + task.recordsIn, 0);
  t.deepEqual([recordsIn(0), recordsIn(1)], [ORDERS, ORDERS]);
  t.deepEqual(
    pipeline.describe().subTopologies.map((part) => [part.sourceTopics, part.sinkTopics]),
    [
      [['orders', 'returns'], [internal]],
      [[internal], ['by-customer']],
    ],
  );
}

test('selectKey + repartition, at_least_once: keys meet in their murmur2 partition, one task each; key, timestamp, headers kept', async (t) => {
  await selectKeyThenRepartition(t, 'at_least_once');
});

test('selectKey + repartition, exactly_once: the same, with the repartition writes in the commits\' transactions', async (t) => {
  await selectKeyThenRepartition(t, 'exactly_once');
});

test('a repartition topic that exists with another partition count fails start() with a clear message', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('orders', 3);
  await cluster.createTopic('conflict-by-customer-repartition', 2);
  const pipeline = closeAtEnd(t, app({ applicationId: 'conflict', log: { brokers: [cluster.bootstrap] } }));
  pipeline
    .stream('orders', orderSerdes)
    .selectKey((record) => record.value!.customer)
    .repartition({ ...orderSerdes, name: 'by-customer' })
    .to('anywhere', orderSerdes);
  await t.throwsAsync(pipeline.start(), {
    message:
      'the repartition topic "conflict-by-customer-repartition" exists with 2 partitions, but the topology asks for 3: ' +
      'delete it once the app has drained it, or ask for repartition({ partitions: 2 })',
  });
  t.is(pipeline.state, 'ERROR');
  t.is(pipeline.error?.message.startsWith('the repartition topic "conflict-by-customer-repartition" exists with 2 partitions'), true);
});

test('repartition with partitions given creates the topic with them; through writes to a user topic and reads it back', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('in', 2);
  await cluster.createTopic('middle', 3);
  await cluster.createTopic('out', 1);
  await produce(
    cluster,
    'in',
    Array.from({ length: 60 }, (_, n) => ({ key: `k${n}`, value: `group-${n % 5}`, timestamp: String(1_600_000_000_000 + n), headers: { n: String(n) } })),
  );
  const pipeline = closeAtEnd(t, app({ applicationId: 'through', commitIntervalMs: 100, log: { brokers: [cluster.bootstrap] } }));
  pipeline
    .stream('in', strings)
    .selectKey((record) => record.value)
    .through('middle', strings)
    .mapValues((value, record) => `${value}@${record.topic}/${record.partition}`)
    .repartition({ ...strings, name: 'seven', partitions: 7 })
    .to('out', strings);
  await pipeline.start();
  t.true(await waitForIdle(pipeline, 180, 30_000));

  const admin = cluster.kafka.admin();
  await admin.connect();
  const metadata = await admin.fetchTopicMetadata({ topics: ['through-seven-repartition'] });
  await admin.disconnect();
  t.is(metadata.topics[0]!.partitions.length, 7);

  const middle = await readAll(cluster, ['middle'], 60);
  t.is(middle.length, 60);
  for (const record of middle) {
    t.is(record.partition, partitionForKey(Buffer.from(record.key!), 3));
    t.is(record.timestamp, 1_600_000_000_000 + Number(record.headers['n']));
  }
  const output = await readAll(cluster, ['out'], 60);
  t.deepEqual(
    output.map((record) => Number(record.headers['n'])).sort((a, b) => a - b),
    Array.from({ length: 60 }, (_, n) => n),
  );
  for (const record of output) {
    const n = Number(record.headers['n']);
    t.is(record.key, `group-${n % 5}`);
    t.is(record.value, `group-${n % 5}@middle/${partitionForKey(Buffer.from(`group-${n % 5}`), 3)}`);
    t.is(record.timestamp, 1_600_000_000_000 + n);
  }
  t.deepEqual(
    pipeline.describe().subTopologies.map((part) => [part.sourceTopics, part.sinkTopics]),
    [
      [['in'], ['middle']],
      [['middle'], ['through-seven-repartition']],
      [['through-seven-repartition'], ['out']],
    ],
  );
});
