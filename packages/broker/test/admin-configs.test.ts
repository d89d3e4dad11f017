import test from 'ava';
import { ApiKey, ErrorCode } from '@defter/protocol';
import { adminBroker, kafkajsErrorOf } from './admin-support.js';

const TOPIC = 2;
const BROKER = 4;
const SET = 0;
const DELETE = 1;
const APPEND = 2;
const SUBTRACT = 3;

/** Every topic config DescribeConfigs lists, sorted. */
const TOPIC_CONFIG_NAMES = [
  'cleanup.policy',
  'compression.type',
  'delete.retention.ms',
  'file.delete.delay.ms',
  'flush.messages',
  'flush.ms',
  'index.interval.bytes',
  'max.compaction.lag.ms',
  'max.message.bytes',
  'message.timestamp.type',
  'min.cleanable.dirty.ratio',
  'min.compaction.lag.ms',
  'min.insync.replicas',
  'retention.bytes',
  'retention.ms',
  'segment.bytes',
  'segment.index.bytes',
  'segment.ms',
  'unclean.leader.election.enable',
];

test('kafkajs describes every topic config with its default, and its overrides as dynamic topic configs', async (t) => {
  const { admin, broker } = await adminBroker(t, { log: { retentionMs: 60_000 } });
  await broker.context.metadata.createTopic('described', 1, { 'segment.bytes': '1048576' });
  const { resources } = await admin.describeConfigs({ resources: [{ type: TOPIC, name: 'described' }], includeSynonyms: true });
  t.is(resources.length, 1);
  const [resource] = resources;
  t.is(resource!.errorCode, ErrorCode.NONE);
  t.deepEqual(
    resource!.configEntries.map((entry) => entry.configName),
    TOPIC_CONFIG_NAMES,
  );
  const entries = new Map(resource!.configEntries.map((entry) => [entry.configName, entry]));
  t.deepEqual(entries.get('segment.bytes'), {
    configName: 'segment.bytes',
    configValue: '1048576',
    readOnly: false,
    isDefault: false,
    configSource: 1,
    isSensitive: false,
    configSynonyms: [
      { configName: 'segment.bytes', configValue: '1048576', configSource: 1 },
      { configName: 'log.segment.bytes', configValue: '1073741824', configSource: 5 },
    ],
  });
  // The broker's own default (log.retention.ms set at start-up) is a static broker config.
  t.deepEqual(entries.get('retention.ms'), {
    configName: 'retention.ms',
    configValue: '60000',
    readOnly: false,
    isDefault: false,
    configSource: 4,
    isSensitive: false,
    configSynonyms: [
      { configName: 'log.retention.ms', configValue: '60000', configSource: 4 },
      { configName: 'log.retention.ms', configValue: '604800000', configSource: 5 },
    ],
  });
  t.is(entries.get('max.compaction.lag.ms')!.configValue, '9223372036854775807');
  t.is(entries.get('cleanup.policy')!.configSource, 5);
});

test('DescribeConfigs answers each resource on its own: key filters, unknown and invalid topics, bad resource types', async (t) => {
  const { client, broker } = await adminBroker(t);
  await broker.context.metadata.createTopic('known', 1, { 'retention.ms': '1000' });
  const { body } = await client.request(ApiKey.DescribeConfigs, 4, {
    resources: [
      { resourceType: TOPIC, resourceName: 'known', configurationKeys: ['retention.ms', 'no.such.key'] },
      { resourceType: TOPIC, resourceName: 'unknown', configurationKeys: null },
      { resourceType: TOPIC, resourceName: '', configurationKeys: null },
      { resourceType: 3, resourceName: 'a-group', configurationKeys: null },
      { resourceType: BROKER, resourceName: '7', configurationKeys: null },
      { resourceType: BROKER, resourceName: 'one', configurationKeys: null },
      { resourceType: BROKER, resourceName: '', configurationKeys: null },
    ],
    includeSynonyms: false,
    includeDocumentation: true,
  });
  t.deepEqual(
    body.results.map(({ resourceName, errorCode, configs }) => [resourceName, errorCode, configs.length]),
    [
      ['known', ErrorCode.NONE, 1],
      ['unknown', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 0],
      ['', ErrorCode.INVALID_TOPIC_EXCEPTION, 0],
      ['a-group', ErrorCode.INVALID_REQUEST, 0],
      ['7', ErrorCode.INVALID_REQUEST, 0],
      ['one', ErrorCode.INVALID_REQUEST, 0],
      ['', ErrorCode.NONE, 0],
    ],
  );
  t.deepEqual(body.results[0]!.configs[0], {
    name: 'retention.ms',
    value: '1000',
    readOnly: false,
    isDefault: false,
    configSource: 1,
    isSensitive: false,
    synonyms: [],
    configType: 5,
    documentation: null,
  });
  t.is(body.results[4]!.errorMessage, 'Unexpected broker id, expected 1 or empty string, but received 7');
  t.is(body.throttleTimeMs, 0);
});

