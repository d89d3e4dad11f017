/**
 * Stream–table (inner, left) and stream–globalTable joins against plain-loop references, in
 * phases whose order is fixed (table loaded → orders → table updated → orders), on the embedded
 * log and over kafkajs; the co-partitioning check at start.
 */
import test, { type ExecutionContext } from 'ava';
import { app, Serdes, type LogOption } from '../src/index.js';
import { canonical, type JoinOutput } from './joins-support.js';
import { closeAtEnd, produce, readAll, startCluster, waitForIdle, waitUntil, type TestCluster } from './runtime-support.js';
import { seededRandom, stateDirectory } from './stateful-support.js';

interface Order {
  readonly product: string;
  readonly customer: string;
  readonly quantity: number;
}

const PRODUCTS = 8;
const CUSTOMERS = 5;

function orders(count: number, random: () => number): Array<{ key: string; order: Order }> {
  return Array.from({ length: count }, () => {
    const product = `p${Math.floor(random() * PRODUCTS)}`;
    return { key: product, order: { product, customer: `c${Math.floor(random() * CUSTOMERS)}`, quantity: 1 + Math.floor(random() * 9) } };
  });
}

/** Prices for some products (a null deletes one): the table's updates. */
function priceUpdates(random: () => number, deleteShare: number): Array<{ key: string; value: string | null }> {
  const updates: Array<{ key: string; value: string | null }> = [];
  for (let product = 0; product < PRODUCTS; product += 1) {
    if (random() < 0.3) continue;
    updates.push({ key: `p${product}`, value: random() < deleteShare ? null : String(1 + Math.floor(random() * 50)) });
  }
  return updates;
}

function applyUpdates(table: Map<string, string>, updates: ReadonlyArray<{ key: string; value: string | null }>): void {
  for (const { key, value } of updates) {
    if (value === null) table.delete(key);
    else table.set(key, value);
  }
}

const joined = (order: Order, price: string | null): string => `${order.customer}x${order.quantity}@${price ?? 'none'}`;

async function scenario(t: ExecutionContext, cluster: TestCluster, log: LogOption): Promise<void> {
  const seed = Date.now() % 100_000;
  t.log(`seed ${seed}`);
  const random = seededRandom(seed);
  await cluster.createTopic('prices', 2);
  await cluster.createTopic('orders', 2);
  await cluster.createTopic('customers', 3);
  for (const topic of ['inner-out', 'left-out', 'global-out', 'global-left-out']) await cluster.createTopic(topic, 1);
  const prices = new Map<string, string>();
  const customers = new Map<string, string>();
  const initialPrices = priceUpdates(random, 0);
  const initialCustomers = Array.from({ length: CUSTOMERS - 1 }, (_, index) => ({ key: `c${index}`, value: `name-${index}` }));
  await produce(cluster, 'prices', initialPrices, 3);
  await produce(cluster, 'customers', initialCustomers, 2);
  applyUpdates(prices, initialPrices);
  applyUpdates(customers, initialCustomers);

  const pipeline = closeAtEnd(t, app({ applicationId: 'stream-table-joins', log, stateDir: await stateDirectory(t), commitIntervalMs: 200 }));
  const orderStream = pipeline.stream('orders', { key: Serdes.string(), value: Serdes.json<Order>() });
  const priceTable = pipeline.table('prices', { key: Serdes.string(), value: Serdes.string() });
  const customerTable = pipeline.globalTable('customers', { key: Serdes.string(), value: Serdes.string() });
  const out = { key: Serdes.string(), value: Serdes.string() };
  orderStream.join(priceTable, (order, price) => joined(order, price)).to('inner-out', out);
  orderStream.leftJoin(priceTable, (order, price) => joined(order, price)).to('left-out', out);
  orderStream.join(customerTable, (record) => record.value!.customer, (order, name) => `${order.product} for ${name}`).to('global-out', out);
  orderStream.leftJoin(customerTable, (record) => record.value!.customer, (order, name) => `${order.product} for ${name ?? 'unknown'}`).to('global-left-out', out);
  await pipeline.start();
  // The global table is restored before RUNNING.
  t.is(await customerTable.get('c0'), 'name-0');
  let recordsIn = initialPrices.length;
  t.true(await waitForIdle(pipeline, recordsIn, 30_000));

  const expected = { inner: [] as JoinOutput[], left: [] as JoinOutput[], global: [] as JoinOutput[], globalLeft: [] as JoinOutput[] };
  const phase = async (count: number): Promise<void> => {
    const batch = orders(count, random);
    for (const { key, order } of batch) {
      const price = prices.get(key) ?? null;
      if (price !== null) expected.inner.push({ key, value: joined(order, price) });
      expected.left.push({ key, value: joined(order, price) });
      const name = customers.get(order.customer) ?? null;
      if (name !== null) expected.global.push({ key, value: `${order.product} for ${name}` });
      expected.globalLeft.push({ key, value: `${order.product} for ${name ?? 'unknown'}` });
    }
    await produce(cluster, 'orders', batch.map(({ key, order }) => ({ key, value: JSON.stringify(order) })), 17);
    recordsIn += count;
    t.true(await waitForIdle(pipeline, recordsIn, 30_000));
  };
  await phase(120);

  // Updates (deletes included) of both tables, then more orders: they see the new values.
  const updates = priceUpdates(random, 0.3);
  await produce(cluster, 'prices', updates, 2);
  applyUpdates(prices, updates);
  recordsIn += updates.length;
  t.true(await waitForIdle(pipeline, recordsIn, 30_000));
  const customerUpdates = [
    { key: 'c0', value: null },
    { key: `c${CUSTOMERS - 1}`, value: 'late-comer' },
  ];
  await produce(cluster, 'customers', customerUpdates, 1);
  applyUpdates(customers, customerUpdates);
  // Eventually consistent: the background reader applies them shortly after they are written.
  t.true(await waitUntil(async () => (await customerTable.get('c0')) === null && (await customerTable.get(`c${CUSTOMERS - 1}`)) === 'late-comer', 20_000));
  await phase(120);

  const read = async (topic: string, outputs: JoinOutput[]): Promise<void> => {
    const actual = await readAll(cluster, [topic], outputs.length, { settleMs: 500 });
    t.deepEqual(canonical(actual, false), canonical(outputs, false), `${topic}, seed ${seed}`);
  };
  await read('inner-out', expected.inner);
  await read('left-out', expected.left);
  await read('global-out', expected.global);
  await read('global-left-out', expected.globalLeft);
}

