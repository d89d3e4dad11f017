import test from 'ava';
import { pino } from 'pino';
import { ManualClock } from '@defter/log';
import { ErrorCode, Writer } from '@defter/protocol';
import { defaultBrokerConfig, type BrokerConfig } from '../src/config.js';
import { GroupCoordinator } from '../src/group/group-coordinator.js';
import { decodeConsumerAssignment, EMPTY_CONSUMER_ASSIGNMENT, encodeConsumerAssignment } from '../src/group/consumer-protocol.js';
import type { JoinGroupParams, JoinGroupResult } from '../src/group/group-requests.js';
import { ManualTicker, MemoryOffsets } from './helpers/virtual-time.js';

/*
 * The coordinator on its own, in virtual time: a ManualClock and a ticker the test fires, so
 * session expiries and join deadlines happen exactly when the test says.
 */

interface Harness {
  coordinator: GroupCoordinator;
  clock: ManualClock;
  ticker: ManualTicker;
  offsets: MemoryOffsets;
  /** Moves virtual time and runs the shared tick. */
  advance(ms: number): void;
}

function harness(config: Partial<BrokerConfig> = {}, options: { memberMetadataBytesMax?: number } = {}): Harness {
  const clock = new ManualClock(1_000_000);
  const ticker = new ManualTicker();
  const offsets = new MemoryOffsets();
  let uuid = 0;
  const coordinator = new GroupCoordinator({
    config: { ...defaultBrokerConfig, groupInitialRebalanceDelayMs: 0, ...config },
    clock,
    logger: pino({ level: 'silent' }),
    offsets,
    ticker,
    tickIntervalMs: 10,
    newUuid: () => `uuid${++uuid}`,
    ...options,
  });
  return {
    coordinator,
    clock,
    ticker,
    offsets,
    advance(ms) {
      clock.advance(ms);
      ticker.tick();
    },
  };
}

/** A ConsumerProtocolSubscription v0 for `topics`. */
function subscription(...topics: string[]): Buffer {
  const writer = new Writer();
  writer.int16(0).arrayLength(topics.length);
  for (const topic of topics) writer.string(topic);
  writer.nullableBytes(null);
  return writer.finish();
}

function joinParams(overrides: Partial<JoinGroupParams> = {}): JoinGroupParams {
  return {
    groupId: 'g',
    memberId: '',
    groupInstanceId: null,
    clientId: 'client',
    clientHost: '/127.0.0.1',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: subscription('t') }],
    requireKnownMemberId: false,
    supportsSkipAssignment: false,
    ...overrides,
  };
}

