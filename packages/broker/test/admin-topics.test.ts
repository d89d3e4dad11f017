import test from 'ava';
import { ApiKey, ErrorCode, type CreateTopicsRequestCreatableTopic } from '@defter/protocol';
import { adminBroker, kafkajsErrorOf } from './admin-support.js';

const ZERO_UUID = 'AAAAAAAAAAAAAAAAAAAAAA';

function creatable(name: string, numPartitions = 1, more: Partial<CreateTopicsRequestCreatableTopic> = {}): CreateTopicsRequestCreatableTopic {
  return { name, numPartitions, replicationFactor: -1, assignments: [], configs: [], ...more };
}

test('kafkajs creates, lists, describes and deletes topics', async (t) => {
  const { admin, broker } = await adminBroker(t);
  t.true(await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }, { topic: 'payments' }], waitForLeaders: true }));
  t.deepEqual((await admin.listTopics()).sort(), ['orders', 'payments']);

  const { topics } = await admin.fetchTopicMetadata({ topics: ['orders'] });
  t.deepEqual(topics, [
    {
      name: 'orders',
      partitions: [0, 1, 2].map((partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 1, replicas: [1], isr: [1], offlineReplicas: [] })),
    },
  ]);
  // The partition logs exist as soon as the topic does.
  t.truthy(broker.context.logManager.getLog('orders', 2));
  t.is(broker.context.logManager.getLog('orders', 3), undefined);

  // Creating an existing topic is not an error for kafkajs (it answers false).
  t.false(await admin.createTopics({ topics: [{ topic: 'orders' }] }));

  await admin.deleteTopics({ topics: ['orders'] });
  t.deepEqual(await admin.listTopics(), ['payments']);
  t.is(broker.context.logManager.getLog('orders', 0), undefined);
  t.is(broker.context.metadata.topic('orders'), undefined);
});

test('kafkajs grows partitions; shrinking or an unknown topic is refused', async (t) => {
  const { admin, broker, client } = await adminBroker(t);
  await admin.createTopics({ topics: [{ topic: 'grow', numPartitions: 2 }] });
  await admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 5 }] });
  t.is(broker.context.metadata.topic('grow')?.partitions, 5);
  t.truthy(broker.context.logManager.getLog('grow', 4));
  const { topics } = await admin.fetchTopicMetadata({ topics: ['grow'] });
  t.deepEqual(
    topics[0]!.partitions.map((partition) => partition.partitionId),
    [0, 1, 2, 3, 4],
  );

  const shrink = await kafkajsErrorOf(admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 3 }] }));
  t.is(shrink.type, 'INVALID_PARTITIONS');
  // kafkajs shows the code's description; the broker's own message is in the response.
  const { body } = await client.request(ApiKey.CreatePartitions, 1, { topics: [{ name: 'grow', count: 3, assignments: null }], timeoutMs: 1000, validateOnly: false });
  t.is(body.results[0]!.errorMessage, 'Topic currently has 5 partitions, which is higher than the requested 3.');
  const same = await client.request(ApiKey.CreatePartitions, 1, { topics: [{ name: 'grow', count: 5, assignments: null }], timeoutMs: 1000, validateOnly: false });
  t.deepEqual(same.body.results, [{ name: 'grow', errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: 'Topic already has 5 partitions.' }]);
  const unknown = await kafkajsErrorOf(admin.createPartitions({ topicPartitions: [{ topic: 'nope', count: 5 }] }));
  t.is(unknown.type, 'UNKNOWN_TOPIC_OR_PARTITION');
});

