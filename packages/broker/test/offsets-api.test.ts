/**
 * OffsetCommit, OffsetFetch and OffsetDelete through raw requests, at the versions the clients
 * negotiate (classic and flexible), against a real broker: round trips, per-partition errors,
 * hostile input, restarts (graceful and SIGKILL) and retention.
 */
import test from 'ava';
import { ManualClock } from '@defter/log';
import { ApiKey, ErrorCode, type OffsetCommitRequestTopic, type OffsetFetchResponse } from '@defter/protocol';
import { OFFSETS_TOPIC } from '../src/group/offset-store.js';
import { spawnChildBroker } from './helpers/child-broker.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestBroker, tempDir, type TestBroker } from './helpers/test-broker.js';

async function client(t: import('ava').ExecutionContext, port: number): Promise<RawClient> {
  const raw = await RawClient.connect(port);
  t.teardown(() => raw.close());
  return raw;
}

async function brokerWithTopics(t: import('ava').ExecutionContext, options: Parameters<typeof startTestBroker>[1] = {}): Promise<TestBroker> {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0, offsetsTopicNumPartitions: 3, ...options });
  await broker.broker.context.metadata.createTopic('orders', 3, {});
  await broker.broker.context.metadata.createTopic('audit', 1, {});
  return broker;
}

function partitions(...entries: Array<[number, bigint, string | null]>): OffsetCommitRequestTopic['partitions'] {
  return entries.map(([partitionIndex, committedOffset, committedMetadata]) => ({ partitionIndex, committedOffset, committedMetadata, committedLeaderEpoch: 5 }));
}

/** A simple commit (no group membership): generation -1, no member id. */
async function commit(raw: RawClient, version: number, groupId: string, topics: OffsetCommitRequestTopic[]) {
  const { body } = await raw.request(ApiKey.OffsetCommit, version, { groupId, generationIdOrMemberEpoch: -1, memberId: '', groupInstanceId: null, topics });
  return body.topics.map((topic) => [topic.name, topic.partitions.map((p) => [p.partitionIndex, p.errorCode])]);
}

/** OffsetFetch before v8 as [topic, [partition, offset, metadata, error]] rows. */
async function fetchOffsets(raw: RawClient, version: number, groupId: string, topics: Array<{ name: string; partitionIndexes: number[] }> | null) {
  const { body } = await raw.request(ApiKey.OffsetFetch, version, { groupId, topics, requireStable: false });
  return rowsOf(body);
}

function rowsOf(body: OffsetFetchResponse) {
  return (body.topics ?? []).map((topic) => [topic.name, topic.partitions.map((p) => [p.partitionIndex, p.committedOffset, p.metadata, p.errorCode])]);
}

test('the offset APIs are advertised with the versions the clients use', async (t) => {
  const { port } = await brokerWithTopics(t);
  const raw = await client(t, port);
  const versions = (await raw.apiVersions()).apiKeys.filter((key) => [8, 9, 47].includes(key.apiKey));
  t.deepEqual(
    versions.map(({ apiKey, minVersion, maxVersion }) => [apiKey, minVersion, maxVersion]),
    [
      [8, 0, 9],
      [9, 0, 9],
      [47, 0, 0],
    ],
  );
});

for (const [commitVersion, fetchVersion] of [
  [0, 0],
  [2, 1], // kafka-python
  [5, 4], // kafkajs
  [7, 7], // librdkafka (flexible fetch from v6)
  [8, 6],
  [9, 5],
] as const) {
  test(`OffsetCommit v${commitVersion} then OffsetFetch v${fetchVersion} round-trip offsets and metadata`, async (t) => {
    const { port } = await brokerWithTopics(t);
    const raw = await client(t, port);
    const groupId = `group-v${commitVersion}`;
    t.deepEqual(
      await commit(raw, commitVersion, groupId, [
        { name: 'orders', partitions: partitions([0, 10n, 'first'], [2, 12n, null]) },
        { name: 'audit', partitions: partitions([0, 0n, '{"json":"ü ✓"}']) },
      ]),
      [
        ['orders', [[0, 0], [2, 0]]],
        ['audit', [[0, 0]]],
      ],
    );
    t.deepEqual(await fetchOffsets(raw, fetchVersion, groupId, [{ name: 'orders', partitionIndexes: [0, 1, 2] }, { name: 'audit', partitionIndexes: [0] }]), [
      ['orders', [[0, 10n, 'first', 0], [1, -1n, '', 0], [2, 12n, '', 0]]],
      ['audit', [[0, 0n, '{"json":"ü ✓"}', 0]]],
    ]);
    const { body } = await raw.request(ApiKey.OffsetFetch, fetchVersion, { groupId, topics: [{ name: 'orders', partitionIndexes: [0] }] });
    const epoch = body.topics?.[0]?.partitions[0]?.committedLeaderEpoch;
    // The leader epoch is carried from OffsetCommit v6 and answered from OffsetFetch v5 (the decoder says -1 before).
    t.is(epoch, fetchVersion >= 5 && commitVersion >= 6 ? 5 : -1);
    if (fetchVersion >= 2) t.is(body.errorCode, 0);
  });
}

