/**
 * What happens to a group after its last member leaves, as in Kafka: it stays, Empty, with its
 * protocol type ("consumer", protocol ""), listed and described, for as long as it has committed
 * offsets; without offsets it is forgotten at the next periodic cleanup
 * (offsets.retention.check.interval.ms), not at once. First on the coordinator alone in virtual
 * time, then over the wire with kafkajs.
 */
import test from 'ava';
import { pino } from 'pino';
import { ManualClock } from '@defter/log';
import { ErrorCode, Writer } from '@defter/protocol';
import { defaultBrokerConfig } from '../src/config.js';
import { GroupCoordinator } from '../src/group/group-coordinator.js';
import type { JoinGroupParams } from '../src/group/group-requests.js';
import { ManualTicker, MemoryOffsets } from './helpers/virtual-time.js';
import { kafkaFor, waitUntil } from './helpers/group-consumers.js';
import { startTestBroker } from './helpers/test-broker.js';

const CLEANUP_INTERVAL_MS = 60_000;

function harness() {
  const clock = new ManualClock(1_000_000);
  const ticker = new ManualTicker();
  const offsets = new MemoryOffsets();
  const coordinator = new GroupCoordinator({
    config: { ...defaultBrokerConfig, groupInitialRebalanceDelayMs: 0, offsetsRetentionCheckIntervalMs: CLEANUP_INTERVAL_MS },
    clock,
    logger: pino({ level: 'silent' }),
    offsets,
    ticker,
    tickIntervalMs: 10,
  });
  const advance = (ms: number) => {
    clock.advance(ms);
    ticker.tick();
  };
  return { coordinator, clock, ticker, offsets, advance };
}

function subscription(topic: string): Buffer {
  return new Writer().int16(0).arrayLength(1).string(topic).nullableBytes(null).finish();
}

