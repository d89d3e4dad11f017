/**
 * The group APIs over the wire, with raw requests (RawClient): FindCoordinator, JoinGroup at old
 * and new versions, SyncGroup, Heartbeat, LeaveGroup, ListGroups, DescribeGroups, DeleteGroups;
 * session expiry in real (short) time; hostile input; many groups rebalancing at once; and a
 * kafkajs consumer group sharing a topic.
 */
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { Kafka, logLevel } from 'kafkajs';
import { ApiKey, ErrorCode, Writer, type JoinGroupResponse } from '@defter/protocol';
import { pythonWith, runProcess } from './helpers/processes.js';
import { RawClient } from './helpers/raw-client.js';
import { eventually, startTestBroker, type TestBroker } from './helpers/test-broker.js';

async function connect(t: ExecutionContext, broker: TestBroker): Promise<RawClient> {
  const client = await RawClient.connect(broker.port);
  t.teardown(() => client.close());
  return client;
}

/** A ConsumerProtocolSubscription v0 for `topics`. */
function subscription(...topics: string[]): Buffer {
  const writer = new Writer();
  writer.int16(0).arrayLength(topics.length);
  for (const topic of topics) writer.string(topic);
  writer.nullableBytes(null);
  return writer.finish();
}

interface JoinOptions {
  memberId?: string;
  version?: number;
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  groupInstanceId?: string | null;
  protocolType?: string;
  metadata?: Buffer;
}

async function join(client: RawClient, groupId: string, options: JoinOptions = {}): Promise<JoinGroupResponse> {
  const version = options.version ?? 5;
  const response = await client.request(
    ApiKey.JoinGroup,
    version,
    {
      groupId,
      sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? 10_000,
      memberId: options.memberId ?? '',
      groupInstanceId: options.groupInstanceId ?? null,
      protocolType: options.protocolType ?? 'consumer',
      protocols: [{ name: 'range', metadata: options.metadata ?? subscription('t') }],
      reason: null,
    },
    { timeoutMs: 20_000 },
  );
  return response.body;
}

/** JoinGroup v5 the way clients do it: an empty id, MEMBER_ID_REQUIRED, then the join proper. */
async function joinWithId(client: RawClient, groupId: string, options: JoinOptions = {}): Promise<JoinGroupResponse> {
  const first = await join(client, groupId, options);
  if (first.errorCode !== ErrorCode.MEMBER_ID_REQUIRED) return first;
  return join(client, groupId, { ...options, memberId: first.memberId });
}

async function sync(client: RawClient, groupId: string, generationId: number, memberId: string, assignments: Array<{ memberId: string; assignment: Buffer }> = [], version = 3) {
  const response = await client.request(
    ApiKey.SyncGroup,
    version,
    { groupId, generationId, memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: 'range', assignments },
    { timeoutMs: 20_000 },
  );
  return response.body;
}

async function heartbeat(client: RawClient, groupId: string, generationId: number, memberId: string): Promise<number> {
  return (await client.request(ApiKey.Heartbeat, 3, { groupId, generationId, memberId, groupInstanceId: null })).body.errorCode;
}

test('FindCoordinator v0-4 names this broker for groups; transactions are not served yet; unknown key types are invalid', async (t) => {
  const broker = await startTestBroker(t);
  const client = await connect(t, broker);
  for (const version of [0, 1, 2, 3]) {
    const { body } = await client.request(ApiKey.FindCoordinator, version, { key: 'g', keyType: 0 });
    t.deepEqual([body.errorCode, body.nodeId, body.host, body.port], [ErrorCode.NONE, broker.broker.nodeId, '127.0.0.1', broker.port], `v${version}`);
  }
  const batched = await client.request(ApiKey.FindCoordinator, 4, { keyType: 0, coordinatorKeys: ['a', 'b'] });
  t.deepEqual(
    batched.body.coordinators!.map((c) => [c.key, c.errorCode, c.nodeId, c.port]),
    [
      ['a', ErrorCode.NONE, broker.broker.nodeId, broker.port],
      ['b', ErrorCode.NONE, broker.broker.nodeId, broker.port],
    ],
  );
  const transaction = await client.request(ApiKey.FindCoordinator, 3, { key: 'tx', keyType: 1 });
  t.deepEqual([transaction.body.errorCode, transaction.body.nodeId, transaction.body.port], [ErrorCode.NONE, broker.broker.nodeId, broker.port]);
  const invalid = await client.request(ApiKey.FindCoordinator, 4, { keyType: 9, coordinatorKeys: ['x'] });
  t.is(invalid.body.coordinators![0]!.errorCode, ErrorCode.INVALID_REQUEST);
});