test('OffsetFetch with topics null (v2+) returns every committed partition; v8 batches groups', async (t) => {
  const { port } = await brokerWithTopics(t);
  const raw = await client(t, port);
  await commit(raw, 8, 'a', [{ name: 'orders', partitions: partitions([1, 7n, 'x'], [0, 6n, 'w']) }, { name: 'audit', partitions: partitions([0, 3n, null]) }]);
  await commit(raw, 8, 'b', [{ name: 'orders', partitions: partitions([2, 9n, 'y']) }]);
  t.deepEqual(await fetchOffsets(raw, 2, 'a', null), [
    ['audit', [[0, 3n, '', 0]]],
    ['orders', [[0, 6n, 'w', 0], [1, 7n, 'x', 0]]],
  ]);
  t.deepEqual(await fetchOffsets(raw, 7, 'nobody', null), []);

  const { body } = await raw.request(ApiKey.OffsetFetch, 8, {
    groups: [
      { groupId: 'a', topics: [{ name: 'orders', partitionIndexes: [1, 2] }] },
      { groupId: 'b', topics: null },
      { groupId: 'nobody', topics: null },
    ],
    requireStable: true,
  });
  t.deepEqual(
    body.groups?.map((group) => [group.groupId, group.errorCode, group.topics.map((topic) => [topic.name, topic.partitions.map((p) => [p.partitionIndex, p.committedOffset, p.committedLeaderEpoch, p.metadata, p.errorCode])])]),
    [
      ['a', 0, [['orders', [[1, 7n, 5, 'x', 0], [2, -1n, -1, '', 0]]]]],
      ['b', 0, [['orders', [[2, 9n, 5, 'y', 0]]]]],
      ['nobody', 0, []],
    ],
  );
  t.is(body.throttleTimeMs, 0);
});

test('per-partition errors: unknown topics and partitions, metadata over offset.metadata.max.bytes; the rest commits', async (t) => {
  const { port } = await brokerWithTopics(t, { offsetMetadataMaxBytes: 16 });
  const raw = await client(t, port);
  t.deepEqual(
    await commit(raw, 7, 'g', [
      { name: 'orders', partitions: partitions([0, 1n, '0123456789abcdef'], [1, 2n, '0123456789abcdefX'], [3, 3n, null], [-1, 4n, null]) },
      { name: 'missing', partitions: partitions([0, 5n, null]) },
    ]),
    [
      ['orders', [[0, ErrorCode.NONE], [1, ErrorCode.OFFSET_METADATA_TOO_LARGE], [3, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION], [-1, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]]],
      ['missing', [[0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]]],
    ],
  );
  t.deepEqual(await fetchOffsets(raw, 7, 'g', null), [['orders', [[0, 1n, '0123456789abcdef', 0]]]]);
  // Unknown topics are answered -1 without an error, as Kafka does.
  t.deepEqual(await fetchOffsets(raw, 5, 'g', [{ name: 'missing', partitionIndexes: [0] }]), [['missing', [[0, -1n, '', 0]]]]);
});

