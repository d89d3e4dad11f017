/**
 * The orders ETL demo end to end, on a broker in this process and a schema registry on a free
 * port: the exact Avro output (decoded through the registry) and the exact dead letters.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { partitionForKey } from '@defter/broker';
import { DEAD_LETTER_HEADERS } from '@defter/streams';
import { runEtlOrdersDemo } from '../src/demo.js';
import { toOrderEur, UnknownCurrencyError } from '../src/enrichment.js';
import { sampleOrders } from '../src/sample-orders.js';

test('30 orders: 26 converted to EUR as Avro, 4 dead-lettered with their errors', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'defter-etl-orders-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const lines: string[] = [];
  const result = await runEtlOrdersDemo({ dataDir, print: (line) => lines.push(line) });

  t.is(result.ordersIn, 30);
  const spoiled = new Set(['o-1004', 'o-1009', 'o-1015', 'o-1022']);
  const expectedIds = Array.from({ length: 30 }, (_, index) => `o-${1000 + index}`).filter((id) => !spoiled.has(id));
  t.deepEqual(
    result.converted.map((order) => order.value.orderId),
    expectedIds,
  );
  for (const order of result.converted) {
    t.is(order.key, order.value.orderId, 'keyed by order id');
    t.is(order.partition, partitionForKey(Buffer.from(order.key!), 3), 'placed by murmur2 of the key');
    t.is(order.schemaId, 1, 'one schema, registered once');
    t.is(order.timestamp, order.value.createdAtMs, 'the input record time carried through');
  }
  const byId = new Map(result.converted.map((order) => [order.value.orderId, order.value]));
  // Four records checked by hand, one per kind of conversion.
  t.deepEqual(byId.get('o-1000'), {
    orderId: 'o-1000', customerId: 'c-001', customerTier: 'gold', itemCount: 6, currency: 'EUR',
    total: 334.8, eurRate: 1, totalEurCents: 33480, createdAtMs: Date.parse('2026-11-23T09:00:01.000Z'),
  });
  t.like(byId.get('o-1002'), { customerId: 'c-006', customerTier: 'standard', currency: 'USD', total: 140.88, eurRate: 0.92, totalEurCents: 12961 }); // 140.88 × 0.92 = 129.6096
  t.like(byId.get('o-1020'), { customerId: 'c-005', customerTier: 'silver', currency: 'GBP', total: 97.35, eurRate: 1.17, totalEurCents: 11390 }); // 113.8995
  t.like(byId.get('o-1026'), { customerId: 'c-004', customerTier: 'gold', currency: 'JPY', total: 29040, eurRate: 0.0061, totalEurCents: 17714 }); // 177.144
  t.like(byId.get('o-1001'), { customerId: 'c-007', customerTier: 'standard' }, 'a customer missing from the tier table is standard');
  t.is(
    result.converted.reduce((sum, order) => sum + order.value.totalEurCents, 0),
    535_876, // the EUR column of the report, summed
  );

  const input = sampleOrders();
  t.deepEqual(
    result.deadLetters.map((letter) => ({ key: letter.key, value: letter.value })),
    [4, 9, 15, 22].map((index) => ({ key: input[index]!.key, value: input[index]!.value })),
    'the original bytes, untouched',
  );
  const errorHeaders = result.deadLetters.map((letter) =>
    Object.fromEntries(Object.entries(letter.headers).filter(([name]) => name !== DEAD_LETTER_HEADERS.message)),
  );
  const common = { source: 'webshop', [DEAD_LETTER_HEADERS.topic]: 'orders', [DEAD_LETTER_HEADERS.applicationId]: 'orders-etl' };
  t.deepEqual(errorHeaders, [
    { ...common, [DEAD_LETTER_HEADERS.stage]: 'deserialization', [DEAD_LETTER_HEADERS.errorClass]: 'SerdeError', [DEAD_LETTER_HEADERS.reason]: 'malformed', [DEAD_LETTER_HEADERS.partition]: '1', [DEAD_LETTER_HEADERS.offset]: '2' },
    { ...common, [DEAD_LETTER_HEADERS.stage]: 'deserialization', [DEAD_LETTER_HEADERS.errorClass]: 'SerdeError', [DEAD_LETTER_HEADERS.reason]: 'validation', [DEAD_LETTER_HEADERS.partition]: '0', [DEAD_LETTER_HEADERS.offset]: '2' },
    { ...common, [DEAD_LETTER_HEADERS.stage]: 'deserialization', [DEAD_LETTER_HEADERS.errorClass]: 'SerdeError', [DEAD_LETTER_HEADERS.reason]: 'validation', [DEAD_LETTER_HEADERS.partition]: '1', [DEAD_LETTER_HEADERS.offset]: '7' },
    { ...common, [DEAD_LETTER_HEADERS.stage]: 'processing', [DEAD_LETTER_HEADERS.errorClass]: 'UnknownCurrencyError', [DEAD_LETTER_HEADERS.partition]: '1', [DEAD_LETTER_HEADERS.offset]: '13' },
  ]);
  const messages = result.deadLetters.map((letter) => letter.headers[DEAD_LETTER_HEADERS.message]!);
  t.regex(messages[0]!, /^cannot deserialize the value of topic "orders" partition 1 offset 2: not valid JSON \(/);
  t.deepEqual(messages.slice(1), [
    'cannot deserialize the value of topic "orders" partition 0 offset 2: failed validation (the order has no customerId)',
    'cannot deserialize the value of topic "orders" partition 1 offset 7: failed validation (item 0 (TEE-02) has quantity -2; it must be a positive integer)',
    'there is no EUR rate for currency BTC',
  ]);

  t.is(lines[0], '30 orders read from "orders": 26 written to "orders-eur" (Avro, schema id 1), 4 sent to "orders-dlq".');
  t.true(lines.includes('  o-1026  c-004  gold       8 units  JPY  29040.00 × 0.0061 = EUR  177.14'));
  t.true(lines.includes('  orders-1@13  key c-001  processing/UnknownCurrencyError: there is no EUR rate for currency BTC'));
});

test('the conversion sums in cents and refuses a currency without a rate', (t) => {
  const order = { orderId: 'o-1', customerId: 'c-003', currency: 'EUR', createdAt: '2026-11-23T09:00:00Z', items: [{ sku: 'MUG-01', qty: 3, unitPrice: 19.99 }] };
  t.like(toOrderEur(order), { total: 59.97, totalEurCents: 5997, itemCount: 3, customerTier: 'standard' });
  t.throws(() => toOrderEur({ ...order, currency: 'XAU' }), { instanceOf: UnknownCurrencyError, message: 'there is no EUR rate for currency XAU' });
});
