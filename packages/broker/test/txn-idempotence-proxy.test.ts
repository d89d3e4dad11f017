/**
 * Idempotence when the response is lost: a TCP proxy between kafkajs and the broker forwards each
 * Produce request but drops the connection instead of forwarding some responses, after the broker
 * has written the records. kafkajs retries the batch with the same sequence numbers; the broker
 * acknowledges it with its original offsets and does not write it again. The log holds each record
 * exactly once, at the offset its producer was given. With a transactional producer, lost Produce
 * responses are retried the same way and each transaction is visible once or not at all; with
 * librdkafka, lost EndTxn responses are retried and the retry gets the outcome already reached.
 */
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { ApiKey, isControl } from '@defter/protocol';
import { DroppingProxy } from './helpers/dropping-proxy.js';
import { pythonWith, runProcess } from './helpers/processes.js';
import { startTestBroker, type TestBroker } from './helpers/test-broker.js';
import { readUntilSentinels, sendSentinels, txnKafka, valuesByPartition } from './helpers/txn-clients.js';
import { batchesOf, connectClient, fetch } from './replica-support.js';
import type { ExecutionContext } from 'ava';

const PARTITIONS = 3;

/** A port nobody listens on right now (the broker binds it a moment later: the test retries if another took it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A broker that advertises the proxy's port, so that kafkajs reaches it only through the proxy.
 * The broker reports its advertised port, not the bound one, so the test picks the bound one.
 */
async function brokerBehindProxy(t: ExecutionContext, shouldDrop: (apiKey: number, nth: number) => boolean): Promise<{ test: TestBroker; proxy: DroppingProxy; brokerPort: number }> {
  let brokerPort = 0;
  const proxy = await DroppingProxy.listen(() => brokerPort, shouldDrop);
  t.teardown(() => proxy.close());
  for (let attempt = 1; ; attempt++) {
    brokerPort = await freePort();
    try {
      const test = await startTestBroker(t, {
        port: brokerPort,
        advertisedPort: proxy.port,
        groupInitialRebalanceDelayMs: 0,
        transactionStateLogNumPartitions: 3,
        offsetsTopicNumPartitions: 3,
      });
      return { test, proxy, brokerPort };
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

/** Every data record of `topic` (read_uncommitted, straight from the broker, markers left out), as `[partition, offset, value]`. */
async function readLog(t: ExecutionContext, port: number, topic: string): Promise<Array<[number, number, string]>> {
  const raw = await connectClient(t, port);
  const records: Array<[number, number, string]> = [];
  for (let partition = 0; partition < PARTITIONS; partition++) {
    for (let offset = 0n; ; ) {
      const response = await fetch(raw, [{ topic, partition, offset }], { isolationLevel: 0 });
      const data = response.responses[0]!.partitions[0]!;
      const batches = batchesOf(data.records);
      if (batches.length === 0) break;
      for (const batch of batches) {
        if (isControl(batch.attributes)) continue;
        for (const record of batch.records) records.push([partition, Number(batch.baseOffset) + record.offsetDelta, record.value!.toString()]);
      }
      const last = batches.at(-1)!;
      offset = last.baseOffset + BigInt(last.lastOffsetDelta) + 1n;
      if (offset >= data.highWatermark) break;
    }
  }
  return records;
}

test('kafkajs idempotent producer: every 4th Produce response lost; each record is in the log once, at its acknowledged offset', async (t) => {
  const { test: broker, proxy, brokerPort } = await brokerBehindProxy(t, (apiKey, nth) => apiKey === ApiKey.Produce && nth % 4 === 0);
  await broker.broker.context.metadata.createTopic('dedup', PARTITIONS, {});
  const kafka = txnKafka(`127.0.0.1:${proxy.port}`, 'dedup-test');
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: { retries: 10, initialRetryTime: 50, maxRetryTime: 500 } });
  t.teardown(() => producer.disconnect());
  await producer.connect();

  const sends = 48;
  const perSend = 5;
  const acknowledged: Array<[number, number, string]> = [];
  for (let send = 0; send < sends; send++) {
    const partition = send % PARTITIONS;
    const values = Array.from({ length: perSend }, (_, i) => `s${send}-${i}`);
    const [metadata] = await producer.send({ topic: 'dedup', acks: -1, messages: values.map((value) => ({ value, partition })) });
    t.is(metadata!.partition, partition);
    values.forEach((value, i) => acknowledged.push([partition, Number(metadata!.baseOffset) + i, value]));
  }
  t.true(proxy.droppedCount(ApiKey.Produce) >= 10, `${proxy.droppedCount(ApiKey.Produce)} responses dropped`);

  const log = await readLog(t, brokerPort, 'dedup');
  t.is(log.length, sends * perSend, 'no record written twice');
  const byPosition = (a: [number, number, string], b: [number, number, string]) => a[0] - b[0] || a[1] - b[1];
  t.deepEqual([...log].sort(byPosition), [...acknowledged].sort(byPosition), 'each record at the offset its (retried) send was acknowledged with');
  // Dense offsets per partition: a retry wrote nothing, not even a gap.
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const offsets = log.filter(([p]) => p === partition).map(([, offset]) => offset);
    t.deepEqual(offsets, offsets.map((_, i) => i), `partition ${partition} offsets`);
  }
});