function joinParams(groupId: string, overrides: Partial<JoinGroupParams> = {}): JoinGroupParams {
  return {
    groupId,
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

/** One member joins `groupId` and syncs: a Stable group of one. */
async function soloGroup(coordinator: GroupCoordinator, groupId: string): Promise<{ memberId: string; generationId: number }> {
  const joined = await coordinator.joinGroup(joinParams(groupId));
  const synced = await coordinator.syncGroup({
    groupId,
    generationId: joined.generationId,
    memberId: joined.memberId,
    groupInstanceId: null,
    protocolType: null,
    protocolName: null,
    assignments: [{ memberId: joined.memberId, assignment: Buffer.from('mine') }],
  });
  if (joined.errorCode !== ErrorCode.NONE || synced.errorCode !== ErrorCode.NONE) throw new Error(`group ${groupId} did not form`);
  return { memberId: joined.memberId, generationId: joined.generationId };
}

const listed = (coordinator: GroupCoordinator) => coordinator.listGroups().map((g) => [g.groupId, g.protocolType, g.state]).sort();

test('after the last member leaves, the group stays Empty with its protocol type while it has offsets; without, until the next cleanup', async (t) => {
  const h = harness();
  const kept = await soloGroup(h.coordinator, 'kept');
  const passing = await soloGroup(h.coordinator, 'passing');
  h.offsets.groups.add('kept');
  for (const [groupId, member] of [['kept', kept], ['passing', passing]] as const) {
    t.deepEqual(h.coordinator.leaveGroup(groupId, [{ memberId: member.memberId, groupInstanceId: null }]).members.map((m) => m.errorCode), [ErrorCode.NONE]);
  }

  // Right after leaving: both Empty, both still "consumer" groups, no protocol, no members.
  t.deepEqual(h.coordinator.describeGroup('kept'), { errorCode: ErrorCode.NONE, groupId: 'kept', groupState: 'Empty', protocolType: 'consumer', protocolData: '', members: [] });
  t.deepEqual(h.coordinator.describeGroup('passing'), { errorCode: ErrorCode.NONE, groupId: 'passing', groupState: 'Empty', protocolType: 'consumer', protocolData: '', members: [] });
  t.deepEqual(listed(h.coordinator), [['kept', 'consumer', 'Empty'], ['passing', 'consumer', 'Empty']]);
  t.deepEqual(h.coordinator.listGroups({ states: ['Empty'] }).map((g) => g.groupId).sort(), ['kept', 'passing']);
  t.is(h.coordinator.groupState('passing'), 'Empty');
  // The old member and generation are gone: a commit with them is refused, a "simple" one is not.
  t.is(h.coordinator.validateOffsetCommit('passing', passing.memberId, passing.generationId, null), ErrorCode.UNKNOWN_MEMBER_ID);
  t.is(h.coordinator.validateOffsetCommit('passing', '', -1, null), ErrorCode.NONE);
  t.is(h.coordinator.heartbeat({ groupId: 'passing', generationId: passing.generationId, memberId: passing.memberId, groupInstanceId: null }), ErrorCode.UNKNOWN_MEMBER_ID);

  // Just before the cleanup: unchanged. At the cleanup: the group without offsets is forgotten.
  h.advance(CLEANUP_INTERVAL_MS - 20);
  t.deepEqual(listed(h.coordinator), [['kept', 'consumer', 'Empty'], ['passing', 'consumer', 'Empty']]);
  h.advance(30);
  t.deepEqual(listed(h.coordinator), [['kept', 'consumer', 'Empty']]);
  t.is(h.coordinator.groupState('passing'), undefined);
  t.is(h.coordinator.describeGroup('passing').groupState, 'Dead');

  // The group with offsets survives further cleanups, with its protocol type.
  h.advance(CLEANUP_INTERVAL_MS + 10);
  h.advance(CLEANUP_INTERVAL_MS + 10);
  t.deepEqual(h.coordinator.describeGroup('kept').protocolType, 'consumer');
  t.true(h.ticker.running, 'a cleanup stays scheduled while an Empty group is kept');

  // Its offsets expire: it goes at the next cleanup, and the tick stops.
  h.offsets.groups.delete('kept');
  t.is(h.coordinator.groupState('kept'), 'Empty', 'listed until the cleanup after its offsets are gone');
  h.advance(CLEANUP_INTERVAL_MS + 10);
  t.deepEqual(listed(h.coordinator), []);
  t.deepEqual(h.coordinator.groupCounts(), { Empty: 0, PreparingRebalance: 0, CompletingRebalance: 0, Stable: 0, Dead: 0 });
  t.false(h.ticker.running, 'nothing armed once no Empty group is left');
});

test('an Empty group accepts a new first member of any protocol type, which then becomes the group type', async (t) => {
  const h = harness();
  const first = await soloGroup(h.coordinator, 'g');
  h.coordinator.leaveGroup('g', [{ memberId: first.memberId, groupInstanceId: null }]);
  t.is(h.coordinator.describeGroup('g').protocolType, 'consumer');
  const joined = await h.coordinator.joinGroup(joinParams('g', { protocolType: 'connect', protocols: [{ name: 'sessioned', metadata: Buffer.from('x') }] }));
  t.deepEqual([joined.errorCode, joined.protocolType, joined.protocolName, joined.generationId], [ErrorCode.NONE, 'connect', 'sessioned', first.generationId + 2]);
  // While it has a member of that type, another type is refused.
  const other = await h.coordinator.joinGroup(joinParams('g'));
  t.is(other.errorCode, ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  t.deepEqual(listed(h.coordinator), [['g', 'connect', 'CompletingRebalance']]);
});

test('a group emptied by session expiry is kept Empty the same way, and DeleteGroups removes it at once', async (t) => {
  const h = harness();
  await soloGroup(h.coordinator, 'expiring');
  h.advance(10_010);
  t.deepEqual(h.coordinator.describeGroup('expiring'), { errorCode: ErrorCode.NONE, groupId: 'expiring', groupState: 'Empty', protocolType: 'consumer', protocolData: '', members: [] });
  t.deepEqual(await h.coordinator.deleteGroups(['expiring']), [{ groupId: 'expiring', errorCode: ErrorCode.NONE }]);
  t.deepEqual(listed(h.coordinator), []);
  t.deepEqual(await h.coordinator.deleteGroups(['expiring']), [{ groupId: 'expiring', errorCode: ErrorCode.GROUP_ID_NOT_FOUND }]);
});

test('kafkajs: a consumer that committed and left leaves an Empty "consumer" group listed; one without commits is gone after the cleanup interval', async (t) => {
  const cleanupIntervalMs = 1_000;
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0, offsetsRetentionCheckIntervalMs: cleanupIntervalMs });
  const topic = 'empties';
  await broker.broker.context.metadata.createTopic(topic, 1, {});
  const kafka = kafkaFor(broker.bootstrap, 'empty-test');
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ value: 'one' }, { value: 'two' }] });
  await producer.disconnect();

  // 'committed' reads both records and commits; 'idle' subscribes to a topic nobody writes.
  await broker.broker.context.metadata.createTopic('silent', 1, {});
  for (const [groupId, subscribed] of [['committed', topic], ['idle', 'silent']] as const) {
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 300, maxWaitTimeInMs: 100 });
    t.teardown(() => consumer.disconnect());
    let seen = 0;
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
    await consumer.connect();
    await consumer.subscribe({ topic: subscribed, fromBeginning: true });
    await consumer.run({ autoCommit: true, eachMessage: async () => void seen++ });
    await waitUntil(() => joined && (subscribed === 'silent' || seen === 2), 20_000, () => `${groupId}: joined ${joined}, seen ${seen}`);
    await consumer.disconnect(); // commits, then LeaveGroup
  }
  const admin = kafka.admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  const leftAtMs = Date.now();
  const { groups } = await admin.describeGroups(['committed', 'idle']);
  t.deepEqual(
    groups.map((g) => [g.groupId, g.state, g.protocolType, g.protocol, g.members.length]),
    [
      ['committed', 'Empty', 'consumer', '', 0],
      ['idle', 'Empty', 'consumer', '', 0],
    ],
  );
  if (Date.now() - leftAtMs < cleanupIntervalMs / 2) {
    // Still well within the cleanup interval: both are listed.
    t.deepEqual((await admin.listGroups()).groups.map((g) => [g.groupId, g.protocolType]).sort(), [['committed', 'consumer'], ['idle', 'consumer']]);
  }
  await waitUntil(async () => (await admin.listGroups()).groups.length === 1, 3 * cleanupIntervalMs, () => 'the idle group is still listed', 100);
  t.deepEqual((await admin.listGroups()).groups, [{ groupId: 'committed', protocolType: 'consumer' }]);
  t.deepEqual((await admin.fetchOffsets({ groupId: 'committed', topics: [topic] }))[0]!.partitions.map((p) => p.offset), ['2']);
  t.is((await admin.describeGroups(['idle'])).groups[0]!.state, 'Dead');
});