test('hostile commits get error codes and leave the broker serving: huge metadata, a huge group id, negative offsets, many partitions', async (t) => {
  const { port, broker } = await brokerWithTopics(t);
  const raw = await client(t, port);
  // 1 MiB of metadata (flexible strings have no int16 limit).
  t.deepEqual(await commit(raw, 8, 'g', [{ name: 'orders', partitions: partitions([0, 1n, 'm'.repeat(1 << 20)]) }]), [['orders', [[0, ErrorCode.OFFSET_METADATA_TOO_LARGE]]]]);
  // A group id longer than the int16-length string of the record key.
  t.deepEqual(await commit(raw, 8, 'g'.repeat(40_000), [{ name: 'orders', partitions: partitions([0, 1n, null]) }]), [['orders', [[0, ErrorCode.INVALID_GROUP_ID]]]]);
  // Negative offsets: Kafka stores what the client sends (kafkajs's resetOffsets commits -1/-2).
  t.deepEqual(await commit(raw, 5, 'g', [{ name: 'orders', partitions: partitions([0, -2n, null], [1, -1n, null], [2, -9_000n, null]) }]), [['orders', [[0, 0], [1, 0], [2, 0]]]]);
  t.deepEqual(await fetchOffsets(raw, 5, 'g', [{ name: 'orders', partitionIndexes: [0, 1, 2] }]), [['orders', [[0, -2n, '', 0], [1, -1n, '', 0], [2, -9_000n, '', 0]]]]);
  // Twenty thousand partitions of a topic that does not exist.
  const many = Array.from({ length: 20_000 }, (_, i) => ({ partitionIndex: i, committedOffset: 1n, committedMetadata: null }));
  const manyErrors = await commit(raw, 8, 'g', [{ name: 'nope', partitions: many }]);
  t.is(manyErrors[0]![1].length, 20_000);
  t.true((manyErrors[0]![1] as number[][]).every(([, code]) => code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION));
  // Empty requests.
  t.deepEqual(await commit(raw, 8, 'g', []), []);
  t.deepEqual(await fetchOffsets(raw, 7, 'g', []), []);
  t.deepEqual(broker.context.offsetStore.groupIds(), ['g']);
  t.false(raw.isClosed);
});

test('commits from a generation the group does not have are refused with ILLEGAL_GENERATION', async (t) => {
  const { port } = await brokerWithTopics(t);
  const raw = await client(t, port);
  const { body } = await raw.request(ApiKey.OffsetCommit, 7, {
    groupId: 'no-such-group',
    generationIdOrMemberEpoch: 4,
    memberId: 'member-1',
    groupInstanceId: null,
    topics: [{ name: 'orders', partitions: partitions([0, 1n, null]) }],
  });
  t.is(body.topics[0]!.partitions[0]!.errorCode, ErrorCode.ILLEGAL_GENERATION);
  t.deepEqual(await fetchOffsets(raw, 7, 'no-such-group', null), []);
});