test('DescribeConfigs v0 reports isDefault; every version answers', async (t) => {
  const { client, broker } = await adminBroker(t);
  await broker.context.metadata.createTopic('versions', 1, { 'retention.ms': '1000' });
  for (let version = 0; version <= 4; version++) {
    const { body } = await client.request(ApiKey.DescribeConfigs, version, {
      resources: [{ resourceType: TOPIC, resourceName: 'versions', configurationKeys: ['retention.ms', 'segment.ms'] }],
      includeSynonyms: version >= 1,
      includeDocumentation: false,
    });
    const [retention, segment] = body.results[0]!.configs;
    t.is(retention!.value, '1000', `v${version}`);
    t.is(segment!.value, '604800000', `v${version}`);
    if (version === 0) {
      t.false(retention!.isDefault);
      t.true(segment!.isDefault);
    } else {
      t.is(retention!.configSource, 1);
      t.is(segment!.configSource, 5);
      t.is(retention!.synonyms!.length, 2);
    }
  }
});

test('DescribeConfigs lists this broker\'s settings under Kafka names, read-only', async (t) => {
  const { client, port } = await adminBroker(t, { numPartitions: 3 });
  const { body } = await client.request(ApiKey.DescribeConfigs, 3, {
    resources: [{ resourceType: BROKER, resourceName: '1', configurationKeys: null }],
    includeSynonyms: false,
    includeDocumentation: false,
  });
  const [result] = body.results;
  t.is(result!.errorCode, ErrorCode.NONE);
  const entries = new Map(result!.configs.map((entry) => [entry.name, entry]));
  t.deepEqual(
    ['num.partitions', 'auto.create.topics.enable', 'log.retention.ms', 'message.max.bytes', 'advertised.listeners', 'node.id'].map((name) => {
      const entry = entries.get(name)!;
      return [name, entry.value, entry.configSource, entry.readOnly];
    }),
    [
      ['num.partitions', '3', 4, true],
      ['auto.create.topics.enable', 'false', 4, true],
      ['log.retention.ms', '604800000', 5, true],
      ['message.max.bytes', '1048588', 5, true],
      ['advertised.listeners', `PLAINTEXT://127.0.0.1:${port}`, 4, true],
      ['node.id', '1', 4, true],
    ],
  );
  t.true(result!.configs.every((entry) => entry.readOnly && !entry.isSensitive));
});

test('kafkajs alterConfigs replaces the whole override set and the live logs follow', async (t) => {
  const { admin, broker } = await adminBroker(t);
  const { metadata, logManager } = broker.context;
  await metadata.createTopic('altered', 2, { 'retention.ms': '1000', 'segment.bytes': '1048576' });
  await admin.alterConfigs({
    validateOnly: false,
    resources: [{ type: TOPIC, name: 'altered', configEntries: [{ name: 'retention.bytes', value: '4096' }, { name: 'cleanup.policy', value: 'compact' }] }],
  });
  t.deepEqual(metadata.topic('altered')!.configs, { 'cleanup.policy': 'compact', 'retention.bytes': '4096' });
  for (const partition of [0, 1]) {
    const config = logManager.getLog('altered', partition)!.config;
    t.is(config.retentionBytes, 4096);
    t.deepEqual(config.cleanupPolicy, ['compact']);
    t.is(config.retentionMs, 604_800_000, 'an override left out returns to the default');
    t.is(config.segmentBytes, 1_073_741_824);
  }

  // validateOnly changes nothing.
  await admin.alterConfigs({ validateOnly: true, resources: [{ type: TOPIC, name: 'altered', configEntries: [{ name: 'retention.bytes', value: '1' }] }] });
  t.is(metadata.topic('altered')!.configs['retention.bytes'], '4096');

  const unknownKey = await kafkajsErrorOf(
    admin.alterConfigs({ validateOnly: false, resources: [{ type: TOPIC, name: 'altered', configEntries: [{ name: 'retention.msec', value: '1' }] }] }),
  );
  t.is(unknownKey.type, 'INVALID_CONFIG');
  const missing = await kafkajsErrorOf(admin.alterConfigs({ validateOnly: false, resources: [{ type: TOPIC, name: 'missing', configEntries: [] }] }));
  t.is(missing.type, 'UNKNOWN_TOPIC_OR_PARTITION');
});