test('kafkajs transactional producer: lost Produce responses are retried; each transaction visible once or not at all', async (t) => {
  // The first Produce of every transaction loses its response (the retry gets through). kafkajs
  // does not retry EndTxn or AddPartitionsToTxn (a lost one fails the commit), so those pass.
  let producesInTransaction = 0;
  let dropping = true;
  const { test: broker, proxy, brokerPort } = await brokerBehindProxy(t, (apiKey) => {
    if (!dropping) return false;
    if (apiKey === ApiKey.EndTxn) producesInTransaction = 0;
    return apiKey === ApiKey.Produce && ++producesInTransaction === 1;
  });
  await broker.broker.context.metadata.createTopic('dedup-txn', PARTITIONS, {});
  const kafka = txnKafka(`127.0.0.1:${proxy.port}`, 'dedup-txn-test');
  const producer = kafka.producer({ transactionalId: 'dedup-txn', idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  t.teardown(() => producer.disconnect());
  await producer.connect();

  const expected: Record<string, string[]> = {};
  const transactions = 8;
  for (let n = 0; n < transactions; n++) {
    const transaction = await producer.transaction();
    const commit = n % 3 !== 1;
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const values = [`t${n}-p${partition}-a`, `t${n}-p${partition}-b`];
      await transaction.send({ topic: 'dedup-txn', messages: values.map((value) => ({ value, partition })) });
      if (commit) (expected[`dedup-txn/${partition}`] ??= []).push(...values);
    }
    if (commit) await transaction.commit();
    else await transaction.abort();
  }
  t.is(proxy.droppedCount(ApiKey.Produce), transactions, 'one Produce response lost per transaction');

  // The readers go through the proxy too (the broker advertises it), with nothing lost.
  dropping = false;
  const direct = txnKafka(`127.0.0.1:${proxy.port}`, 'dedup-txn-reader');
  await sendSentinels(direct, ['dedup-txn'], PARTITIONS);
  const committed = await readUntilSentinels(t, direct, { groupId: 'dedup-txn-reader', topics: ['dedup-txn'], partitions: PARTITIONS, isolation: 'read_committed' });
  t.deepEqual(valuesByPartition(committed), expected);
  const log = await readLog(t, brokerPort, 'dedup-txn');
  t.is(log.length, transactions * PARTITIONS * 2 + PARTITIONS, 'no record written twice (the sentinels included)');
});

const python = pythonWith('confluent_kafka');
const TXN_SCRIPT = fileURLToPath(new URL('./helpers/python/txn_confluent.py', import.meta.url));

(python === undefined ? test.skip : test)('librdkafka transactional producer: every EndTxn response lost once; the retried EndTxn answers the same outcome and nothing is doubled', async (t) => {
  // Each EndTxn (commit, abort, commit) is done by the broker but its first response is lost; librdkafka
  // tries again (perhaps more than once, while the markers are written). A new transaction starts with AddPartitionsToTxn.
  let dropNextEndTxn = true;
  const { test: broker, proxy, brokerPort } = await brokerBehindProxy(t, (apiKey) => {
    if (apiKey === ApiKey.AddPartitionsToTxn) dropNextEndTxn = true;
    if (apiKey !== ApiKey.EndTxn || !dropNextEndTxn) return false;
    dropNextEndTxn = false;
    return true;
  });
  for (const topic of ['rd-retry-a', 'rd-retry-b']) await broker.broker.context.metadata.createTopic(topic, PARTITIONS, {});
  const result = await runProcess(t, python!, [TXN_SCRIPT, `127.0.0.1:${proxy.port}`, 'rd-retry-a,rd-retry-b', String(PARTITIONS), 'rd-retry'], { timeoutMs: 100_000 });
  t.is(result.code, 0, `txn_confluent.py failed: ${result.stderr.slice(-2000)}`);
  const output = JSON.parse(result.stdout) as { committed: Record<string, Array<[number, string]>>; uncommitted: Record<string, Array<[number, string]>>; failures: string[]; retried: string[] };
  t.deepEqual(output.failures, []);
  t.is(proxy.droppedCount(ApiKey.EndTxn), 3, 'the first response of each of the three EndTxn was lost');
  t.log(`EndTxn calls retried by the application: ${JSON.stringify(output.retried)}`);
  const names = (list: Array<[number, string]>) => [...new Set(list.map(([, value]) => value.split('-')[0]))];
  for (const [key, records] of Object.entries(output.committed)) t.deepEqual(names(records), ['first', 'third'], `read_committed ${key}`);
  for (const [key, records] of Object.entries(output.uncommitted)) t.deepEqual(names(records), ['first', 'second', 'third'], `read_uncommitted ${key}`);
  t.is(Object.keys(output.committed).length, 2 * PARTITIONS);
  // One marker per transaction and partition, however often EndTxn was sent: offsets stay 3 records + 1 marker per transaction.
  for (const records of Object.values(output.uncommitted)) t.deepEqual(records.map(([offset]) => offset), [0, 1, 2, 4, 5, 6, 8, 9, 10]);
  const log = await readLog(t, brokerPort, 'rd-retry-a');
  t.is(log.length, 3 * 3 * PARTITIONS + PARTITIONS, 'each record once (the sentinels included)');
  t.like(broker.broker.context.transactionCoordinator.describe('rd-retry'), { state: 'CompleteCommit' });
});