/** Whether a promise has settled, after the microtasks queued so far ran. */
async function settled<T>(promise: Promise<T>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

/** Joins `count` members into a Stable group `groupId` (one generation), returning their ids (leader first). */
async function stableGroup(h: Harness, count: number, groupId = 'g', extra: Partial<JoinGroupParams> = {}): Promise<{ memberIds: string[]; generationId: number }> {
  const first = await h.coordinator.joinGroup(joinParams({ groupId, ...extra }));
  let memberIds = [first.memberId];
  let result: JoinGroupResult = first;
  for (let i = 1; i < count; i++) {
    const joining = h.coordinator.joinGroup(joinParams({ groupId, clientId: `client${i}`, ...extra }));
    const rejoins = memberIds.map((memberId) => h.coordinator.joinGroup(joinParams({ groupId, memberId, ...extra })));
    const results = await Promise.all([...rejoins, joining]);
    result = results[0]!;
    memberIds = results.map((r) => r.memberId);
  }
  const leaderId = result.leaderId;
  const syncs = memberIds.map((memberId) =>
    h.coordinator.syncGroup({
      groupId,
      generationId: result.generationId,
      memberId,
      groupInstanceId: null,
      protocolType: null,
      protocolName: null,
      assignments: memberId === leaderId ? memberIds.map((id) => ({ memberId: id, assignment: Buffer.from(`assignment-of-${id}`) })) : [],
    }),
  );
  await Promise.all(syncs);
  return { memberIds: [leaderId, ...memberIds.filter((id) => id !== leaderId)], generationId: result.generationId };
}

test('a v4+ member without an id gets MEMBER_ID_REQUIRED with a generated id, then joins with it as leader', async (t) => {
  const h = harness();
  const first = await h.coordinator.joinGroup(joinParams({ requireKnownMemberId: true }));
  t.is(first.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
  t.is(first.memberId, 'client-uuid1');
  t.is(first.generationId, -1);
  t.is(h.coordinator.groupState('g'), 'Empty');

  const joined = await h.coordinator.joinGroup(joinParams({ memberId: 'client-uuid1', requireKnownMemberId: true }));
  t.is(joined.errorCode, ErrorCode.NONE);
  t.is(joined.memberId, 'client-uuid1');
  t.is(joined.leaderId, 'client-uuid1');
  t.is(joined.generationId, 1);
  t.is(joined.protocolType, 'consumer');
  t.is(joined.protocolName, 'range');
  t.deepEqual(
    joined.members.map((m) => [m.memberId, m.metadata.equals(subscription('t'))]),
    [['client-uuid1', true]],
  );
  t.is(h.coordinator.groupState('g'), 'CompletingRebalance');
});

test('an unused MEMBER_ID_REQUIRED id is forgotten after a session timeout, and the group at the next cleanup', async (t) => {
  const h = harness({ offsetsRetentionCheckIntervalMs: 60_000 });
  const first = await h.coordinator.joinGroup(joinParams({ requireKnownMemberId: true, sessionTimeoutMs: 6_000 }));
  t.is(first.errorCode, ErrorCode.MEMBER_ID_REQUIRED);
  h.advance(5_990);
  t.is(h.coordinator.groupState('g'), 'Empty');
  h.advance(20);
  t.is(h.coordinator.groupState('g'), 'Empty', 'as in Kafka, an Empty group stays until the periodic cleanup');
  h.advance(60_000);
  t.is(h.coordinator.groupState('g'), undefined);
  t.false(h.ticker.running, 'the shared tick stops when nothing is armed');
  const late = await h.coordinator.joinGroup(joinParams({ memberId: first.memberId, requireKnownMemberId: true }));
  t.is(late.errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
});

test('two members: the leader gets every member metadata, the follower none, and SyncGroup gives each its own assignment', async (t) => {
  const h = harness({ groupInitialRebalanceDelayMs: 100 });
  const a = h.coordinator.joinGroup(joinParams({ clientId: 'a', protocols: [{ name: 'range', metadata: subscription('t1') }] }));
  const b = h.coordinator.joinGroup(joinParams({ clientId: 'b', protocols: [{ name: 'range', metadata: subscription('t2') }] }));
  t.false(await settled(a), 'the first join waits group.initial.rebalance.delay.ms');
  h.advance(100);
  t.false(await settled(a), 'b arrived during the delay: it is extended once more');
  h.advance(100);
  const [ra, rb] = await Promise.all([a, b]);
  t.is(ra.memberId, 'a-uuid1');
  t.is(rb.memberId, 'b-uuid2');
  t.is(ra.generationId, 1);
  t.is(rb.generationId, 1);
  t.is(ra.leaderId, 'a-uuid1');
  t.is(rb.leaderId, 'a-uuid1');
  t.deepEqual(
    ra.members.map((m) => [m.memberId, m.metadata.toString('hex')]),
    [
      ['a-uuid1', subscription('t1').toString('hex')],
      ['b-uuid2', subscription('t2').toString('hex')],
    ],
  );
  t.deepEqual(rb.members, []);

  const sync = (memberId: string, assignments: Array<{ memberId: string; assignment: Buffer }>) =>
    h.coordinator.syncGroup({ groupId: 'g', generationId: 1, memberId, groupInstanceId: null, protocolType: 'consumer', protocolName: 'range', assignments });
  const followerSync = sync('b-uuid2', [{ memberId: 'b-uuid2', assignment: Buffer.from('follower-made-this-up') }]);
  t.false(await settled(followerSync), 'a follower waits for the leader');
  const assignmentA = encodeConsumerAssignment({ assignedPartitions: [{ topic: 't1', partitions: [0, 1] }], userData: null });
  const assignmentB = encodeConsumerAssignment({ assignedPartitions: [{ topic: 't2', partitions: [2] }], userData: null });
  const leaderSync = await sync('a-uuid1', [
    { memberId: 'a-uuid1', assignment: assignmentA },
    { memberId: 'b-uuid2', assignment: assignmentB },
    { memberId: 'stranger', assignment: Buffer.from('ignored') },
  ]);
  const follower = await followerSync;
  t.is(leaderSync.errorCode, ErrorCode.NONE);
  t.is(follower.errorCode, ErrorCode.NONE);
  t.true(leaderSync.assignment.equals(assignmentA));
  t.true(follower.assignment.equals(assignmentB), 'the follower gets what the leader assigned, not what it sent');
  t.is(follower.protocolName, 'range');
  t.is(h.coordinator.groupState('g'), 'Stable');
  t.deepEqual([...h.coordinator.subscribedTopics('g')!].sort(), ['t1', 't2']);

  const described = h.coordinator.describeGroup('g');
  t.is(described.groupState, 'Stable');
  t.is(described.protocolData, 'range');
  t.deepEqual(
    described.members.map((m) => [m.memberId, m.clientId, m.clientHost, decodeConsumerAssignment(m.memberAssignment).assignedPartitions]),
    [
      ['a-uuid1', 'a', '/127.0.0.1', [{ topic: 't1', partitions: [0, 1] }]],
      ['b-uuid2', 'b', '/127.0.0.1', [{ topic: 't2', partitions: [2] }]],
    ],
  );
});

test('members the leader leaves out get an encoded empty consumer assignment, not zero bytes', async (t) => {
  const h = harness();
  const { memberIds } = await stableGroup(h, 1);
  // Rejoin as leader with a second member; the leader then assigns nothing to anyone.
  const follower = h.coordinator.joinGroup(joinParams({ clientId: 'b' }));
  const [leader] = await Promise.all([h.coordinator.joinGroup(joinParams({ memberId: memberIds[0]! })), follower]);
  t.is(leader!.generationId, 2);
  const followerSync = h.coordinator.syncGroup({ groupId: 'g', generationId: 2, memberId: (await follower).memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] });
  await h.coordinator.syncGroup({ groupId: 'g', generationId: 2, memberId: leader!.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] });
  const result = await followerSync;
  t.is(result.errorCode, ErrorCode.NONE);
  t.true(result.assignment.equals(EMPTY_CONSUMER_ASSIGNMENT));
  t.deepEqual(decodeConsumerAssignment(result.assignment), { version: 0, assignedPartitions: [], userData: null });
});

test('heartbeats: NONE when stable, REBALANCE_IN_PROGRESS while a new member joins, then the rejoin completes the next generation', async (t) => {
  const h = harness();
  const { memberIds, generationId } = await stableGroup(h, 2);
  const [leader, follower] = memberIds as [string, string];
  const heartbeat = (memberId: string, generation = generationId) => h.coordinator.heartbeat({ groupId: 'g', generationId: generation, memberId, groupInstanceId: null });
  t.is(heartbeat(leader), ErrorCode.NONE);
  t.is(heartbeat(follower, generationId - 1), ErrorCode.ILLEGAL_GENERATION);
  t.is(heartbeat('nobody'), ErrorCode.UNKNOWN_MEMBER_ID);
  t.is(h.coordinator.heartbeat({ groupId: 'unknown-group', generationId, memberId: leader, groupInstanceId: null }), ErrorCode.UNKNOWN_MEMBER_ID);
  t.is(h.coordinator.heartbeat({ groupId: '', generationId, memberId: leader, groupInstanceId: null }), ErrorCode.INVALID_GROUP_ID);

  const newcomer = h.coordinator.joinGroup(joinParams({ clientId: 'c' }));
  t.is(h.coordinator.groupState('g'), 'PreparingRebalance');
  t.is(heartbeat(leader), ErrorCode.REBALANCE_IN_PROGRESS);
  t.is(heartbeat(follower), ErrorCode.REBALANCE_IN_PROGRESS);
  const rejoinLeader = h.coordinator.joinGroup(joinParams({ memberId: leader }));
  t.false(await settled(newcomer), 'the join phase waits for every known member');
  const rejoinFollower = h.coordinator.joinGroup(joinParams({ memberId: follower }));
  const results = await Promise.all([rejoinLeader, rejoinFollower, newcomer]);
  t.deepEqual(
    results.map((r) => [r.errorCode, r.generationId, r.leaderId, r.members.length]),
    [
      [ErrorCode.NONE, generationId + 1, leader, 3],
      [ErrorCode.NONE, generationId + 1, leader, 0],
      [ErrorCode.NONE, generationId + 1, leader, 0],
    ],
  );
  t.is(heartbeat(leader, generationId + 1), ErrorCode.NONE, 'CompletingRebalance accepts heartbeats');
});

test('a member whose session expires is removed; the survivor heartbeat triggers its rejoin and it leads the next generation', async (t) => {
  const h = harness();
  const { memberIds, generationId } = await stableGroup(h, 2, 'g', { sessionTimeoutMs: 6_000 });
  const [leader, follower] = memberIds as [string, string];
  // Only the follower keeps heartbeating: the leader has crashed.
  for (const stepMs of [2_000, 2_000, 1_990]) {
    h.advance(stepMs);
    t.is(h.coordinator.heartbeat({ groupId: 'g', generationId, memberId: follower, groupInstanceId: null }), ErrorCode.NONE);
  }
  t.is(h.coordinator.groupState('g'), 'Stable');
  h.advance(20);
  t.is(h.coordinator.groupState('g'), 'PreparingRebalance');
  t.is(h.coordinator.heartbeat({ groupId: 'g', generationId, memberId: leader, groupInstanceId: null }), ErrorCode.UNKNOWN_MEMBER_ID);
  t.is(h.coordinator.heartbeat({ groupId: 'g', generationId, memberId: follower, groupInstanceId: null }), ErrorCode.REBALANCE_IN_PROGRESS);
  const rejoined = await h.coordinator.joinGroup(joinParams({ memberId: follower, sessionTimeoutMs: 6_000 }));
  t.is(rejoined.errorCode, ErrorCode.NONE);
  t.is(rejoined.generationId, generationId + 1);
  t.is(rejoined.leaderId, follower);
  t.deepEqual(rejoined.members.map((m) => m.memberId), [follower]);
});

test('members that do not rejoin within the rebalance timeout are removed when the join phase ends', async (t) => {
  const h = harness();
  const { memberIds } = await stableGroup(h, 2, 'g', { rebalanceTimeoutMs: 5_000, sessionTimeoutMs: 30_000 });
  const [leader, follower] = memberIds as [string, string];
  const newcomer = h.coordinator.joinGroup(joinParams({ clientId: 'n', rebalanceTimeoutMs: 5_000, sessionTimeoutMs: 30_000 }));
  const rejoin = h.coordinator.joinGroup(joinParams({ memberId: follower, rebalanceTimeoutMs: 5_000, sessionTimeoutMs: 30_000 }));
  h.advance(4_990);
  t.false(await settled(rejoin), 'the join phase waits for the leader');
  h.advance(20);
  const [result, newcomerResult] = await Promise.all([rejoin, newcomer]);
  t.is(result.errorCode, ErrorCode.NONE);
  t.is(result.leaderId, follower, 'a member that rejoined becomes leader');
  t.deepEqual(result.members.map((m) => m.memberId), [follower, newcomerResult.memberId]);
  t.is(h.coordinator.heartbeat({ groupId: 'g', generationId: result.generationId, memberId: leader, groupInstanceId: null }), ErrorCode.UNKNOWN_MEMBER_ID);
});

test('the initial delay is extended while members keep arriving, within the rebalance timeout', async (t) => {
  const h = harness({ groupInitialRebalanceDelayMs: 3_000 });
  const a = h.coordinator.joinGroup(joinParams({ clientId: 'a', rebalanceTimeoutMs: 10_000 }));
  h.advance(2_000);
  const b = h.coordinator.joinGroup(joinParams({ clientId: 'b', rebalanceTimeoutMs: 10_000 }));
  h.advance(1_000);
  t.false(await settled(a), 'a member arrived during the first delay: another delay runs');
  h.advance(2_990);
  t.false(await settled(a));
  h.advance(20);
  const [ra, rb] = await Promise.all([a, b]);
  t.is(ra.generationId, 1);
  t.is(rb.generationId, 1);
  t.is(ra.members.length, 2);
});

test('LeaveGroup removes members (v3 batch with per-member errors) and the group rebalances; the last leaving empties it', async (t) => {
  const h = harness();
  const { memberIds, generationId } = await stableGroup(h, 2);
  const [leader, follower] = memberIds as [string, string];
  const left = h.coordinator.leaveGroup('g', [
    { memberId: follower, groupInstanceId: null },
    { memberId: 'ghost', groupInstanceId: null },
  ]);
  t.deepEqual(left, {
    errorCode: ErrorCode.NONE,
    members: [
      { memberId: follower, groupInstanceId: null, errorCode: ErrorCode.NONE },
      { memberId: 'ghost', groupInstanceId: null, errorCode: ErrorCode.UNKNOWN_MEMBER_ID },
    ],
  });
  t.is(h.coordinator.groupState('g'), 'PreparingRebalance');
  t.is(h.coordinator.heartbeat({ groupId: 'g', generationId, memberId: leader, groupInstanceId: null }), ErrorCode.REBALANCE_IN_PROGRESS);
  const rejoined = await h.coordinator.joinGroup(joinParams({ memberId: leader }));
  t.is(rejoined.generationId, generationId + 1);
  t.deepEqual(rejoined.members.map((m) => m.memberId), [leader]);

  h.offsets.groups.add('g');
  t.deepEqual(h.coordinator.leaveGroup('g', [{ memberId: leader, groupInstanceId: null }]).members[0]!.errorCode, ErrorCode.NONE);
  t.is(h.coordinator.groupState('g'), 'Empty');
  t.deepEqual(h.coordinator.leaveGroup('nope', [{ memberId: 'x', groupInstanceId: null }]).members[0]!.errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
  t.is(h.coordinator.leaveGroup('', []).errorCode, ErrorCode.INVALID_GROUP_ID);
});

test('static membership: a known instance id rejoining without a member id fences the old id, without a rebalance when nothing changed', async (t) => {
  const h = harness();
  const instance = (groupInstanceId: string, memberId = '') => joinParams({ groupInstanceId, memberId, clientId: groupInstanceId });
  const a = h.coordinator.joinGroup(instance('a'));
  const ra = await a;
  t.is(ra.memberId, 'a-uuid1', 'a static member id starts with its instance id');
  const b = h.coordinator.joinGroup(instance('b'));
  const [ra2, rb] = await Promise.all([h.coordinator.joinGroup(instance('a', ra.memberId)), b]);
  const generationId = ra2.generationId;
  await Promise.all([
    h.coordinator.syncGroup({ groupId: 'g', generationId, memberId: rb.memberId, groupInstanceId: 'b', protocolType: null, protocolName: null, assignments: [] }),
    h.coordinator.syncGroup({
      groupId: 'g',
      generationId,
      memberId: ra.memberId,
      groupInstanceId: 'a',
      protocolType: null,
      protocolName: null,
      assignments: [
        { memberId: ra.memberId, assignment: Buffer.from('A') },
        { memberId: rb.memberId, assignment: Buffer.from('B') },
      ],
    }),
  ]);
  t.is(h.coordinator.groupState('g'), 'Stable');

  // Instance b restarts: same protocols, no member id.
  const restarted = await h.coordinator.joinGroup(instance('b'));
  t.is(restarted.errorCode, ErrorCode.NONE);
  t.not(restarted.memberId, rb.memberId);
  t.is(restarted.generationId, generationId, 'no new generation');
  t.is(restarted.leaderId, ra.memberId);
  t.is(h.coordinator.groupState('g'), 'Stable');
  const sync = await h.coordinator.syncGroup({ groupId: 'g', generationId, memberId: restarted.memberId, groupInstanceId: 'b', protocolType: null, protocolName: null, assignments: [] });
  t.is(sync.assignment.toString(), 'B', 'the new id keeps the instance assignment');
  t.is(h.coordinator.heartbeat({ groupId: 'g', generationId, memberId: rb.memberId, groupInstanceId: 'b' }), ErrorCode.FENCED_INSTANCE_ID);
  t.is((await h.coordinator.joinGroup(instance('b', rb.memberId))).errorCode, ErrorCode.FENCED_INSTANCE_ID);
  t.is(h.coordinator.validateOffsetCommit('g', rb.memberId, generationId, 'b'), ErrorCode.FENCED_INSTANCE_ID);
  t.is(h.coordinator.validateOffsetCommit('g', restarted.memberId, generationId, 'b'), ErrorCode.NONE);
  t.is(h.coordinator.validateOffsetCommit('g', restarted.memberId, generationId, 'unknown-instance'), ErrorCode.UNKNOWN_MEMBER_ID);

  // The same instance with different protocols rebalances.
  const changed = h.coordinator.joinGroup({ ...instance('b'), protocols: [{ name: 'range', metadata: subscription('t', 'u') }] });
  t.is(h.coordinator.groupState('g'), 'PreparingRebalance');
  const leaderRejoin = await Promise.all([h.coordinator.joinGroup(instance('a', ra.memberId)), changed]);
  t.deepEqual(leaderRejoin.map((r) => r.generationId), [generationId + 1, generationId + 1]);

  // An admin can remove a static member by instance id alone.
  const removed = h.coordinator.leaveGroup('g', [{ memberId: '', groupInstanceId: 'a' }, { memberId: 'whatever', groupInstanceId: 'b' }]);
  t.deepEqual(removed.members.map((m) => m.errorCode), [ErrorCode.NONE, ErrorCode.FENCED_INSTANCE_ID]);
});

test('validateOffsetCommit follows Kafka: simple commits to empty groups, member, generation and rebalance checks', async (t) => {
  const h = harness();
  t.is(h.coordinator.validateOffsetCommit('nobody-home', '', -1, null), ErrorCode.NONE, 'simple commit to an unknown group');
  t.is(h.coordinator.validateOffsetCommit('nobody-home', 'm', 3, null), ErrorCode.ILLEGAL_GENERATION);
  h.offsets.groups.add('offsets-only');
  t.is(h.coordinator.validateOffsetCommit('offsets-only', '', -1, null), ErrorCode.NONE);
  t.is(h.coordinator.validateOffsetCommit('offsets-only', 'm', 1, null), ErrorCode.UNKNOWN_MEMBER_ID);

  const joined = await h.coordinator.joinGroup(joinParams());
  t.is(h.coordinator.validateOffsetCommit('g', joined.memberId, joined.generationId, null), ErrorCode.REBALANCE_IN_PROGRESS, 'CompletingRebalance');
  await h.coordinator.syncGroup({ groupId: 'g', generationId: joined.generationId, memberId: joined.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] });
  t.is(h.coordinator.validateOffsetCommit('g', joined.memberId, joined.generationId, null), ErrorCode.NONE, 'Stable');
  t.is(h.coordinator.validateOffsetCommit('g', joined.memberId, joined.generationId - 1, null), ErrorCode.ILLEGAL_GENERATION);
  t.is(h.coordinator.validateOffsetCommit('g', 'stranger', joined.generationId, null), ErrorCode.UNKNOWN_MEMBER_ID);
  t.is(h.coordinator.validateOffsetCommit('g', '', -1, null), ErrorCode.UNKNOWN_MEMBER_ID, 'no simple commits while the group has members');

  const newcomer = h.coordinator.joinGroup(joinParams({ clientId: 'late' }));
  t.is(h.coordinator.validateOffsetCommit('g', joined.memberId, joined.generationId, null), ErrorCode.NONE, 'PreparingRebalance still accepts the old generation');
  await Promise.all([newcomer, h.coordinator.joinGroup(joinParams({ memberId: joined.memberId }))]);
  t.is(h.coordinator.validateOffsetCommit('g', joined.memberId, joined.generationId, null), ErrorCode.ILLEGAL_GENERATION, 'a fenced generation cannot commit');
});

test('hostile JoinGroups get Kafka error codes and leave the group intact', async (t) => {
  const h = harness({ groupMinSessionTimeoutMs: 6_000, groupMaxSessionTimeoutMs: 60_000 }, { memberMetadataBytesMax: 1024 });
  const { memberIds, generationId } = await stableGroup(h, 1);
  const codeOf = async (overrides: Partial<JoinGroupParams>) => (await h.coordinator.joinGroup(joinParams(overrides))).errorCode;

  t.is(await codeOf({ protocolType: 'connect' }), ErrorCode.INCONSISTENT_GROUP_PROTOCOL, 'another protocol type on an existing group');
  t.is(await codeOf({ protocols: [{ name: 'roundrobin', metadata: Buffer.alloc(0) }] }), ErrorCode.INCONSISTENT_GROUP_PROTOCOL, 'no protocol in common');
  t.is(await codeOf({ sessionTimeoutMs: 5_999 }), ErrorCode.INVALID_SESSION_TIMEOUT);
  t.is(await codeOf({ sessionTimeoutMs: 60_001 }), ErrorCode.INVALID_SESSION_TIMEOUT);
  t.is(await codeOf({ groupId: '' }), ErrorCode.INVALID_GROUP_ID);
  t.is(await codeOf({ protocols: [{ name: 'range', metadata: Buffer.alloc(2048) }] }), ErrorCode.INVALID_REQUEST, 'metadata above the bound');
  t.is(await codeOf({ memberId: 'made-up' }), ErrorCode.UNKNOWN_MEMBER_ID);
  t.is(await codeOf({ groupId: 'fresh', memberId: 'made-up' }), ErrorCode.UNKNOWN_MEMBER_ID);
  t.is(await codeOf({ groupId: 'fresh', protocolType: '' }), ErrorCode.INCONSISTENT_GROUP_PROTOCOL, 'empty protocol type');
  t.is(await codeOf({ groupId: 'fresh', protocols: [] }), ErrorCode.INCONSISTENT_GROUP_PROTOCOL, 'no protocols');
  t.is(h.coordinator.groupState('fresh'), undefined, 'failed joins leave no group behind');
  t.is(h.coordinator.groupState('g'), 'Stable');
  t.is(h.coordinator.heartbeat({ groupId: 'g', generationId, memberId: memberIds[0]!, groupInstanceId: null }), ErrorCode.NONE);

  // Any non-empty protocol type starts a new group, and empty metadata is fine.
  const odd = await h.coordinator.joinGroup(joinParams({ groupId: 'odd', protocolType: 'made-up-type', protocols: [{ name: 'p', metadata: Buffer.alloc(0) }] }));
  t.is(odd.errorCode, ErrorCode.NONE);
  t.deepEqual(odd.members.map((m) => m.metadata.length), [0]);
  const oddSync = await h.coordinator.syncGroup({ groupId: 'odd', generationId: odd.generationId, memberId: odd.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] });
  t.is(oddSync.assignment.length, 0, 'non-consumer protocols get their bytes as they are');
});