test('OffsetDelete: an empty group loses the requested offsets; unknown groups and topics are reported', async (t) => {
  const { port } = await brokerWithTopics(t);
  const raw = await client(t, port);
  await commit(raw, 8, 'g', [{ name: 'orders', partitions: partitions([0, 1n, null], [1, 2n, null]) }, { name: 'audit', partitions: partitions([0, 3n, null]) }]);
  const { body } = await raw.request(ApiKey.OffsetDelete, 0, {
    groupId: 'g',
    topics: [
      { name: 'orders', partitions: [{ partitionIndex: 0 }, { partitionIndex: 2 }, { partitionIndex: 7 }] },
      { name: 'missing', partitions: [{ partitionIndex: 0 }] },
    ],
  });
  t.deepEqual(body, {
    errorCode: 0,
    throttleTimeMs: 0,
    topics: [
      { name: 'orders', partitions: [{ partitionIndex: 0, errorCode: 0 }, { partitionIndex: 2, errorCode: 0 }, { partitionIndex: 7, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
      { name: 'missing', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
    ],
  });
  t.deepEqual(await fetchOffsets(raw, 7, 'g', null), [
    ['audit', [[0, 3n, '', 0]]],
    ['orders', [[1, 2n, '', 0]]],
  ]);
  const unknown = await raw.request(ApiKey.OffsetDelete, 0, { groupId: 'nobody', topics: [{ name: 'orders', partitions: [{ partitionIndex: 0 }] }] });
  t.deepEqual(unknown.body, { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, throttleTimeMs: 0, topics: [] });
});

test('committed offsets survive a graceful restart, and the cleaner keeps the offsets topic bounded', async (t) => {
  const dataDir = await tempDir(t);
  const options = { dataDir, offsetsTopicNumPartitions: 1, offsetsTopicSegmentBytes: 4_096 };
  const first = await brokerWithTopics(t, options);
  const raw = await client(t, first.port);
  for (let i = 0; i < 300; i++) {
    await commit(raw, 8, 'busy', [{ name: 'orders', partitions: partitions([0, BigInt(i), `m${i}`], [1, BigInt(2 * i), null]) }]);
  }
  const log = first.broker.context.logManager.getLog(OFFSETS_TOPIC, 0)!;
  const sizeBefore = log.sizeBytes;
  await first.broker.context.logManager.runMaintenance();
  t.true(log.sizeBytes < sizeBefore / 5, `${log.sizeBytes} bytes after cleaning, ${sizeBefore} before`);
  raw.close();
  await first.broker.close();

  const second = await startTestBroker(t, { ...options, groupInitialRebalanceDelayMs: 0 });
  const again = await client(t, second.port);
  t.deepEqual(await fetchOffsets(again, 7, 'busy', null), [['orders', [[0, 299n, 'm299', 0], [1, 598n, '', 0]]]]);
});

test('acknowledged commits survive SIGKILL of the broker process', async (t) => {
  const dataDir = await tempDir(t);
  const first = await spawnChildBroker(t, dataDir, ['orders:4']);
  const raw = await RawClient.connect(first.port);
  const acknowledged = new Map<string, bigint>();
  for (let i = 0; i < 60; i++) {
    const groupId = `group-${i % 6}`;
    const partition = i % 4;
    const errors = await commit(raw, 8, groupId, [{ name: 'orders', partitions: partitions([partition, BigInt(1_000 + i), `i=${i}`]) }]);
    t.deepEqual(errors, [['orders', [[partition, 0]]]]);
    acknowledged.set(`${groupId}/${partition}`, BigInt(1_000 + i));
  }
  first.child.kill('SIGKILL');
  t.is((await first.exited).signal, 'SIGKILL');
  raw.close();

  const second = await spawnChildBroker(t, dataDir);
  const again = await client(t, second.port);
  for (let group = 0; group < 6; group++) {
    const rows = await fetchOffsets(again, 7, `group-${group}`, [{ name: 'orders', partitionIndexes: [0, 1, 2, 3] }]);
    for (const [partition, offset] of rows[0]![1] as Array<[number, bigint]>) {
      t.is(offset, acknowledged.get(`group-${group}/${partition}`) ?? -1n, `group-${group} orders-${partition}`);
    }
  }
});

test('offsets of an empty group expire offsets.retention.minutes after their commit (broker clock)', async (t) => {
  const clock = new ManualClock(1_700_000_000_000);
  const { port, broker } = await brokerWithTopics(t, { clock, offsetsRetentionMinutes: 60 });
  const raw = await client(t, port);
  await commit(raw, 8, 'lapsed', [{ name: 'orders', partitions: partitions([0, 5n, null]) }]);
  clock.advance(30 * 60_000);
  await commit(raw, 8, 'recent', [{ name: 'orders', partitions: partitions([0, 6n, null]) }]);
  clock.advance(30 * 60_000);
  const { groupCoordinator, offsetStore } = broker.context;
  // What the broker's periodic run asks: is the group empty (no members) as the coordinator sees it?
  const isGroupEmpty = (groupId: string) => {
    const state = groupCoordinator.groupState(groupId);
    return state === undefined || state === 'Empty' || state === 'Dead';
  };
  t.is(await offsetStore.expireOffsets(isGroupEmpty), 1);
  t.deepEqual(await fetchOffsets(raw, 7, 'lapsed', [{ name: 'orders', partitionIndexes: [0] }]), [['orders', [[0, -1n, '', 0]]]]);
  t.deepEqual(await fetchOffsets(raw, 7, 'recent', [{ name: 'orders', partitionIndexes: [0] }]), [['orders', [[0, 6n, '', 0]]]]);
});