test('a group forms over the wire (v0 and v5 members), syncs, is described, listed, left and deleted', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0 });
  const [a, b] = [await connect(t, broker), await connect(t, broker)];

  const required = await join(a, 'wire');
  t.is(required.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
  t.regex(required.memberId, /^raw-client-[0-9a-f-]{36}$/);
  const joinedA = await join(a, 'wire', { memberId: required.memberId });
  t.deepEqual([joinedA.errorCode, joinedA.generationId, joinedA.leader, joinedA.protocolName], [ErrorCode.NONE, 1, required.memberId, 'range']);
  await sync(a, 'wire', 1, joinedA.memberId, [{ memberId: joinedA.memberId, assignment: Buffer.from('solo') }]);

  // A v0 member (no member id round trip) joins; the leader is told by its heartbeat to rejoin.
  const joiningB = join(b, 'wire', { version: 0, metadata: subscription('t', 'u') });
  t.true(await eventually(async () => (await heartbeat(a, 'wire', 1, joinedA.memberId)) === ErrorCode.REBALANCE_IN_PROGRESS));
  const [rejoinedA, joinedB] = await Promise.all([join(a, 'wire', { memberId: joinedA.memberId, version: 7 }), joiningB]);
  t.deepEqual([rejoinedA.generationId, joinedB.generationId], [2, 2]);
  t.is(rejoinedA.protocolType, 'consumer', 'v7+ names the protocol type');
  t.deepEqual(rejoinedA.members.map((m) => m.memberId), [joinedA.memberId, joinedB.memberId]);
  t.true(rejoinedA.members[1]!.metadata.equals(subscription('t', 'u')));
  t.deepEqual(joinedB.members, []);

  const followerSync = sync(b, 'wire', 2, joinedB.memberId, [{ memberId: joinedB.memberId, assignment: Buffer.from('mine!') }], 0);
  const leaderSync = await sync(a, 'wire', 2, joinedA.memberId, [
    { memberId: joinedA.memberId, assignment: Buffer.from('for-a') },
    { memberId: joinedB.memberId, assignment: Buffer.from('for-b') },
  ], 5);
  t.is(leaderSync.assignment.toString(), 'for-a');
  t.is((await followerSync).assignment.toString(), 'for-b', 'a follower sending assignments is ignored');

  const described = (await a.request(ApiKey.DescribeGroups, 5, { groups: ['wire', 'nope'], includeAuthorizedOperations: false })).body.groups;
  t.deepEqual(
    described.map((g) => [g.groupId, g.errorCode, g.groupState, g.protocolType, g.protocolData, g.members.length]),
    [
      ['wire', ErrorCode.NONE, 'Stable', 'consumer', 'range', 2],
      ['nope', ErrorCode.NONE, 'Dead', '', '', 0],
    ],
  );
  t.deepEqual(
    described[0]!.members.map((m) => [m.memberId, m.clientId, m.clientHost, m.memberAssignment.toString()]),
    [
      [joinedA.memberId, 'raw-client', '/127.0.0.1', 'for-a'],
      [joinedB.memberId, 'raw-client', '/127.0.0.1', 'for-b'],
    ],
  );
  const listed = (await a.request(ApiKey.ListGroups, 4, { statesFilter: ['stable'] })).body.groups;
  t.deepEqual(listed.map((g) => [g.groupId, g.protocolType, g.groupState]), [['wire', 'consumer', 'Stable']]);
  t.deepEqual((await a.request(ApiKey.ListGroups, 0, {})).body.groups.map((g) => g.groupId), ['wire']);

  t.deepEqual((await a.request(ApiKey.DeleteGroups, 2, { groupsNames: ['wire', 'nope'] })).body.results, [
    { groupId: 'wire', errorCode: ErrorCode.NON_EMPTY_GROUP },
    { groupId: 'nope', errorCode: ErrorCode.GROUP_ID_NOT_FOUND },
  ]);
  const leftB = await b.request(ApiKey.LeaveGroup, 0, { groupId: 'wire', memberId: joinedB.memberId });
  t.is(leftB.body.errorCode, ErrorCode.NONE);
  const leftA = await a.request(ApiKey.LeaveGroup, 3, { groupId: 'wire', members: [{ memberId: joinedA.memberId, groupInstanceId: null }, { memberId: 'ghost', groupInstanceId: null }] });
  t.deepEqual(leftA.body.members!.map((m) => m.errorCode), [ErrorCode.NONE, ErrorCode.UNKNOWN_MEMBER_ID]);
  // As in Kafka, the Empty group keeps its protocol type and stays listed until the periodic cleanup (or DeleteGroups).
  t.deepEqual((await a.request(ApiKey.ListGroups, 4, {})).body.groups.map((g) => [g.groupId, g.protocolType, g.groupState]), [['wire', 'consumer', 'Empty']]);
  const describedEmpty = (await a.request(ApiKey.DescribeGroups, 5, { groups: ['wire'], includeAuthorizedOperations: false })).body.groups;
  t.deepEqual(describedEmpty.map((g) => [g.groupId, g.errorCode, g.groupState, g.protocolType, g.protocolData, g.members.length]), [['wire', ErrorCode.NONE, 'Empty', 'consumer', '', 0]]);
  t.deepEqual((await a.request(ApiKey.DeleteGroups, 2, { groupsNames: ['wire'] })).body.results, [{ groupId: 'wire', errorCode: ErrorCode.NONE }]);
  t.deepEqual((await a.request(ApiKey.ListGroups, 0, {})).body.groups, [], 'a deleted group is gone');
  const leaveAgain = await a.request(ApiKey.LeaveGroup, 1, { groupId: 'wire', memberId: joinedA.memberId });
  t.is(leaveAgain.body.errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
});