test('AlterConfigs reports bad keys with a suggestion, bad values, nulls, duplicates and broker changes', async (t) => {
  const { client, broker } = await adminBroker(t);
  const { metadata } = broker.context;
  for (const name of ['t1', 't2', 't3', 't4', 't5']) await metadata.createTopic(name, 1, { 'retention.ms': '1000' });
  const { body } = await client.request(ApiKey.AlterConfigs, 2, {
    resources: [
      { resourceType: TOPIC, resourceName: 't1', configs: [{ name: 'retention.mss', value: '1' }] },
      { resourceType: TOPIC, resourceName: 't2', configs: [{ name: 'retention.ms', value: '-7' }] },
      { resourceType: TOPIC, resourceName: 't3', configs: [{ name: 'retention.ms', value: null }] },
      { resourceType: TOPIC, resourceName: 't4', configs: [{ name: 'min.compaction.lag.ms', value: '10' }, { name: 'max.compaction.lag.ms', value: '5' }] },
      { resourceType: TOPIC, resourceName: 't5', configs: [] },
      { resourceType: TOPIC, resourceName: 't5', configs: [] },
      { resourceType: TOPIC, resourceName: 't1', configs: [{ name: 'compression.type', value: 'gzip' }] },
      { resourceType: BROKER, resourceName: '1', configs: [{ name: 'num.partitions', value: '5' }] },
      { resourceType: BROKER, resourceName: '1', configs: [] },
    ],
    validateOnly: false,
  });
  t.deepEqual(
    body.responses.map(({ resourceName, errorCode, errorMessage }) => [resourceName, errorCode, errorMessage]),
    [
      ['t1', ErrorCode.INVALID_REQUEST, 'Duplicate resource in the request.'],
      ['t2', ErrorCode.INVALID_CONFIG, 'invalid value "-7" for retention.ms: must be in [-1, Long.MAX_VALUE]'],
      ['t3', ErrorCode.INVALID_REQUEST, 'Null value not supported for : retention.ms'],
      ['t4', ErrorCode.INVALID_CONFIG, 'conflicting topic configs: min.compaction.lag.ms (10) > max.compaction.lag.ms (5)'],
      ['t5', ErrorCode.INVALID_REQUEST, 'Duplicate resource in the request.'],
      ['t5', ErrorCode.INVALID_REQUEST, 'Duplicate resource in the request.'],
      ['t1', ErrorCode.INVALID_REQUEST, 'Duplicate resource in the request.'],
      ['1', ErrorCode.INVALID_REQUEST, 'Duplicate resource in the request.'],
      ['1', ErrorCode.INVALID_REQUEST, 'Duplicate resource in the request.'],
    ],
  );
  const single = await client.request(ApiKey.AlterConfigs, 0, {
    resources: [
      { resourceType: TOPIC, resourceName: 't1', configs: [{ name: 'retention.mss', value: '1' }] },
      { resourceType: TOPIC, resourceName: 't2', configs: [{ name: 'compression.type', value: 'gzip' }] },
      { resourceType: BROKER, resourceName: '1', configs: [{ name: 'num.partitions', value: '5' }] },
      { resourceType: BROKER, resourceName: '', configs: [] },
    ],
    validateOnly: false,
  });
  t.deepEqual(
    single.body.responses.map(({ errorCode }) => errorCode),
    [ErrorCode.INVALID_CONFIG, ErrorCode.INVALID_CONFIG, ErrorCode.INVALID_REQUEST, ErrorCode.NONE],
  );
  t.is(single.body.responses[0]!.errorMessage, 'Unknown topic config name: retention.mss. Did you mean retention.ms?');
  // Nothing changed.
  t.true(metadata.topics().every((topic) => topic.configs['retention.ms'] === '1000' && Object.keys(topic.configs).length === 1));
});

