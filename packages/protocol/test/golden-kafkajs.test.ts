import test from 'ava';
import { createRequire } from 'node:module';
import {
  ApiKey,
  CreateTopicsRequestSchema,
  FetchRequestSchema,
  FindCoordinatorRequestSchema,
  HeartbeatRequestSchema,
  JoinGroupRequestSchema,
  ListOffsetsRequestSchema,
  MetadataRequestSchema,
  OffsetCommitRequestSchema,
  OffsetFetchRequestSchema,
  ProduceRequestSchema,
  Reader,
  SyncGroupRequestSchema,
  ApiVersionsRequestSchema,
  decodeMessage,
  decodeRequest,
  encodeMessage,
  encodeRequest,
} from '@defter/protocol';
import type { MessageSchema } from '@defter/protocol';

/**
 * Golden bytes from an independent encoder: kafkajs 2.2.4's request modules (used here only, as a
 * test oracle). For each case kafkajs encodes a plain object, we encode the same data from our
 * schema, and the bytes must be identical; then our decoder reads kafkajs's bytes back to our data.
 *
 * kafkajs quirks, and what is compared instead:
 * - Produce: kafkajs builds the RecordBatch itself (with its own timestamps and CRC). We decode its
 *   request, take the records bytes as an opaque blob, and compare everything else field by field and
 *   the whole request byte for byte after re-encoding with that same blob.
 * - Nullable arrays (Metadata v1+ topics, OffsetFetch v2+ topics): kafkajs writes an empty array as
 *   null (-1); an empty list is compared as null.
 * - Fetch v4–v8: kafkajs does not write `current_leader_epoch` before v9, exactly as the spec says;
 *   our data carries the default (-1) so both agree. Nothing else differs in the versions below.
 */

const require = createRequire(import.meta.url);

interface KafkajsRequest {
  apiKey: number;
  apiVersion: number;
  encode: () => Promise<{ buffer: Buffer }>;
}

async function kafkajsBody(api: string, version: number, args: unknown): Promise<Buffer> {
  const build = require(`kafkajs/src/protocol/requests/${api}/v${version}/request.js`) as (args: unknown) => KafkajsRequest;
  const request = build(args);
  if (request.apiVersion !== version) throw new Error(`kafkajs ${api} v${version} reports version ${request.apiVersion}`);
  return (await request.encode()).buffer;
}

