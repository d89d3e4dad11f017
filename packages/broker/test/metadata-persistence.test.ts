import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { ErrorCode } from '@defter/protocol';
import { startBroker } from '../src/index.js';
import { KafkaError } from '../src/errors.js';
import { connectAdmin } from './admin-support.js';
import { startTestBroker, tempDir, LogLevel } from './helpers/test-broker.js';

const TOPICS_FILE = 'topic-metadata.json';

test('topics, their ids, partitions and configs, and the cluster id survive a restart', async (t) => {
  const dataDir = await tempDir(t);
  const first = await startTestBroker(t, { dataDir });
  const { metadata } = first.broker.context;
  const created = await metadata.createTopic('kept', 2, { 'cleanup.policy': 'compact', 'retention.ms': '5000' });
  await metadata.createTopic('grown', 1, {});
  await metadata.createPartitions('grown', 4);
  await metadata.alterTopicConfigs('grown', [{ name: 'segment.bytes', value: '65536', op: 'set' }], { incremental: true });
  const clusterId = first.broker.clusterId;
  const before = metadata.topics();
  await first.broker.close();

  const second = await startTestBroker(t, { dataDir });
  const reopened = second.broker.context.metadata;
  t.is(second.broker.clusterId, clusterId);
  t.deepEqual(reopened.topics(), before);
  t.is(reopened.topic('kept')!.topicId, created.topicId);
  t.is(reopened.topicById(created.topicId)!.name, 'kept');
  // Logs found on disk open with their topic's config (a compacted topic must not get 'delete').
  const { logManager } = second.broker.context;
  t.deepEqual(logManager.getLog('kept', 1)!.config.cleanupPolicy, ['compact']);
  t.is(logManager.getLog('kept', 0)!.config.retentionMs, 5000);
  t.is(logManager.getLog('grown', 3)!.config.segmentBytes, 65536);
  t.is(logManager.getLog('grown', 4), undefined);
});

test('meta.properties records the node and cluster, Kafka style, and a mismatch refuses to start', async (t) => {
  const dataDir = await tempDir(t);
  const { broker } = await startTestBroker(t, { dataDir });
  await broker.close();
  const text = await readFile(join(dataDir, 'meta.properties'), 'utf8');
  const lines = text.split('\n').filter((line) => line.length > 0 && !line.startsWith('#'));
  t.deepEqual(lines, [`cluster.id=${broker.clusterId}`, 'node.id=1', 'version=1']);
  t.regex(broker.clusterId, /^[A-Za-z0-9_-]{22}$/);

  await t.throwsAsync(startBroker({ dataDir, port: 0, nodeId: 2, logLevel: 'silent' }), {
    message: /stored node\.id 1 does not match the configured node\.id 2/,
  });
  await t.throwsAsync(startBroker({ dataDir, port: 0, clusterId: 'AAAAAAAAAAAAAAAAAAAAAQ', logLevel: 'silent' }), {
    message: /stored cluster\.id .* does not match the configured cluster\.id AAAAAAAAAAAAAAAAAAAAAQ/,
  });
  await t.throwsAsync(startBroker({ dataDir: await tempDir(t), port: 0, clusterId: 'my cluster', logLevel: 'silent' }), {
    message: /not a 22-character base64url UUID/,
  });
  // The directory was not left locked by the refused starts.
  const again = await startTestBroker(t, { dataDir });
  t.is(again.broker.clusterId, broker.clusterId);
});

test('a configured cluster id is used for a new data directory', async (t) => {
  const { broker } = await startTestBroker(t, { clusterId: 'MkU3OEVBNTcwNTJENDM2Qg' });
  t.is(broker.clusterId, 'MkU3OEVBNTcwNTJENDM2Qg');
});

test('a deleted topic stays deleted after a restart, and its logs are gone', async (t) => {
  const dataDir = await tempDir(t);
  const first = await startTestBroker(t, { dataDir });
  const admin = await connectAdmin(t, first.bootstrap);
  await admin.createTopics({ topics: [{ topic: 'gone', numPartitions: 3 }, { topic: 'stays' }] });
  await admin.deleteTopics({ topics: ['gone'] });
  await admin.disconnect();
  await first.broker.close();

  const second = await startTestBroker(t, { dataDir });
  const secondAdmin = await connectAdmin(t, second.bootstrap);
  t.deepEqual(await secondAdmin.listTopics(), ['stays']);
  t.deepEqual(
    second.broker.context.metadata.topics().map((topic) => topic.name),
    ['stays'],
  );
  t.deepEqual(
    second.broker.context.logManager.logs().map((log) => `${log.topic}-${log.partition}`),
    ['stays-0'],
  );
  const stored = JSON.parse(await readFile(join(dataDir, TOPICS_FILE), 'utf8')) as { deleting: unknown[] };
  t.deepEqual(stored.deleting, []);
  t.false((await readdir(dataDir)).some((entry) => entry.startsWith('gone-')));
});