test('a member that stops heartbeating is removed after its session timeout; the survivor rejoins alone', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0, groupMinSessionTimeoutMs: 100 });
  const [a, b] = [await connect(t, broker), await connect(t, broker)];
  const options = { sessionTimeoutMs: 600, rebalanceTimeoutMs: 5_000 };
  const first = await joinWithId(a, 'crash', options);
  const joiningB = joinWithId(b, 'crash', options);
  t.true(await eventually(async () => (await heartbeat(a, 'crash', first.generationId, first.memberId)) === ErrorCode.REBALANCE_IN_PROGRESS));
  const [leader, follower] = await Promise.all([join(a, 'crash', { ...options, memberId: first.memberId }), joiningB]);
  await Promise.all([sync(b, 'crash', follower.generationId, follower.memberId), sync(a, 'crash', leader.generationId, leader.memberId)]);

  // b crashes (sends nothing more); a keeps heartbeating until told to rejoin.
  const startedMs = Date.now();
  let code: number = ErrorCode.NONE;
  while (code === ErrorCode.NONE && Date.now() - startedMs < 5_000) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    code = await heartbeat(a, 'crash', leader.generationId, leader.memberId);
  }
  const noticedMs = Date.now() - startedMs;
  t.is(code, ErrorCode.REBALANCE_IN_PROGRESS);
  t.true(noticedMs >= 500 && noticedMs < 2_000, `expiry noticed after ${noticedMs} ms`);
  const alone = await join(a, 'crash', { ...options, memberId: leader.memberId });
  t.is(alone.generationId, leader.generationId + 1);
  t.deepEqual(alone.members.map((m) => m.memberId), [leader.memberId]);
  t.is(await heartbeat(b, 'crash', leader.generationId, follower.memberId), ErrorCode.UNKNOWN_MEMBER_ID);
});