test('CreateTopics v7 returns the topic id, partitions, replication factor and every config', async (t) => {
  const { client, broker } = await adminBroker(t, { numPartitions: 4 });
  const { body } = await client.request(ApiKey.CreateTopics, 7, {
    topics: [creatable('events', -1, { configs: [{ name: 'retention.ms', value: '3600000' }, { name: 'cleanup.policy', value: 'compact, delete' }] })],
    timeoutMs: 5000,
    validateOnly: false,
  });
  const [result] = body.topics;
  t.is(result!.errorCode, ErrorCode.NONE);
  t.is(result!.errorMessage, null);
  t.is(result!.numPartitions, 4, 'numPartitions -1 takes num.partitions');
  t.is(result!.replicationFactor, 1);
  const topic = broker.context.metadata.topic('events')!;
  t.is(result!.topicId, topic.topicId);
  t.not(topic.topicId, ZERO_UUID);
  const configs = new Map(result!.configs!.map((entry) => [entry.name, entry]));
  t.deepEqual(configs.get('retention.ms'), { name: 'retention.ms', value: '3600000', readOnly: false, configSource: 1, isSensitive: false });
  t.deepEqual(configs.get('cleanup.policy'), { name: 'cleanup.policy', value: 'compact,delete', readOnly: false, configSource: 1, isSensitive: false });
  t.deepEqual(configs.get('segment.bytes'), { name: 'segment.bytes', value: '1073741824', readOnly: false, configSource: 5, isSensitive: false });
  t.deepEqual(topic.configs, { 'cleanup.policy': 'compact,delete', 'retention.ms': '3600000' });
  // The live logs run with the topic's config.
  t.is(broker.context.logManager.getLog('events', 3)!.config.retentionMs, 3_600_000);
  t.deepEqual(broker.context.logManager.getLog('events', 0)!.config.cleanupPolicy, ['compact', 'delete']);
});

test('CreateTopics validateOnly checks everything and creates nothing', async (t) => {
  const { client, broker } = await adminBroker(t);
  const { body } = await client.request(ApiKey.CreateTopics, 5, {
    topics: [creatable('dry', 6, { configs: [{ name: 'retention.bytes', value: '1024' }] }), creatable('dry-bad', 1, { configs: [{ name: 'retention.bytes', value: 'lots' }] })],
    timeoutMs: 5000,
    validateOnly: true,
  });
  t.deepEqual(
    body.topics.map(({ name, errorCode, numPartitions }) => ({ name, errorCode, numPartitions })),
    [
      { name: 'dry', errorCode: ErrorCode.NONE, numPartitions: 6 },
      { name: 'dry-bad', errorCode: ErrorCode.INVALID_CONFIG, numPartitions: -1 },
    ],
  );
  t.is(body.topics[1]!.errorMessage, 'invalid value "lots" for retention.bytes: not an integer');
  t.deepEqual(broker.context.metadata.topics(), []);
  t.deepEqual(broker.context.logManager.logs(), []);
});