test('a deletion interrupted after the metadata was written is finished at the next start, never undone', async (t) => {
  const dataDir = await tempDir(t);
  const first = await startTestBroker(t, { dataDir });
  const { metadata, logManager } = first.broker.context;
  await metadata.createTopic('doomed', 2, {});
  // The disk refuses to delete logs: the topic is gone from the metadata, its logs are not.
  const deleteLog = logManager.deleteLog.bind(logManager);
  logManager.deleteLog = () => Promise.reject(new Error('injected: cannot delete'));
  await metadata.deleteTopic('doomed');
  t.is(metadata.topic('doomed'), undefined);
  t.truthy(logManager.getLog('doomed', 0));
  // Re-creating the name now would adopt the old logs: refused while the deletion is pending.
  const refused = await t.throwsAsync(metadata.createTopic('doomed', 1, {}), { instanceOf: KafkaError });
  t.is(refused.code, ErrorCode.TOPIC_ALREADY_EXISTS);
  t.is(refused.message, "Topic 'doomed' is marked for deletion.");
  logManager.deleteLog = deleteLog;
  await first.broker.close();

  const second = await startTestBroker(t, { dataDir });
  t.is(second.broker.context.metadata.topic('doomed'), undefined);
  t.deepEqual(second.broker.context.logManager.logs(), []);
  const stored = JSON.parse(await readFile(join(dataDir, TOPICS_FILE), 'utf8')) as { topics: unknown[]; deleting: unknown[] };
  t.deepEqual(stored, { version: 1, topics: [], deleting: [] });
  // Now the name is free again, with a new id and empty logs.
  const recreated = await second.broker.context.metadata.createTopic('doomed', 1, {});
  t.is(recreated.partitions, 1);
});

test('the topics file is replaced atomically and read back exactly', async (t) => {
  const dataDir = await tempDir(t);
  const { broker } = await startTestBroker(t, { dataDir });
  const topic = await broker.context.metadata.createTopic('on-disk', 2, { 'max.message.bytes': '2048' });
  const stored = JSON.parse(await readFile(join(dataDir, TOPICS_FILE), 'utf8')) as unknown;
  t.deepEqual(stored, {
    version: 1,
    topics: [{ name: 'on-disk', topicId: topic.topicId, partitions: 2, configs: { 'max.message.bytes': '2048' } }],
    deleting: [],
  });
  t.false((await readdir(dataDir)).includes(`${TOPICS_FILE}.tmp`));
});

test('a damaged topics file stops the start with a message naming the problem', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['{ not json', /not valid JSON/],
    [JSON.stringify({ version: 2, topics: [] }), /unsupported version 2/],
    [JSON.stringify({ version: 1, topics: [{ name: 'a/b', topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: 1 }] }), /invalid topic name "a\/b"/],
    [JSON.stringify({ version: 1, topics: [{ name: 'a', topicId: 'short', partitions: 1 }] }), /topicId is not a 22-character base64url UUID/],
    [JSON.stringify({ version: 1, topics: [{ name: 'a', topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: 0 }] }), /partitions is not a positive 32-bit integer/],
    [JSON.stringify({ version: 1, topics: [{ name: 'a', topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: 1, configs: { 'retention.ms': 'x' } }] }), /topic a: invalid value "x" for retention.ms/],
    [
      JSON.stringify({
        version: 1,
        topics: [
          { name: 'a', topicId: 'AAAAAAAAAAAAAAAAAAAAAg', partitions: 1 },
          { name: 'a', topicId: 'AAAAAAAAAAAAAAAAAAAAAw', partitions: 1 },
        ],
      }),
      /topic a appears twice/,
    ],
  ];
  for (const [text, message] of cases) {
    const dataDir = await tempDir(t);
    await writeFile(join(dataDir, TOPICS_FILE), text);
    await t.throwsAsync(startBroker({ dataDir, port: 0, logLevel: 'silent' }), { message }, text);
  }
});

test('logs on disk that belong to no topic are kept and reported', async (t) => {
  const dataDir = await tempDir(t);
  const first = await startTestBroker(t, { dataDir });
  await first.broker.context.metadata.createTopic('known', 1, {});
  await first.broker.close();
  await mkdir(join(dataDir, 'orphan-0'));
  await mkdir(join(dataDir, 'known-5'));

  const second = await startTestBroker(t, { dataDir });
  const warnings = second.logs.lines.filter((line) => line.level === LogLevel.warn).map((line) => line.msg);
  t.true(warnings.some((msg) => msg.startsWith('the log orphan-0 belongs to no known topic')));
  t.true(warnings.some((msg) => msg.startsWith("the log known-5 is beyond the topic's 1 partitions")));
  t.deepEqual(
    second.broker.context.metadata.topics().map((topic) => topic.name),
    ['known'],
  );
});

test('concurrent changes run one at a time: one of many creations of a name wins', async (t) => {
  const { broker } = await startTestBroker(t);
  const { metadata } = broker.context;
  const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => metadata.createTopic('race', i + 1, {})));
  const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
  t.is(won.length, 1);
  t.true(
    outcomes.every((outcome) => outcome.status === 'fulfilled' || (outcome.reason as KafkaError).code === ErrorCode.TOPIC_ALREADY_EXISTS),
  );
  t.is(metadata.topic('race')!.partitions, 1, 'the first one queued wins');
  // Auto-creation racing with itself hands every caller the same topic.
  const autoBroker = await startTestBroker(t, { autoCreateTopicsEnable: true });
  const topics = await Promise.all(Array.from({ length: 5 }, () => autoBroker.broker.context.metadata.autoCreateTopic('auto')));
  t.is(new Set(topics.map((topic) => topic.topicId)).size, 1);
});

test('the partitions a broker hosts are bounded', async (t) => {
  const { broker } = await startTestBroker(t);
  const { metadata } = broker.context;
  const failure = await t.throwsAsync(metadata.createTopic('enormous', 10_001, {}), { instanceOf: KafkaError });
  t.is(failure.code, ErrorCode.INVALID_PARTITIONS);
  t.is(failure.message, 'Adding 10001 partitions would bring this broker to 10001, above its limit of 10000.');
  t.deepEqual(metadata.topics(), []);
});