test('hostile group requests get error codes and the connection and group survive', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0 });
  const client = await connect(t, broker);
  const joined = await joinWithId(client, 'h');
  await sync(client, 'h', joined.generationId, joined.memberId, [{ memberId: joined.memberId, assignment: Buffer.from('x') }]);

  t.is((await joinWithId(client, 'h', { protocolType: 'weird' })).errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  t.is((await join(client, 'h', { metadata: Buffer.alloc(2 * 1024 * 1024) })).errorCode, ErrorCode.INVALID_REQUEST);
  t.is((await join(client, 'h', { sessionTimeoutMs: 1 })).errorCode, ErrorCode.INVALID_SESSION_TIMEOUT);
  t.is((await join(client, '', {})).errorCode, ErrorCode.INVALID_GROUP_ID);
  t.is(await heartbeat(client, 'h', joined.generationId, 'nobody'), ErrorCode.UNKNOWN_MEMBER_ID);
  t.is(await heartbeat(client, 'no-such-group', 1, 'nobody'), ErrorCode.UNKNOWN_MEMBER_ID);
  t.is((await sync(client, 'h', joined.generationId, 'nobody', [{ memberId: joined.memberId, assignment: Buffer.from('evil') }])).errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
  const emptyMetadata = await joinWithId(client, 'empty-metadata', { metadata: Buffer.alloc(0), protocolType: 'whatever' });
  t.is(emptyMetadata.errorCode, ErrorCode.NONE);
  t.is(emptyMetadata.members[0]!.metadata.length, 0);

  t.is(await heartbeat(client, 'h', joined.generationId, joined.memberId), ErrorCode.NONE, 'the group is untouched');
  const stillMine = await sync(client, 'h', joined.generationId, joined.memberId);
  t.is(stillMine.assignment.toString(), 'x');
});

test('20 groups of 3 members rebalance at once with no member-id mix-ups', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 200 });
  const groupCount = 20;
  const membersPerGroup = 3;
  const clients = await Promise.all(Array.from({ length: groupCount * membersPerGroup }, () => connect(t, broker)));
  const groupOf = (index: number) => `many-${Math.floor(index / membersPerGroup)}`;

  // Every member joins; whoever is told to rejoin (a later arrival started a new rebalance) does so until all agree.
  async function joinUntilStable(client: RawClient, groupId: string): Promise<JoinGroupResponse> {
    let response = await joinWithId(client, groupId, { rebalanceTimeoutMs: 20_000 });
    for (;;) {
      t.is(response.errorCode, ErrorCode.NONE);
      const assignments =
        response.leader === response.memberId ? response.members.map((m) => ({ memberId: m.memberId, assignment: Buffer.from(`${groupId}/${m.memberId}`) })) : [];
      const synced = await sync(client, groupId, response.generationId, response.memberId, assignments);
      if (synced.errorCode === ErrorCode.NONE) {
        t.is(synced.assignment.toString(), `${groupId}/${response.memberId}`, 'each member gets its own assignment');
        return response;
      }
      t.is(synced.errorCode, ErrorCode.REBALANCE_IN_PROGRESS);
      response = await join(client, groupId, { memberId: response.memberId, rebalanceTimeoutMs: 20_000 });
    }
  }
  const results = await Promise.all(clients.map((client, i) => joinUntilStable(client, groupOf(i))));

  const described = (await clients[0]!.request(ApiKey.DescribeGroups, 1, { groups: Array.from({ length: groupCount }, (_, g) => `many-${g}`) })).body.groups;
  const allMemberIds = new Set<string>();
  for (const group of described) {
    t.is(group.groupState, 'Stable', group.groupId);
    t.is(group.members.length, membersPerGroup, group.groupId);
    for (const member of group.members) {
      t.false(allMemberIds.has(member.memberId));
      allMemberIds.add(member.memberId);
      t.is(member.memberAssignment.toString(), `${group.groupId}/${member.memberId}`);
    }
  }
  for (const [i, result] of results.entries()) {
    const group = described.find((g) => g.groupId === groupOf(i))!;
    t.true(
      group.members.some((m) => m.memberId === result.memberId),
      `member ${i} is in its own group`,
    );
  }
  t.is(allMemberIds.size, groupCount * membersPerGroup);
});

test('closing the broker answers a JoinGroup waiting on the initial delay at once', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 60_000 });
  const client = await connect(t, broker);
  const waiting = client.request(ApiKey.JoinGroup, 5, {
    groupId: 'slow',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 120_000,
    memberId: '',
    groupInstanceId: 'static-1',
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: subscription('t') }],
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const startedMs = Date.now();
  await broker.broker.close();
  t.true(Date.now() - startedMs < 5_000, 'close did not wait for the rebalance');
  t.is((await waiting).body.errorCode, ErrorCode.NOT_COORDINATOR);
});