test('CreateTopics answers hostile input with per-topic error codes', async (t) => {
  const { client, broker } = await adminBroker(t);
  const longName = 'x'.repeat(250);
  const { body } = await client.request(ApiKey.CreateTopics, 4, {
    topics: [
      creatable(''),
      creatable(longName),
      creatable('bad/name'),
      creatable('..'),
      creatable('negative', -5),
      creatable('zero', 0),
      creatable('huge', 2_000_000_000),
      creatable('replicated', 1, { replicationFactor: 3 }),
      creatable('no-replicas', 1, { replicationFactor: 0 }),
      creatable('twice', 1),
      creatable('twice', 2),
      creatable('typo', 1, { configs: [{ name: 'retension.ms', value: '1' }] }),
      creatable('null-config', 1, { configs: [{ name: 'retention.ms', value: null }] }),
      creatable('dup-config', 1, { configs: [{ name: 'retention.ms', value: '1' }, { name: 'retention.ms', value: '2' }] }),
      creatable('ok', 2),
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  const codes = Object.fromEntries(body.topics.map((topic) => [topic.name === longName ? 'long' : topic.name, topic.errorCode]));
  t.deepEqual(codes, {
    twice: ErrorCode.INVALID_REQUEST,
    '': ErrorCode.INVALID_TOPIC_EXCEPTION,
    long: ErrorCode.INVALID_TOPIC_EXCEPTION,
    'bad/name': ErrorCode.INVALID_TOPIC_EXCEPTION,
    '..': ErrorCode.INVALID_TOPIC_EXCEPTION,
    negative: ErrorCode.INVALID_PARTITIONS,
    zero: ErrorCode.INVALID_PARTITIONS,
    huge: ErrorCode.INVALID_PARTITIONS,
    replicated: ErrorCode.INVALID_REPLICATION_FACTOR,
    'no-replicas': ErrorCode.INVALID_REPLICATION_FACTOR,
    typo: ErrorCode.INVALID_CONFIG,
    'null-config': ErrorCode.INVALID_CONFIG,
    'dup-config': ErrorCode.INVALID_REQUEST,
    ok: ErrorCode.NONE,
  });
  t.is(body.topics.filter((topic) => topic.name === 'twice').length, 1, 'a duplicated name gets one result');
  t.is(body.topics.find((topic) => topic.name === 'typo')!.errorMessage, 'Unknown topic config name: retension.ms. Did you mean retention.ms?');
  t.deepEqual(
    broker.context.metadata.topics().map((topic) => topic.name),
    ['ok'],
  );
  // The connection is still in service.
  const again = await client.request(ApiKey.CreateTopics, 4, { topics: [creatable('ok')], timeoutMs: 1000, validateOnly: false });
  t.is(again.body.topics[0]!.errorCode, ErrorCode.TOPIC_ALREADY_EXISTS);
  t.is(again.body.topics[0]!.errorMessage, "Topic 'ok' already exists.");
});

test('CreateTopics refuses names that collide with an existing topic through . and _', async (t) => {
  const { client } = await adminBroker(t);
  await client.request(ApiKey.CreateTopics, 3, { topics: [creatable('metrics.cpu')], timeoutMs: 1000, validateOnly: false });
  const { body } = await client.request(ApiKey.CreateTopics, 3, { topics: [creatable('metrics_cpu')], timeoutMs: 1000, validateOnly: false });
  t.is(body.topics[0]!.errorCode, ErrorCode.INVALID_TOPIC_EXCEPTION);
  t.is(body.topics[0]!.errorMessage, "Topic 'metrics_cpu' collides with existing topic: metrics.cpu");
});

test('CreateTopics accepts manual assignments only onto this node', async (t) => {
  const { client, broker } = await adminBroker(t);
  const assign = (...lists: number[][]) => lists.map((brokerIds, partitionIndex) => ({ partitionIndex, brokerIds }));
  const { body } = await client.request(ApiKey.CreateTopics, 2, {
    topics: [
      creatable('manual', -1, { assignments: assign([1], [1], [1]) }),
      creatable('elsewhere', -1, { assignments: assign([1], [2]) }),
      creatable('empty-replicas', -1, { assignments: assign([]) }),
      creatable('doubled', -1, { assignments: assign([1, 1]) }),
      creatable('gap', -1, { assignments: [{ partitionIndex: 0, brokerIds: [1] }, { partitionIndex: 2, brokerIds: [1] }] }),
      creatable('both', 3, { assignments: assign([1]) }),
    ],
    timeoutMs: 1000,
    validateOnly: false,
  });
  t.deepEqual(
    body.topics.map(({ name, errorCode }) => [name, errorCode]),
    [
      ['manual', ErrorCode.NONE],
      ['elsewhere', ErrorCode.INVALID_REPLICA_ASSIGNMENT],
      ['empty-replicas', ErrorCode.INVALID_REPLICA_ASSIGNMENT],
      ['doubled', ErrorCode.INVALID_REPLICA_ASSIGNMENT],
      ['gap', ErrorCode.INVALID_REPLICA_ASSIGNMENT],
      ['both', ErrorCode.INVALID_REQUEST],
    ],
  );
  t.is(broker.context.metadata.topic('manual')?.partitions, 3);
});

test('internal topics (names starting with __) are flagged internal', async (t) => {
  const { client, broker } = await adminBroker(t);
  await client.request(ApiKey.CreateTopics, 4, { topics: [creatable('__consumer_offsets', 2)], timeoutMs: 1000, validateOnly: false });
  t.true(broker.context.metadata.topic('__consumer_offsets')!.internal);
  const { body } = await client.request(ApiKey.Metadata, 1, { topics: null });
  t.deepEqual(
    body.topics.map(({ name, isInternal }) => ({ name, isInternal })),
    [{ name: '__consumer_offsets', isInternal: true }],
  );
});

test('DeleteTopics v6 deletes by name and by topic id; duplicates and unknowns get error codes', async (t) => {
  const { client, broker } = await adminBroker(t);
  const { metadata } = broker.context;
  for (const name of ['by-name', 'by-id', 'twice']) await metadata.createTopic(name, 2, {});
  const byId = metadata.topic('by-id')!.topicId;
  const unknownId = 'AAAAAAAAAAAAAAAAAAAAAg';
  const { body } = await client.request(ApiKey.DeleteTopics, 6, {
    topics: [
      { name: 'by-name', topicId: ZERO_UUID },
      { name: null, topicId: byId },
      { name: 'twice', topicId: ZERO_UUID },
      { name: 'twice', topicId: ZERO_UUID },
      { name: 'missing', topicId: ZERO_UUID },
      { name: null, topicId: unknownId },
      { name: 'by-name', topicId: ZERO_UUID },
      { name: null, topicId: byId },
      { name: null, topicId: ZERO_UUID },
    ],
    timeoutMs: 1000,
  });
  // Names and ids given twice come first, once each (as Kafka reports them).
  t.deepEqual(
    body.responses.map(({ name, topicId, errorCode }) => ({ name, topicId, errorCode })),
    [
      { name: 'twice', topicId: ZERO_UUID, errorCode: ErrorCode.INVALID_REQUEST },
      { name: 'by-name', topicId: ZERO_UUID, errorCode: ErrorCode.INVALID_REQUEST },
      { name: null, topicId: byId, errorCode: ErrorCode.INVALID_REQUEST },
      { name: 'missing', topicId: ZERO_UUID, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION },
      { name: null, topicId: unknownId, errorCode: ErrorCode.UNKNOWN_TOPIC_ID },
      { name: null, topicId: ZERO_UUID, errorCode: ErrorCode.INVALID_REQUEST },
    ],
  );
  const both = await client.request(ApiKey.DeleteTopics, 6, { topics: [{ name: 'by-id', topicId: byId }], timeoutMs: 1000 });
  t.deepEqual(
    both.body.responses.map(({ errorCode, errorMessage }) => ({ errorCode, errorMessage })),
    [{ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'You may not specify both topic name and topic id.' }],
  );
  t.deepEqual(
    metadata.topics().map((topic) => topic.name),
    ['by-id', 'by-name', 'twice'],
  );

  const second = await client.request(ApiKey.DeleteTopics, 6, {
    topics: [
      { name: 'by-name', topicId: ZERO_UUID },
      { name: null, topicId: byId },
    ],
    timeoutMs: 1000,
  });
  t.deepEqual(
    second.body.responses.map(({ name, topicId, errorCode, errorMessage }) => ({ name, topicId, errorCode, errorMessage })),
    [
      { name: 'by-name', topicId: second.body.responses[0]!.topicId, errorCode: ErrorCode.NONE, errorMessage: null },
      { name: 'by-id', topicId: byId, errorCode: ErrorCode.NONE, errorMessage: null },
    ],
  );
  t.deepEqual(
    metadata.topics().map((topic) => topic.name),
    ['twice'],
  );
  t.is(broker.context.logManager.getLog('by-id', 1), undefined);

  // v1 (kafkajs's): names only.
  const v1 = await client.request(ApiKey.DeleteTopics, 1, { topicNames: ['twice', 'ghost'], timeoutMs: 1000 });
  t.deepEqual(
    v1.body.responses.map(({ name, errorCode }) => [name, errorCode]),
    [
      ['twice', ErrorCode.NONE],
      ['ghost', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
    ],
  );
});

test('CreatePartitions answers per topic: duplicates, bad assignments, validateOnly, negative counts', async (t) => {
  const { client, broker } = await adminBroker(t);
  const { metadata } = broker.context;
  for (const name of ['a', 'b', 'c', 'd', 'e']) await metadata.createTopic(name, 1, {});
  const { body } = await client.request(ApiKey.CreatePartitions, 3, {
    topics: [
      { name: 'a', count: 3, assignments: null },
      { name: 'b', count: 3, assignments: [{ brokerIds: [1] }] },
      { name: 'c', count: 2, assignments: [{ brokerIds: [7] }] },
      { name: 'd', count: -4, assignments: null },
      { name: 'e', count: 2, assignments: null },
      { name: 'e', count: 3, assignments: null },
      { name: '', count: 3, assignments: null },
    ],
    timeoutMs: 1000,
    validateOnly: false,
  });
  t.deepEqual(
    body.results.map(({ name, errorCode }) => [name, errorCode]),
    [
      ['e', ErrorCode.INVALID_REQUEST],
      ['a', ErrorCode.NONE],
      ['b', ErrorCode.INVALID_REPLICA_ASSIGNMENT],
      ['c', ErrorCode.INVALID_REPLICA_ASSIGNMENT],
      ['d', ErrorCode.INVALID_PARTITIONS],
      ['', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
    ],
  );
  t.deepEqual(
    metadata.topics().map((topic) => [topic.name, topic.partitions]),
    [
      ['a', 3],
      ['b', 1],
      ['c', 1],
      ['d', 1],
      ['e', 1],
    ],
  );

  const dry = await client.request(ApiKey.CreatePartitions, 1, { topics: [{ name: 'b', count: 9, assignments: null }], timeoutMs: 1000, validateOnly: true });
  t.is(dry.body.results[0]!.errorCode, ErrorCode.NONE);
  t.is(metadata.topic('b')!.partitions, 1);
  t.is(broker.context.logManager.getLog('b', 1), undefined);
});

test('every served version of the topic admin APIs answers', async (t) => {
  const { client } = await adminBroker(t);
  for (let version = 0; version <= 7; version++) {
    const { body } = await client.request(ApiKey.CreateTopics, version, {
      topics: [creatable(`v${version}`, 2), creatable('')],
      timeoutMs: 1000,
      validateOnly: false,
    });
    t.deepEqual(
      body.topics.map((topic) => topic.errorCode),
      [ErrorCode.NONE, ErrorCode.INVALID_TOPIC_EXCEPTION],
      `CreateTopics v${version}`,
    );
  }
  for (let version = 0; version <= 3; version++) {
    const { body } = await client.request(ApiKey.CreatePartitions, version, { topics: [{ name: `v${version}`, count: 3, assignments: null }], timeoutMs: 1000, validateOnly: false });
    t.is(body.results[0]!.errorCode, ErrorCode.NONE, `CreatePartitions v${version}`);
  }
  for (let version = 0; version <= 6; version++) {
    const body =
      version >= 6
        ? { topics: [{ name: `v${version}`, topicId: ZERO_UUID }, { name: 'ghost', topicId: ZERO_UUID }], timeoutMs: 1000 }
        : { topicNames: [`v${version}`, 'ghost'], timeoutMs: 1000 };
    const response = await client.request(ApiKey.DeleteTopics, version, body);
    t.deepEqual(
      response.body.responses.map((result) => result.errorCode),
      [ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
      `DeleteTopics v${version}`,
    );
  }
  t.false(client.isClosed);
});
