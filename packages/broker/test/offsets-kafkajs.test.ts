/**
 * Committed offsets through kafkajs 2.2.4: the admin's fetchOffsets / setOffsets / resetOffsets
 * (setOffsets joins the group with a consumer and commits as a member), a consumer's own commits,
 * and OffsetDelete against a group whose members subscribe to the topic.
 */
import test from 'ava';
import { Kafka, logLevel, type Admin, type Consumer } from 'kafkajs';
import { ApiKey, ErrorCode } from '@defter/protocol';
import { RawClient } from './helpers/raw-client.js';
import { eventually, startTestBroker, type TestBroker } from './helpers/test-broker.js';

async function setup(t: import('ava').ExecutionContext): Promise<{ broker: TestBroker; kafka: Kafka; admin: Admin }> {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0, offsetsTopicNumPartitions: 4 });
  await broker.broker.context.metadata.createTopic('orders', 3, {});
  await broker.broker.context.metadata.createTopic('audit', 1, {});
  const kafka = new Kafka({ clientId: 'offsets-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 50 } });
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  return { broker, kafka, admin };
}

async function offsetsOf(admin: Admin, groupId: string, topic: string): Promise<Array<[number, string, string | null]>> {
  const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return result!.partitions.map((p) => [p.partition, p.offset, p.metadata] as [number, string, string | null]).sort((a, b) => a[0] - b[0]);
}

test('kafkajs admin: fetchOffsets of a new group, setOffsets, resetOffsets to earliest and latest, resolveOffsets', async (t) => {
  const { admin, kafka } = await setup(t);
  t.deepEqual(await offsetsOf(admin, 'ops', 'orders'), [
    [0, '-1', null],
    [1, '-1', null],
    [2, '-1', null],
  ]);

  await admin.setOffsets({ groupId: 'ops', topic: 'orders', partitions: [{ partition: 0, offset: '5' }, { partition: 2, offset: '7' }] });
  t.deepEqual(await offsetsOf(admin, 'ops', 'orders'), [
    [0, '5', null],
    [1, '-1', null],
    [2, '7', null],
  ]);

  // resetOffsets commits kafkajs's "earliest" (-2) as the offset, which the broker stores as sent.
  await admin.resetOffsets({ groupId: 'ops', topic: 'orders', earliest: true });
  t.deepEqual(await offsetsOf(admin, 'ops', 'orders'), [
    [0, '-2', null],
    [1, '-2', null],
    [2, '-2', null],
  ]);

  // resolveOffsets turns -2 into each partition's log start offset and commits that.
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: 'orders', messages: [{ value: 'a', partition: 1 }, { value: 'b', partition: 1 }] });
  await producer.disconnect();
  await admin.fetchOffsets({ groupId: 'ops', topics: ['orders'], resolveOffsets: true });
  t.deepEqual(await offsetsOf(admin, 'ops', 'orders'), [
    [0, '0', null],
    [1, '0', null],
    [2, '0', null],
  ]);
  await admin.resetOffsets({ groupId: 'ops', topic: 'orders', earliest: false });
  await admin.fetchOffsets({ groupId: 'ops', topics: ['orders'], resolveOffsets: true });
  t.deepEqual(await offsetsOf(admin, 'ops', 'orders'), [
    [0, '0', null],
    [1, '2', null],
    [2, '0', null],
  ]);
});

test('a kafkajs consumer commits as a group member and resumes from its commit', async (t) => {
  const { kafka, admin } = await setup(t);
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: 'orders', messages: Array.from({ length: 30 }, (_, i) => ({ value: `v${i}`, partition: i % 3 })) });

  const seen: string[] = [];
  const consume = async (): Promise<Consumer> => {
    const consumer = kafka.consumer({ groupId: 'readers', sessionTimeout: 6_000, heartbeatInterval: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'orders', fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    return consumer;
  };
  let consumer = await consume();
  t.teardown(() => consumer.disconnect());
  t.true(await eventually(async () => (await offsetsOf(admin, 'readers', 'orders')).every(([, offset]) => offset === '10'), 20_000));
  await consumer.disconnect();
  t.is(seen.length, 30);

  await producer.send({ topic: 'orders', messages: [{ value: 'late', partition: 1 }] });
  await producer.disconnect();
  consumer = await consume();
  t.true(await eventually(() => seen.length === 31, 20_000));
  t.deepEqual(seen.slice(30), ['late'], 'the restarted consumer read only what came after its commit');
  t.true(await eventually(async () => (await offsetsOf(admin, 'readers', 'orders'))[1]![1] === '11', 20_000));
});

test('OffsetDelete refuses the topics a running group subscribes to and deletes the others', async (t) => {
  const { broker, kafka } = await setup(t);
  const raw = await RawClient.connect(broker.port);
  t.teardown(() => raw.close());
  // Offsets for 'audit' come from a simple commit before any member joins.
  const simple = await raw.request(ApiKey.OffsetCommit, 8, {
    groupId: 'live',
    generationIdOrMemberEpoch: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [{ name: 'audit', partitions: [{ partitionIndex: 0, committedOffset: 4n, committedLeaderEpoch: -1, committedMetadata: null }] }],
  });
  t.is(simple.body.topics[0]!.partitions[0]!.errorCode, 0);

  const consumer = kafka.consumer({ groupId: 'live', sessionTimeout: 6_000, heartbeatInterval: 200 });
  await consumer.connect();
  t.teardown(() => consumer.disconnect());
  await consumer.subscribe({ topic: 'orders' });
  await consumer.run({ eachMessage: async () => undefined });
  t.true(await eventually(() => broker.broker.context.groupCoordinator.groupState('live') === 'Stable', 20_000));

  // A simple commit is refused while the group has members.
  const refused = await raw.request(ApiKey.OffsetCommit, 8, {
    groupId: 'live',
    generationIdOrMemberEpoch: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [{ name: 'audit', partitions: [{ partitionIndex: 0, committedOffset: 9n, committedLeaderEpoch: -1, committedMetadata: null }] }],
  });
  t.is(refused.body.topics[0]!.partitions[0]!.errorCode, ErrorCode.UNKNOWN_MEMBER_ID);

  const { body } = await raw.request(ApiKey.OffsetDelete, 0, {
    groupId: 'live',
    topics: [
      { name: 'orders', partitions: [{ partitionIndex: 0 }] },
      { name: 'audit', partitions: [{ partitionIndex: 0 }] },
    ],
  });
  t.deepEqual(body, {
    errorCode: 0,
    throttleTimeMs: 0,
    topics: [
      { name: 'orders', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC }] },
      { name: 'audit', partitions: [{ partitionIndex: 0, errorCode: 0 }] },
    ],
  });
  t.deepEqual(broker.broker.context.offsetStore.fetch('live', [{ topic: 'audit', partition: 0 }])[0]!.offset, -1n);
});