test('kafkajs: two consumers in a group split a 4-partition topic and read every record once', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 300 });
  const kafka = new Kafka({ clientId: 'group-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 5 } });
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  await admin.createTopics({ topics: [{ topic: 'split', numPartitions: 4 }], waitForLeaders: true });
  const seen: Array<{ consumer: number; partition: number; value: string }> = [];
  const consumers = [0, 1].map(() => kafka.consumer({ groupId: 'splitters', sessionTimeout: 10_000, rebalanceTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 200 }));
  const assigned = new Map<number, number[]>();
  for (const [index, consumer] of consumers.entries()) {
    await consumer.connect();
    t.teardown(() => consumer.disconnect());
    await consumer.subscribe({ topic: 'split', fromBeginning: true });
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      assigned.set(index, (event.payload.memberAssignment['split'] ?? []).slice().sort());
    });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.push({ consumer: index, partition, value: message.value!.toString() });
      },
    });
  }
  const split = () => assigned.size === 2 && [...assigned.values()].every((partitions) => partitions.length === 2);
  t.true(await eventually(split, 30_000, 100), 'both consumers end up with two partitions each');
  const partitionsByConsumer = [...assigned.entries()].sort(([a], [b]) => a - b).map(([, partitions]) => partitions);
  t.deepEqual(partitionsByConsumer.flat().sort(), [0, 1, 2, 3], 'each partition to exactly one member');

  // Produced once the group is stable, so that no rebalance moves partitions under the records.
  const producer = kafka.producer();
  await producer.connect();
  t.teardown(() => producer.disconnect());
  const values = Array.from({ length: 40 }, (_, i) => `v${i}`);
  await producer.send({ topic: 'split', messages: values.map((value, i) => ({ value, partition: i % 4 })) });
  t.true(await eventually(() => seen.length >= values.length, 30_000, 100), `seen ${seen.length}`);
  t.deepEqual(seen.map((s) => s.value).sort(), values.slice().sort(), 'every record exactly once');
  for (const record of seen) t.true(assigned.get(record.consumer)!.includes(record.partition), "records come from the consumer's own partitions");
  const described = (await admin.describeGroups(['splitters'])).groups[0]!;
  t.is(described.state, 'Stable');
  t.is(described.members.length, 2);
});

const confluentPython = pythonWith('confluent_kafka');

(confluentPython === undefined ? test.skip : test)('librdkafka cooperative-sticky: a second member takes half the partitions in two rebalances, every record once', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0, groupMinSessionTimeoutMs: 1_000 });
  await broker.broker.context.metadata.createTopic('shared', 4, {});
  const script = fileURLToPath(new URL('./helpers/python/group_cooperative_sticky.py', import.meta.url));
  const result = await runProcess(t, confluentPython!, [script, broker.bootstrap, 'shared', '4', '40'], { timeoutMs: 120_000 });
  t.is(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as {
    assignment: { a: number[]; b: number[] };
    events: Array<[string, 'assign' | 'revoke', number[]]>;
    records: Array<[string, number, string]>;
  };
  t.is(report.assignment.a.length, 2);
  t.is(report.assignment.b.length, 2);
  t.deepEqual([...report.assignment.a, ...report.assignment.b].sort(), [0, 1, 2, 3]);
  // Incremental (cooperative) callbacks: a first gets all four, later gives up exactly b's two and
  // keeps its own (an eager protocol would revoke all four); b only ever gains its two.
  const eventsOf = (name: string) => report.events.filter(([member, , partitions]) => member === name && partitions.length > 0).map(([, kind, partitions]) => [kind, partitions]);
  t.deepEqual(eventsOf('a'), [
    ['assign', [0, 1, 2, 3]],
    ['revoke', report.assignment.b],
  ]);
  t.deepEqual(eventsOf('b'), [['assign', report.assignment.b]]);
  const values = report.records.map(([, , value]) => value).sort();
  t.deepEqual(values, Array.from({ length: 40 }, (_, i) => `v${i}`).sort(), 'every record exactly once');
});