interface GoldenCase {
  readonly api: string;
  readonly schema: MessageSchema<unknown>;
  readonly versions: readonly number[];
  readonly kafkajs: (version: number) => unknown;
  readonly ours: (version: number) => Record<string, unknown>;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const cases: GoldenCase[] = [
  {
    api: 'apiVersions',
    schema: ApiVersionsRequestSchema,
    versions: range(0, 2),
    kafkajs: () => ({}),
    ours: () => ({}),
  },
  {
    api: 'metadata',
    schema: MetadataRequestSchema,
    versions: range(0, 6),
    kafkajs: (v) => ({ topics: ['orders', 'payments'], allowAutoTopicCreation: v >= 4 ? false : true }),
    ours: (v) => ({ topics: [{ name: 'orders' }, { name: 'payments' }], allowAutoTopicCreation: v >= 4 ? false : true }),
  },
  {
    api: 'fetch',
    schema: FetchRequestSchema,
    versions: range(4, 11),
    kafkajs: () => ({
      replicaId: -1,
      maxWaitTime: 5000,
      minBytes: 1,
      maxBytes: 10485760,
      isolationLevel: 1,
      sessionId: 0,
      sessionEpoch: -1,
      rackId: 'rack-a',
      topics: [
        {
          topic: 'orders',
          partitions: [
            { partition: 0, fetchOffset: '42', maxBytes: 1048576, currentLeaderEpoch: -1, logStartOffset: -1 },
            { partition: 3, fetchOffset: '9007199254740993', maxBytes: 65536, currentLeaderEpoch: -1, logStartOffset: -1 },
          ],
        },
      ],
    }),
    ours: (v) => ({
      replicaId: -1,
      maxWaitMs: 5000,
      minBytes: 1,
      maxBytes: 10485760,
      isolationLevel: 1,
      sessionId: 0,
      sessionEpoch: -1,
      rackId: v >= 11 ? 'rack-a' : '',
      forgottenTopicsData: [],
      topics: [
        {
          topic: 'orders',
          partitions: [
            { partition: 0, fetchOffset: 42n, partitionMaxBytes: 1048576, currentLeaderEpoch: -1, logStartOffset: -1n },
            { partition: 3, fetchOffset: 9007199254740993n, partitionMaxBytes: 65536, currentLeaderEpoch: -1, logStartOffset: -1n },
          ],
        },
      ],
    }),
  },
  {
    api: 'listOffsets',
    schema: ListOffsetsRequestSchema,
    versions: range(0, 3),
    kafkajs: () => ({
      replicaId: -1,
      isolationLevel: 1,
      topics: [{ topic: 'orders', partitions: [{ partition: 2, timestamp: -2, maxNumOffsets: 1 }] }],
    }),
    ours: (v) => ({
      replicaId: -1,
      isolationLevel: v >= 2 ? 1 : 0,
      topics: [{ name: 'orders', partitions: [{ partitionIndex: 2, timestamp: -2n, maxNumOffsets: 1 }] }],
    }),
  },
  {
    api: 'createTopics',
    schema: CreateTopicsRequestSchema,
    versions: range(0, 3),
    kafkajs: () => ({
      timeout: 5000,
      validateOnly: false,
      topics: [
        {
          topic: 'orders',
          numPartitions: 3,
          replicationFactor: 1,
          replicaAssignment: [],
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
        { topic: 'manual', numPartitions: -1, replicationFactor: -1, replicaAssignment: [{ partition: 0, replicas: [1, 2] }] },
      ],
    }),
    ours: () => ({
      timeoutMs: 5000,
      validateOnly: false,
      topics: [
        { name: 'orders', numPartitions: 3, replicationFactor: 1, assignments: [], configs: [{ name: 'cleanup.policy', value: 'compact' }] },
        { name: 'manual', numPartitions: -1, replicationFactor: -1, assignments: [{ partitionIndex: 0, brokerIds: [1, 2] }], configs: [] },
      ],
    }),
  },
  {
    api: 'joinGroup',
    schema: JoinGroupRequestSchema,
    versions: range(0, 5),
    kafkajs: () => ({
      groupId: 'group-1',
      sessionTimeout: 30000,
      rebalanceTimeout: 60000,
      memberId: '',
      groupInstanceId: null,
      protocolType: 'consumer',
      groupProtocols: [{ name: 'RoundRobinAssigner', metadata: Buffer.from([0, 1, 0, 0, 0, 1, 0, 1, 0x61, 0, 0, 0, 0]) }],
    }),
    ours: (v) => ({
      groupId: 'group-1',
      sessionTimeoutMs: 30000,
      rebalanceTimeoutMs: v >= 1 ? 60000 : -1,
      memberId: '',
      groupInstanceId: null,
      protocolType: 'consumer',
      protocols: [{ name: 'RoundRobinAssigner', metadata: Buffer.from([0, 1, 0, 0, 0, 1, 0, 1, 0x61, 0, 0, 0, 0]) }],
    }),
  },
  {
    api: 'syncGroup',
    schema: SyncGroupRequestSchema,
    versions: range(0, 3),
    kafkajs: () => ({
      groupId: 'group-1',
      generationId: 4,
      memberId: 'member-1',
      groupInstanceId: null,
      groupAssignment: [{ memberId: 'member-1', memberAssignment: Buffer.from([0, 1, 2, 3]) }],
    }),
    ours: () => ({
      groupId: 'group-1',
      generationId: 4,
      memberId: 'member-1',
      groupInstanceId: null,
      assignments: [{ memberId: 'member-1', assignment: Buffer.from([0, 1, 2, 3]) }],
    }),
  },
  {
    api: 'heartbeat',
    schema: HeartbeatRequestSchema,
    versions: range(0, 3),
    kafkajs: () => ({ groupId: 'group-1', groupGenerationId: 4, memberId: 'member-1', groupInstanceId: null }),
    ours: () => ({ groupId: 'group-1', generationId: 4, memberId: 'member-1', groupInstanceId: null }),
  },
  {
    api: 'offsetCommit',
    schema: OffsetCommitRequestSchema,
    versions: range(0, 5),
    kafkajs: () => ({
      groupId: 'group-1',
      groupGenerationId: 4,
      memberId: 'member-1',
      retentionTime: -1,
      topics: [
        {
          topic: 'orders',
          partitions: [
            { partition: 0, offset: '100', timestamp: -1, metadata: null },
            { partition: 1, offset: '7', timestamp: -1, metadata: 'meta' },
          ],
        },
      ],
    }),
    ours: (v) => ({
      groupId: 'group-1',
      generationIdOrMemberEpoch: v >= 1 ? 4 : -1,
      memberId: v >= 1 ? 'member-1' : '',
      retentionTimeMs: -1n,
      topics: [
        {
          name: 'orders',
          partitions: [
            { partitionIndex: 0, committedOffset: 100n, commitTimestamp: -1n, committedMetadata: null },
            { partitionIndex: 1, committedOffset: 7n, commitTimestamp: -1n, committedMetadata: 'meta' },
          ],
        },
      ],
    }),
  },
  {
    api: 'offsetFetch',
    schema: OffsetFetchRequestSchema,
    versions: range(1, 4),
    kafkajs: () => ({ groupId: 'group-1', topics: [{ topic: 'orders', partitions: [{ partition: 0 }, { partition: 5 }] }] }),
    ours: () => ({ groupId: 'group-1', topics: [{ name: 'orders', partitionIndexes: [0, 5] }] }),
  },
  {
    api: 'findCoordinator',
    schema: FindCoordinatorRequestSchema,
    versions: range(0, 2),
    kafkajs: (v) => (v === 0 ? { groupId: 'group-1' } : { coordinatorKey: 'txn-1', coordinatorType: 1 }),
    ours: (v) => (v === 0 ? { key: 'group-1' } : { key: 'txn-1', keyType: 1 }),
  },
];

/** The fields of `expected` must appear in `actual` with equal values (decoded data also has defaults). */
function assertSubset(t: { deepEqual: (a: unknown, b: unknown, message?: string) => void }, actual: unknown, expected: unknown, path: string): void {
  if (Array.isArray(expected)) {
    t.deepEqual((actual as unknown[]).length, expected.length, `${path}.length`);
    expected.forEach((element, i) => assertSubset(t, (actual as unknown[])[i], element, `${path}[${i}]`));
  } else if (expected !== null && typeof expected === 'object' && !Buffer.isBuffer(expected)) {
    for (const [key, value] of Object.entries(expected)) assertSubset(t, (actual as Record<string, unknown>)[key], value, `${path}.${key}`);
  } else {
    t.deepEqual(actual, expected, path);
  }
}

for (const golden of cases) {
  for (const version of golden.versions) {
    test(`${golden.api} v${version}: our bytes equal kafkajs's, and we decode kafkajs's bytes`, async (t) => {
      const theirs = await kafkajsBody(golden.api, version, golden.kafkajs(version));
      const ours = encodeMessage(golden.schema, version, golden.ours(version));
      t.is(ours.toString('hex'), theirs.toString('hex'));
      const reader = new Reader(theirs);
      const decoded = decodeMessage(golden.schema, version, reader);
      t.is(reader.position, theirs.length);
      assertSubset(t, decoded, golden.ours(version), golden.schema.name);
    });
  }
}

test('metadata v1+: kafkajs writes an empty topic list as null (all topics); we read it as null', async (t) => {
  // A kafkajs quirk: its writeNullableArray treats [] as null (it cannot write an empty nullable array).
  for (const version of range(1, 6)) {
    const theirs = await kafkajsBody('metadata', version, { topics: [] });
    t.is(theirs.readInt32BE(0), -1);
    t.is(encodeMessage(MetadataRequestSchema, version, { topics: null, allowAutoTopicCreation: true }).toString('hex'), theirs.toString('hex'));
    t.is(decodeMessage(MetadataRequestSchema, version, new Reader(theirs)).topics, null);
  }
});

for (const version of range(3, 7)) {
  test(`produce v${version}: everything but the RecordBatch compared; records carried as an opaque blob`, async (t) => {
    const theirs = await kafkajsBody('produce', version, {
      acks: -1,
      timeout: 30000,
      transactionalId: null,
      topicData: [
        {
          topic: 'orders',
          partitions: [{ partition: 1, messages: [{ key: 'k1', value: 'v1', timestamp: 1700000000000 }] }],
        },
      ],
    });
    const reader = new Reader(theirs);
    const decoded = decodeMessage(ProduceRequestSchema, version, reader);
    t.is(reader.position, theirs.length);
    t.is(decoded.transactionalId, null);
    t.is(decoded.acks, -1);
    t.is(decoded.timeoutMs, 30000);
    t.is(decoded.topicData.length, 1);
    t.is(decoded.topicData[0]!.name, 'orders');
    t.is(decoded.topicData[0]!.partitionData.length, 1);
    t.is(decoded.topicData[0]!.partitionData[0]!.index, 1);
    const records = decoded.topicData[0]!.partitionData[0]!.records!;
    t.is(records.readInt32BE(8), records.length - 12); // the batch length field covers the rest of the blob
    t.is(records[16], 2); // magic byte: RecordBatch v2
    t.is(records.buffer, theirs.buffer); // a view, not a copy
    const ours = encodeMessage(ProduceRequestSchema, version, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 30000,
      topicData: [{ name: 'orders', partitionData: [{ index: 1, records: Buffer.from(records) }] }],
    });
    t.is(ours.toString('hex'), theirs.toString('hex'));
  });
}

test('whole requests with kafkajs request header v1 decode with ours, and ours encode to the same frame', async (t) => {
  const frame = require('kafkajs/src/protocol/request.js') as (args: unknown) => Promise<{ buffer: Buffer }>;
  const build = require('kafkajs/src/protocol/requests/heartbeat/v3/request.js') as (args: unknown) => KafkajsRequest;
  const theirs = (
    await frame({
      correlationId: 77,
      clientId: 'defter-test',
      request: build({ groupId: 'g', groupGenerationId: 2, memberId: 'm', groupInstanceId: null }),
    })
  ).buffer;
  const decoded = decodeRequest(theirs.subarray(4));
  t.deepEqual(decoded.header, { apiKey: ApiKey.Heartbeat, apiVersion: 3, correlationId: 77, clientId: 'defter-test' });
  t.deepEqual(decoded.body, { groupId: 'g', generationId: 2, memberId: 'm', groupInstanceId: null });
  const ours = encodeRequest(
    { apiKey: ApiKey.Heartbeat, apiVersion: 3, correlationId: 77, clientId: 'defter-test' },
    { groupId: 'g', generationId: 2, memberId: 'm', groupInstanceId: null },
  );
  t.is(ours.toString('hex'), theirs.toString('hex'));
});
