/**
 * Transactional offsets through a real broker: kafkajs 2.2.4's `sendOffsets` (AddOffsetsToTxn +
 * TxnOffsetCommit v0-1), then EndTxn. The offsets are invisible to OffsetFetch while the
 * transaction runs (UNSTABLE_OFFSET_COMMIT with requireStable), visible once it commits, dropped
 * when it aborts, and the committed ones survive a restart.
 */
import test from 'ava';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { ApiKey, ErrorCode } from '@defter/protocol';
import { RawClient } from './helpers/raw-client.js';
import { eventually, startTestBroker, tempDir } from './helpers/test-broker.js';

async function committed(admin: Admin, groupId: string): Promise<string[]> {
  const [result] = await admin.fetchOffsets({ groupId, topics: ['orders'] });
  return result!.partitions.sort((a, b) => a.partition - b.partition).map((p) => p.offset);
}

/** OffsetFetch v7 with requireStable: [partition, offset, errorCode] of orders 0 and 1. */
async function stableFetch(raw: RawClient, groupId: string): Promise<Array<[number, bigint, number]>> {
  const response = await raw.request(ApiKey.OffsetFetch, 7, { groupId, topics: [{ name: 'orders', partitionIndexes: [0, 1] }], requireStable: true });
  return response.body.topics!.flatMap((topic) => topic.partitions.map((p): [number, bigint, number] => [p.partitionIndex, p.committedOffset, p.errorCode]));
}

test('kafkajs sendOffsets: pending until commit, unstable under requireStable, dropped on abort, kept across a restart', async (t) => {
  const dataDir = await tempDir(t);
  const options = { dataDir, groupInitialRebalanceDelayMs: 0, offsetsTopicNumPartitions: 3 };
  let broker = await startTestBroker(t, options);
  await broker.broker.context.metadata.createTopic('orders', 2, {});
  const kafka = new Kafka({ clientId: 'txn-offsets', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 50 } });
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ transactionalId: 'txn-offsets-1', idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const raw = await RawClient.connect(broker.port);
  try {
    const first = await producer.transaction();
    await first.send({ topic: 'orders', messages: [{ value: 'x', partition: 0 }] });
    await first.sendOffsets({ consumerGroupId: 'etl', topics: [{ topic: 'orders', partitions: [{ partition: 0, offset: '5' }, { partition: 1, offset: '7' }] }] });
    t.deepEqual(await committed(admin, 'etl'), ['-1', '-1'], 'invisible while the transaction runs');
    t.deepEqual(await stableFetch(raw, 'etl'), [
      [0, -1n, ErrorCode.UNSTABLE_OFFSET_COMMIT],
      [1, -1n, ErrorCode.UNSTABLE_OFFSET_COMMIT],
    ]);
    await first.commit();
    // The markers are written after EndTxn answers.
    t.true(await eventually(async () => (await committed(admin, 'etl')).join() === '5,7'), 'visible once committed');
    t.deepEqual(await stableFetch(raw, 'etl'), [
      [0, 5n, ErrorCode.NONE],
      [1, 7n, ErrorCode.NONE],
    ]);

    const second = await producer.transaction();
    await second.sendOffsets({ consumerGroupId: 'etl', topics: [{ topic: 'orders', partitions: [{ partition: 0, offset: '50' }] }] });
    t.deepEqual((await stableFetch(raw, 'etl')).map(([, , code]) => code), [ErrorCode.UNSTABLE_OFFSET_COMMIT, ErrorCode.NONE]);
    await second.abort();
    t.true(await eventually(async () => (await stableFetch(raw, 'etl'))[0]![2] === ErrorCode.NONE), 'the abort ends the pending offset');
    t.deepEqual(await committed(admin, 'etl'), ['5', '7'], 'an aborted transaction commits nothing');
  } finally {
    raw.close();
    await producer.disconnect();
    await admin.disconnect();
  }

  await broker.broker.close();
  broker = await startTestBroker(t, options);
  const restarted = new Kafka({ clientId: 'txn-offsets', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING }).admin();
  await restarted.connect();
  t.teardown(() => restarted.disconnect());
  t.deepEqual(await committed(restarted, 'etl'), ['5', '7']);
});