test('group.max.size refuses new members', async (t) => {
  const h = harness({ groupMaxSize: 2 });
  await stableGroup(h, 2);
  const third = await h.coordinator.joinGroup(joinParams({ clientId: 'third' }));
  t.is(third.errorCode, ErrorCode.GROUP_MAX_SIZE_REACHED);
  t.is(h.coordinator.groupState('g'), 'Stable');
});

test('SyncGroup errors: unknown member, wrong generation, rebalance in progress, inconsistent protocol (v5)', async (t) => {
  const h = harness();
  const { memberIds, generationId } = await stableGroup(h, 1);
  const sync = (overrides: Partial<Parameters<GroupCoordinator['syncGroup']>[0]>) =>
    h.coordinator.syncGroup({ groupId: 'g', generationId, memberId: memberIds[0]!, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [], ...overrides });
  t.is((await sync({ memberId: 'x' })).errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
  t.is((await sync({ groupId: 'other' })).errorCode, ErrorCode.UNKNOWN_MEMBER_ID);
  t.is((await sync({ generationId: generationId + 5 })).errorCode, ErrorCode.ILLEGAL_GENERATION);
  t.is((await sync({ protocolType: 'connect' })).errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  t.is((await sync({ protocolName: 'roundrobin' })).errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  const stable = await sync({ protocolType: 'consumer', protocolName: 'range' });
  t.is(stable.errorCode, ErrorCode.NONE);
  t.is(stable.assignment.toString(), `assignment-of-${memberIds[0]}`);
  void h.coordinator.joinGroup(joinParams({ clientId: 'newcomer' }));
  t.is((await sync({})).errorCode, ErrorCode.REBALANCE_IN_PROGRESS);
});

test('a leader that never syncs: followers wait, then the sync deadline removes it and rebalances', async (t) => {
  const h = harness();
  const first = await h.coordinator.joinGroup(joinParams({ rebalanceTimeoutMs: 5_000 }));
  const [follower, leader] = await Promise.all([
    h.coordinator.joinGroup(joinParams({ clientId: 'f', rebalanceTimeoutMs: 5_000 })),
    h.coordinator.joinGroup(joinParams({ memberId: first.memberId, rebalanceTimeoutMs: 5_000 })),
  ]);
  const waiting = h.coordinator.syncGroup({ groupId: 'g', generationId: follower!.generationId, memberId: follower!.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] });
  h.advance(4_990);
  t.false(await settled(waiting));
  h.advance(20);
  t.is((await waiting).errorCode, ErrorCode.REBALANCE_IN_PROGRESS);
  t.is(h.coordinator.heartbeat({ groupId: 'g', generationId: leader!.generationId, memberId: leader!.memberId, groupInstanceId: null }), ErrorCode.UNKNOWN_MEMBER_ID);
  const rejoined = await h.coordinator.joinGroup(joinParams({ memberId: follower!.memberId, rebalanceTimeoutMs: 5_000 }));
  t.is(rejoined.leaderId, follower!.memberId);
});

test('ListGroups, DescribeGroups and DeleteGroups include groups that only have committed offsets', async (t) => {
  const h = harness();
  await stableGroup(h, 2, 'active');
  h.offsets.groups.add('dormant');
  h.offsets.groups.add('active');
  t.deepEqual(
    h.coordinator.listGroups().map((g) => [g.groupId, g.protocolType, g.state, g.groupType]),
    [
      ['active', 'consumer', 'Stable', 'classic'],
      ['dormant', '', 'Empty', 'classic'],
    ],
  );
  t.deepEqual(h.coordinator.listGroups({ states: ['empty'] }).map((g) => g.groupId), ['dormant']);
  t.deepEqual(h.coordinator.listGroups({ types: ['consumer'] }), []);
  t.deepEqual(h.coordinator.describeGroup('dormant'), { errorCode: 0, groupId: 'dormant', groupState: 'Empty', protocolType: '', protocolData: '', members: [] });
  t.deepEqual(h.coordinator.describeGroup('never-seen'), { errorCode: 0, groupId: 'never-seen', groupState: 'Dead', protocolType: '', protocolData: '', members: [] });

  t.deepEqual(await h.coordinator.deleteGroups(['active', 'dormant', 'never-seen', 'dormant']), [
    { groupId: 'active', errorCode: ErrorCode.NON_EMPTY_GROUP },
    { groupId: 'dormant', errorCode: ErrorCode.NONE },
    { groupId: 'never-seen', errorCode: ErrorCode.GROUP_ID_NOT_FOUND },
  ]);
  t.false(h.offsets.hasOffsets('dormant'));
  t.true(h.offsets.hasOffsets('active'));
  t.is(h.coordinator.groupState('dormant'), undefined);
});

test('close answers every waiting JoinGroup with NOT_COORDINATOR and stops the tick', async (t) => {
  const h = harness({ groupInitialRebalanceDelayMs: 3_000 });
  const waitingJoin = h.coordinator.joinGroup(joinParams({ groupId: 'slow' }));
  t.false(await settled(waitingJoin));
  t.true(h.ticker.running);
  await h.coordinator.close();
  t.is((await waitingJoin).errorCode, ErrorCode.NOT_COORDINATOR);
  t.false(h.ticker.running);
  t.is(h.coordinator.heartbeat({ groupId: 'slow', generationId: 0, memberId: (await waitingJoin).memberId, groupInstanceId: null }), ErrorCode.NOT_COORDINATOR);
  t.is((await h.coordinator.joinGroup(joinParams())).errorCode, ErrorCode.NOT_COORDINATOR);
  t.is(h.coordinator.validateOffsetCommit('slow', '', -1, null), ErrorCode.NOT_COORDINATOR);
});

test('close answers a waiting SyncGroup', async (t) => {
  const h = harness();
  const first = await h.coordinator.joinGroup(joinParams());
  const [follower] = await Promise.all([h.coordinator.joinGroup(joinParams({ clientId: 'f' })), h.coordinator.joinGroup(joinParams({ memberId: first.memberId }))]);
  const waiting = h.coordinator.syncGroup({ groupId: 'g', generationId: follower!.generationId, memberId: follower!.memberId, groupInstanceId: null, protocolType: null, protocolName: null, assignments: [] });
  t.false(await settled(waiting));
  await h.coordinator.close();
  t.is((await waiting).errorCode, ErrorCode.NOT_COORDINATOR);
});
