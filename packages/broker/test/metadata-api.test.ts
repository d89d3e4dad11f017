import test from 'ava';
import { ApiKey, ErrorCode, type MetadataRequest } from '@defter/protocol';
import { adminBroker, kafkajsErrorOf } from './admin-support.js';

const ZERO_UUID = 'AAAAAAAAAAAAAAAAAAAAAA';
const OMITTED = -2147483648;

const named = (...names: string[]): MetadataRequest['topics'] => names.map((name) => ({ name, topicId: ZERO_UUID }));

test('Metadata describes this node as the only broker, the controller and every leader', async (t) => {
  const { client, broker, port } = await adminBroker(t);
  await broker.context.metadata.createTopic('two', 2, {});
  const { body } = await client.request(ApiKey.Metadata, 12, { topics: named('two'), allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
  const topic = broker.context.metadata.topic('two')!;
  t.deepEqual(body, {
    throttleTimeMs: 0,
    brokers: [{ nodeId: 1, host: '127.0.0.1', port, rack: null }],
    clusterId: broker.clusterId,
    controllerId: 1,
    clusterAuthorizedOperations: OMITTED,
    topics: [
      {
        errorCode: ErrorCode.NONE,
        name: 'two',
        topicId: topic.topicId,
        isInternal: false,
        partitions: [0, 1].map((partitionIndex) => ({
          errorCode: ErrorCode.NONE,
          partitionIndex,
          leaderId: 1,
          leaderEpoch: 0,
          replicaNodes: [1],
          isrNodes: [1],
          offlineReplicas: [],
        })),
        topicAuthorizedOperations: OMITTED,
      },
    ],
  });
  t.is(broker.clusterId.length, 22);
});

test('Metadata topic lists: v0 [] = all; v1+ null = all and [] = none', async (t) => {
  const { client, broker } = await adminBroker(t);
  for (const name of ['b', 'a', 'c']) await broker.context.metadata.createTopic(name, 1, {});
  const names = (topics: Array<{ name: string | null }>) => topics.map((topic) => topic.name);

  t.deepEqual(names((await client.request(ApiKey.Metadata, 0, { topics: [] })).body.topics), ['a', 'b', 'c']);
  t.deepEqual(names((await client.request(ApiKey.Metadata, 1, { topics: null })).body.topics), ['a', 'b', 'c']);
  t.deepEqual(names((await client.request(ApiKey.Metadata, 1, { topics: [] })).body.topics), []);
  t.deepEqual(names((await client.request(ApiKey.Metadata, 9, { topics: [], allowAutoTopicCreation: true })).body.topics), []);
  t.deepEqual(names((await client.request(ApiKey.Metadata, 12, { topics: null, allowAutoTopicCreation: true })).body.topics), ['a', 'b', 'c']);
  // A topic asked for twice is answered once.
  t.deepEqual(names((await client.request(ApiKey.Metadata, 4, { topics: named('c', 'a', 'c'), allowAutoTopicCreation: false })).body.topics), ['c', 'a']);
});

test('Metadata answers unknown and invalid topics with error codes when auto-creation is off', async (t) => {
  const { client, broker } = await adminBroker(t);
  for (let version = 0; version <= 12; version++) {
    const { body } = await client.request(ApiKey.Metadata, version, { topics: named('ghost', '', 'bad name', 'x'.repeat(250)), allowAutoTopicCreation: true });
    t.deepEqual(
      body.topics.map(({ errorCode, partitions }) => ({ errorCode, partitions })),
      [
        { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, partitions: [] },
        { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, partitions: [] },
        { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, partitions: [] },
        { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, partitions: [] },
      ],
      `v${version}`,
    );
  }
  t.deepEqual(broker.context.metadata.topics(), []);
});

test('Metadata auto-creates topics when the broker and the request allow it', async (t) => {
  const { client, broker } = await adminBroker(t, { autoCreateTopicsEnable: true, numPartitions: 3 });
  const { metadata, logManager } = broker.context;

  // v4+ honours allowAutoTopicCreation=false.
  const refused = await client.request(ApiKey.Metadata, 4, { topics: named('not-wanted'), allowAutoTopicCreation: false });
  t.is(refused.body.topics[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  t.is(metadata.topic('not-wanted'), undefined);

  // Created, and answered with its partitions at once.
  const created = await client.request(ApiKey.Metadata, 9, { topics: named('wanted'), allowAutoTopicCreation: true });
  t.is(created.body.topics[0]!.errorCode, ErrorCode.NONE);
  t.deepEqual(
    created.body.topics[0]!.partitions.map((partition) => partition.partitionIndex),
    [0, 1, 2],
  );
  t.is(metadata.topic('wanted')?.partitions, 3);
  t.truthy(logManager.getLog('wanted', 2));

  // Before v4 the request cannot say no: creation is implied.
  const implied = await client.request(ApiKey.Metadata, 1, { topics: named('implied') });
  t.is(implied.body.topics[0]!.errorCode, ErrorCode.NONE);
  t.is(metadata.topic('implied')?.partitions, 3);

  // Invalid names are never created.
  const invalid = await client.request(ApiKey.Metadata, 9, { topics: named('no/slash'), allowAutoTopicCreation: true });
  t.is(invalid.body.topics[0]!.errorCode, ErrorCode.INVALID_TOPIC_EXCEPTION);
  t.deepEqual(
    metadata.topics().map((topic) => topic.name),
    ['implied', 'wanted'],
  );
});

test('kafkajs admin asks with allowAutoTopicCreation=false and creates nothing; its producers ask v6 with true', async (t) => {
  const { admin, client, broker } = await adminBroker(t, { autoCreateTopicsEnable: true });
  const failure = await kafkajsErrorOf(admin.fetchTopicMetadata({ topics: ['auto'] }));
  t.is(failure.type, 'UNKNOWN_TOPIC_OR_PARTITION');
  t.is(broker.context.metadata.topic('auto'), undefined);

  // What a kafkajs producer sends before its first Produce.
  const { body } = await client.request(ApiKey.Metadata, 6, { topics: named('auto'), allowAutoTopicCreation: true });
  t.deepEqual(
    body.topics.map((topic) => [topic.name, topic.errorCode, topic.partitions.length]),
    [['auto', ErrorCode.NONE, 1]],
  );
  t.is(broker.context.metadata.topic('auto')?.partitions, 1);
});

test('Metadata v10+ carries topic ids, and v12 looks topics up by id', async (t) => {
  const { client, broker } = await adminBroker(t);
  const topic = await broker.context.metadata.createTopic('with-id', 1, {});
  const v10 = await client.request(ApiKey.Metadata, 10, { topics: named('with-id'), allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
  t.is(v10.body.topics[0]!.topicId, topic.topicId);

  const unknownId = 'AAAAAAAAAAAAAAAAAAAAAg';
  const v12 = await client.request(ApiKey.Metadata, 12, {
    topics: [
      { name: null, topicId: topic.topicId },
      { name: null, topicId: unknownId },
    ],
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: true,
  });
  t.deepEqual(
    v12.body.topics.map(({ errorCode, name, topicId, topicAuthorizedOperations }) => ({ errorCode, name, topicId, topicAuthorizedOperations })),
    [
      // Without an authorizer every topic operation is allowed: bits READ(3)…DESCRIBE(8), DESCRIBE_CONFIGS(10), ALTER_CONFIGS(11).
      { errorCode: ErrorCode.NONE, name: 'with-id', topicId: topic.topicId, topicAuthorizedOperations: 0b110111111000 },
      { errorCode: ErrorCode.UNKNOWN_TOPIC_ID, name: null, topicId: unknownId, topicAuthorizedOperations: OMITTED },
    ],
  );
});

test('Metadata v8–10 reports cluster authorized operations only when asked', async (t) => {
  const { client } = await adminBroker(t);
  const asked = await client.request(ApiKey.Metadata, 8, { topics: [], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: true, includeTopicAuthorizedOperations: false });
  t.is(asked.body.clusterAuthorizedOperations, 0b111111110100000);
  const notAsked = await client.request(ApiKey.Metadata, 10, { topics: [], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
  t.is(notAsked.body.clusterAuthorizedOperations, OMITTED);
});

test('DescribeCluster v0–1 describes this node as broker and controller', async (t) => {
  const { client, broker, port, admin } = await adminBroker(t);
  for (const version of [0, 1]) {
    const { body } = await client.request(ApiKey.DescribeCluster, version, { includeClusterAuthorizedOperations: version === 1, endpointType: 1 });
    t.deepEqual(body, {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      errorMessage: null,
      endpointType: 1,
      clusterId: broker.clusterId,
      controllerId: 1,
      brokers: [{ brokerId: 1, host: '127.0.0.1', port, rack: null }],
      clusterAuthorizedOperations: version === 1 ? 0b111111110100000 : OMITTED,
    });
  }
  const controllers = await client.request(ApiKey.DescribeCluster, 1, { includeClusterAuthorizedOperations: false, endpointType: 2 });
  t.is(controllers.body.errorCode, ErrorCode.MISMATCHED_ENDPOINT_TYPE);
  const unknown = await client.request(ApiKey.DescribeCluster, 1, { includeClusterAuthorizedOperations: false, endpointType: 9 });
  t.is(unknown.body.errorCode, ErrorCode.UNSUPPORTED_ENDPOINT_TYPE);

  // kafkajs builds its describeCluster from Metadata.
  t.deepEqual(await admin.describeCluster(), { brokers: [{ nodeId: 1, host: '127.0.0.1', port }], controller: 1, clusterId: broker.clusterId });
});

test('ApiVersions advertises the metadata and admin APIs with their version ranges', async (t) => {
  const { client } = await adminBroker(t);
  const { apiKeys } = await client.apiVersions();
  const ranges = Object.fromEntries(apiKeys.map(({ apiKey, minVersion, maxVersion }) => [apiKey, [minVersion, maxVersion]]));
  t.deepEqual(ranges[ApiKey.Metadata], [0, 12]);
  t.deepEqual(ranges[ApiKey.CreateTopics], [0, 7]);
  t.deepEqual(ranges[ApiKey.DeleteTopics], [0, 6]);
  t.deepEqual(ranges[ApiKey.DescribeConfigs], [0, 4]);
  t.deepEqual(ranges[ApiKey.AlterConfigs], [0, 2]);
  t.deepEqual(ranges[ApiKey.CreatePartitions], [0, 3]);
  t.deepEqual(ranges[ApiKey.IncrementalAlterConfigs], [0, 1]);
  t.deepEqual(ranges[ApiKey.DescribeCluster], [0, 1]);
});