test('embedded log: stream–table and stream–globalTable joins match the references, before and after table updates', async (t) => {
  const cluster = await startCluster(t);
  await scenario(t, cluster, { broker: cluster.broker });
});

test('kafkajs: stream–table and stream–globalTable joins match the references, before and after table updates', async (t) => {
  const cluster = await startCluster(t);
  await scenario(t, cluster, { brokers: [cluster.bootstrap] });
});

test('a join of inputs with different partition counts is refused at start, naming both topics and their counts', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('clicks', 3);
  await cluster.createTopic('users', 2);
  const pipeline = closeAtEnd(t, app({ applicationId: 'not-copartitioned', log: { broker: cluster.broker }, stateDir: await stateDirectory(t), shutdownOnSignals: false }));
  const clicks = pipeline.stream('clicks', { key: Serdes.string(), value: Serdes.string() });
  const users = pipeline.table('users', { key: Serdes.string(), value: Serdes.string() });
  clicks.join(users, (click, user) => `${click}/${user}`).to('clicks', { key: Serdes.string(), value: Serdes.string() });
  const error = await t.throwsAsync(() => pipeline.start());
  t.is(
    error?.message,
    'the stream–table join with the table "users-table" needs co-partitioned inputs (the same partition count on both sides), but "clicks" has 3, "users" has 2 partitions: ' +
      'bring the other side to 3 partitions with repartition({ partitions: 3 }) before the join',
  );
  t.is(pipeline.state, 'ERROR');
});

test('a stream–table join needs a materialised table', (t) => {
  const pipeline = app({ applicationId: 'derived-table', log: { brokers: ['localhost:1'] }, shutdownOnSignals: false });
  const clicks = pipeline.stream('clicks', { key: Serdes.string(), value: Serdes.string() });
  const users = pipeline.table('users', { key: Serdes.string(), value: Serdes.string() }).mapValues((value) => value.length);
  t.throws(() => clicks.join(users, (click, length) => `${click}/${length}`), { message: /needs a materialised table/ });
});

test('a global table whose topic does not exist fails the start with its name and topic', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('visits', 1);
  const pipeline = closeAtEnd(t, app({ applicationId: 'missing-global', log: { broker: cluster.broker }, stateDir: await stateDirectory(t), shutdownOnSignals: false }));
  const regions = pipeline.globalTable('regions', { key: Serdes.string(), value: Serdes.string() });
  pipeline
    .stream('visits', { key: Serdes.string(), value: Serdes.string() })
    .join(regions, (record) => record.value, (visit, region) => `${visit} in ${region}`)
    .to('visits', { key: Serdes.string(), value: Serdes.string() });
  const error = await t.throwsAsync(() => pipeline.start());
  t.regex(error?.message ?? '', /^the global table "regions-global" reads the topic "regions", which cannot be read: /);
  await t.throwsAsync(() => regions.get('x'), { message: 'the global table "regions-global" is read only while the app runs' });
});