test('IncrementalAlterConfigs sets, deletes, appends and subtracts single configs', async (t) => {
  const { client, broker } = await adminBroker(t);
  const { metadata, logManager } = broker.context;
  await metadata.createTopic('inc', 1, { 'retention.ms': '1000', 'segment.bytes': '1048576' });
  const alter = async (configs: Array<{ name: string; configOperation: number; value: string | null }>, validateOnly = false) => {
    const { body } = await client.request(ApiKey.IncrementalAlterConfigs, 1, { resources: [{ resourceType: TOPIC, resourceName: 'inc', configs }], validateOnly });
    return body.responses[0]!;
  };

  t.is(
    (
      await alter([
        { name: 'retention.bytes', configOperation: SET, value: '2048' },
        { name: 'segment.bytes', configOperation: DELETE, value: null },
      ])
    ).errorCode,
    ErrorCode.NONE,
  );
  t.deepEqual(metadata.topic('inc')!.configs, { 'retention.bytes': '2048', 'retention.ms': '1000' });
  t.is(logManager.getLog('inc', 0)!.config.segmentBytes, 1_073_741_824);
  t.is(logManager.getLog('inc', 0)!.config.retentionBytes, 2048);

  // APPEND starts from the effective value (the default 'delete').
  t.is((await alter([{ name: 'cleanup.policy', configOperation: APPEND, value: 'compact' }])).errorCode, ErrorCode.NONE);
  t.is(metadata.topic('inc')!.configs['cleanup.policy'], 'delete,compact');
  t.deepEqual(logManager.getLog('inc', 0)!.config.cleanupPolicy, ['delete', 'compact']);
  t.is((await alter([{ name: 'cleanup.policy', configOperation: SUBTRACT, value: 'delete' }])).errorCode, ErrorCode.NONE);
  t.is(metadata.topic('inc')!.configs['cleanup.policy'], 'compact');

  // Subtracting the last policy leaves an invalid (empty) value.
  const empty = await alter([{ name: 'cleanup.policy', configOperation: SUBTRACT, value: 'compact' }]);
  t.is(empty.errorCode, ErrorCode.INVALID_CONFIG);
  const notList = await alter([{ name: 'retention.ms', configOperation: APPEND, value: '5' }]);
  t.deepEqual([notList.errorCode, notList.errorMessage], [ErrorCode.INVALID_CONFIG, 'Config value append is not allowed for config key: retention.ms']);
  const unknownOp = await alter([{ name: 'retention.ms', configOperation: 9, value: '5' }]);
  t.is(unknownOp.errorCode, ErrorCode.INVALID_REQUEST);
  const duplicateKeys = await alter([
    { name: 'retention.ms', configOperation: SET, value: '5' },
    { name: 'retention.ms', configOperation: DELETE, value: null },
  ]);
  t.is(duplicateKeys.errorCode, ErrorCode.INVALID_REQUEST);
  const typo = await alter([{ name: 'segmnt.bytes', configOperation: DELETE, value: null }]);
  t.deepEqual([typo.errorCode, typo.errorMessage], [ErrorCode.INVALID_CONFIG, 'Unknown topic config name: segmnt.bytes. Did you mean segment.bytes?']);
  const badValue = await alter([{ name: 'min.cleanable.dirty.ratio', configOperation: SET, value: '1.5' }]);
  t.deepEqual([badValue.errorCode, badValue.errorMessage], [ErrorCode.INVALID_CONFIG, 'invalid value "1.5" for min.cleanable.dirty.ratio: must be in [0, 1]']);
  const dry = await alter([{ name: 'retention.ms', configOperation: SET, value: '5' }], true);
  t.is(dry.errorCode, ErrorCode.NONE);
  t.deepEqual(metadata.topic('inc')!.configs, { 'cleanup.policy': 'compact', 'retention.bytes': '2048', 'retention.ms': '1000' });

  // v0 (classic encoding) too.
  const { body } = await client.request(ApiKey.IncrementalAlterConfigs, 0, {
    resources: [{ resourceType: TOPIC, resourceName: 'inc', configs: [{ name: 'retention.ms', configOperation: SET, value: ' 9223372036854775807 ' }] }],
    validateOnly: false,
  });
  t.is(body.responses[0]!.errorCode, ErrorCode.NONE);
  t.is(metadata.topic('inc')!.configs['retention.ms'], '9223372036854775807', 'values are stored in normal form');
});
