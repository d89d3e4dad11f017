/**
 * kafkajs 2.2.4 consumer groups against the broker: three members sharing a six-partition topic,
 * each record consumed once with clean commits; a member that crashes (SIGKILL, no LeaveGroup) has
 * its partitions taken over within the session timeout; a restarted consumer resumes from the
 * committed offsets; a commit from an old generation is refused. And the issue-3 consumer items that
 * waited for groups: keys and headers, and seek.
 */
import test from 'ava';
import { ApiKey, ErrorCode, Writer } from '@defter/protocol';
import {
  ADMIN_POLL_MS,
  Ledger,
  assignmentProblems,
  commitsCaughtUp,
  committedOffsets,
  kafkaFor,
  produceSpread,
  spawnKafkajsMember,
  startKafkajsMember,
  waitUntil,
  type GroupMemberView,
} from './helpers/group-consumers.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestBroker } from './helpers/test-broker.js';

const PARTITIONS = 6;
const WAIT_MS = 30_000;

function describeMembers(members: readonly GroupMemberView[]): string {
  return members.map((member) => `${member.name}: ${JSON.stringify(member.assignment)} (joins ${member.joins})`).join('; ');
}

test('three kafkajs consumers share a 6-partition topic: every record consumed once, every offset committed', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 300 });
  const topic = 'shared';
  await broker.broker.context.metadata.createTopic(topic, PARTITIONS, {});
  const kafka = kafkaFor(broker.bootstrap);
  const ledger = new Ledger();
  const members = await Promise.all(
    ['a', 'b', 'c'].map((name) => startKafkajsMember(t, { bootstrap: broker.bootstrap, groupId: 'three', topic, name, ledger })),
  );
  await waitUntil(
    () => members.every((member) => member.assignment !== undefined) && assignmentProblems(members.map((m) => m.assignment), topic, PARTITIONS).length === 0,
    WAIT_MS,
    () => describeMembers(members),
  );
  for (const member of members) t.is(member.assignment![topic]!.length, 2, `${member.name} holds two of six partitions`);

  const produced = await produceSpread(kafka, topic, PARTITIONS, 600, 'r');
  await waitUntil(() => ledger.distinct() === produced.length, WAIT_MS, () => `${ledger.distinct()} of ${produced.length} consumed`);
  await waitUntil(() => commitsCaughtUp(kafka, 'three', topic), WAIT_MS, () => 'commits behind the high watermarks', ADMIN_POLL_MS);
  t.deepEqual(ledger.duplicates(), [], 'no record consumed twice');
  t.deepEqual(ledger.missing(produced), []);
  t.is(ledger.size, 600);
  // Each member read only the partitions it was given.
  for (const member of members) {
    const foreign = ledger.records.filter((record) => record.member === member.name && !member.assignment![topic]!.includes(record.partition));
    t.deepEqual(foreign.slice(0, 3), [], `${member.name} read only its own partitions`);
  }
  t.deepEqual([...(await committedOffsets(kafka, 'three', topic))].sort(([a], [b]) => a - b), Array.from({ length: PARTITIONS }, (_, p) => [p, 100]));
});

test('a crashed member is replaced within the session timeout, and a restarted consumer resumes from the commits', async (t) => {
  const sessionTimeoutMs = 4_000;
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 300, groupMinSessionTimeoutMs: 1_000 });
  const topic = 'crash';
  const groupId = 'crash-group';
  await broker.broker.context.metadata.createTopic(topic, PARTITIONS, {});
  const kafka = kafkaFor(broker.bootstrap);
  const ledger = new Ledger();
  const options = { bootstrap: broker.bootstrap, groupId, topic, ledger, sessionTimeoutMs };
  const doomed = await spawnKafkajsMember(t, { ...options, name: 'doomed' });
  const survivors = await Promise.all(['s1', 's2'].map((name) => startKafkajsMember(t, { ...options, name })));
  const all = [doomed, ...survivors];
  await waitUntil(
    () => survivors.every((member) => member.assignment !== undefined) && assignmentProblems(all.map((m) => m.assignment), topic, PARTITIONS).length === 0,
    WAIT_MS,
    () => describeMembers(all),
  );
  const doomedPartitions = [...doomed.assignment![topic]!];
  t.is(doomedPartitions.length, 2);

  // Phase 1: everything consumed and committed before the crash, so the crash loses nothing and repeats nothing.
  const phase1 = await produceSpread(kafka, topic, PARTITIONS, 120, 'p1');
  await waitUntil(() => ledger.distinct() === 120, WAIT_MS, () => `${ledger.distinct()} of 120 consumed`);
  await waitUntil(() => commitsCaughtUp(kafka, groupId, topic), WAIT_MS, () => 'phase 1 commits behind', ADMIN_POLL_MS);
  t.true(ledger.records.some((record) => record.member === 'doomed'), 'the doomed member consumed its share');

  doomed.child.kill('SIGKILL');
  const killedAt = Date.now();
  const phase2 = await produceSpread(kafka, topic, PARTITIONS, 120, 'p2');
  await waitUntil(
    () => assignmentProblems(survivors.map((m) => m.assignment), topic, PARTITIONS).length === 0,
    sessionTimeoutMs + WAIT_MS,
    () => describeMembers(survivors),
  );
  const takeoverMs = Math.max(...survivors.map((member) => member.lastJoinAt)) - killedAt;
  t.log(`survivors took over ${takeoverMs} ms after the SIGKILL (session timeout ${sessionTimeoutMs} ms)`);
  t.true(takeoverMs <= sessionTimeoutMs + 3_000, `takeover within the session timeout plus a rebalance: ${takeoverMs} ms`);
  await waitUntil(() => ledger.distinct() === 240, WAIT_MS, () => `${ledger.distinct()} of 240 consumed`);
  await waitUntil(() => commitsCaughtUp(kafka, groupId, topic), WAIT_MS, () => 'phase 2 commits behind', ADMIN_POLL_MS);
  t.deepEqual(ledger.duplicates(), [], 'nothing consumed twice across the crash');
  t.deepEqual(ledger.missing([...phase1, ...phase2]), []);
  const phase2OnDoomedPartitions = ledger.records.filter((record) => record.value.startsWith('p2-') && doomedPartitions.includes(record.partition));
  t.true(phase2OnDoomedPartitions.length > 0 && phase2OnDoomedPartitions.every((record) => record.member !== 'doomed'));

  // Everyone leaves; new records arrive; a new consumer of the group starts where the group left off.
  await Promise.all(survivors.map((member) => member.stop()));
  const phase3 = await produceSpread(kafka, topic, PARTITIONS, 60, 'p3');
  const resumed = new Ledger();
  await startKafkajsMember(t, { ...options, ledger: resumed, name: 'restarted', fromBeginning: true });
  await waitUntil(() => resumed.distinct() >= 60, WAIT_MS, () => `${resumed.distinct()} of 60 consumed after the restart`);
  await waitUntil(() => commitsCaughtUp(kafka, groupId, topic), WAIT_MS, () => 'phase 3 commits behind', ADMIN_POLL_MS);
  t.deepEqual(
    resumed.records.map((record) => record.value).sort(),
    phase3.map((_, i) => `p3-${i}`).sort(),
    'exactly the records produced since the last commit, not the topic from the beginning',
  );
});

/** A ConsumerProtocolSubscription v0 of one topic: version, topics, null user data. */
function subscription(topic: string): Buffer {
  return new Writer().int16(0).arrayLength(1).string(topic).nullableBytes(null).finish();
}

/** A ConsumerProtocolAssignment v0 of some partitions of one topic. */
function assignmentOf(topic: string, partitions: readonly number[]): Buffer {
  const writer = new Writer().int16(0).arrayLength(1).string(topic).arrayLength(partitions.length);
  for (const partition of partitions) writer.int32(partition);
  return writer.nullableBytes(null).finish();
}

const JOIN_VERSION = 5;
const SYNC_VERSION = 3;
const HEARTBEAT_VERSION = 3;
const COMMIT_VERSION = 7;

async function join(client: RawClient, groupId: string, topic: string, memberId: string): Promise<{ errorCode: number; memberId: string; generationId: number; leader: string }> {
  const { body } = await client.request(
    ApiKey.JoinGroup,
    JOIN_VERSION,
    {
      groupId,
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId,
      groupInstanceId: null,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: subscription(topic) }],
    },
    { timeoutMs: 15_000 },
  );
  return body;
}

/** JoinGroup with the MEMBER_ID_REQUIRED round trip done. */
async function joinAsNewMember(client: RawClient, groupId: string, topic: string): Promise<{ memberId: string; generationId: number; leader: string }> {
  const first = await join(client, groupId, topic, '');
  if (first.errorCode !== ErrorCode.MEMBER_ID_REQUIRED) throw new Error(`expected MEMBER_ID_REQUIRED, got ${first.errorCode}`);
  const second = await join(client, groupId, topic, first.memberId);
  if (second.errorCode !== ErrorCode.NONE) throw new Error(`join failed with ${second.errorCode}`);
  return second;
}

async function commit(client: RawClient, groupId: string, memberId: string, generationId: number, topic: string, offset: bigint): Promise<number> {
  const { body } = await client.request(ApiKey.OffsetCommit, COMMIT_VERSION, {
    groupId,
    generationIdOrMemberEpoch: generationId,
    memberId,
    groupInstanceId: null,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: 'raw' }] }],
  });
  return body.topics[0]!.partitions[0]!.errorCode;
}

test('an OffsetCommit from the generation before a rebalance is refused with ILLEGAL_GENERATION', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0 });
  const topic = 'generations';
  const groupId = 'generations';
  await broker.broker.context.metadata.createTopic(topic, 2, {});
  const first = await RawClient.connect(broker.port);
  const second = await RawClient.connect(broker.port);
  t.teardown(() => {
    first.close();
    second.close();
  });

  const a = await joinAsNewMember(first, groupId, topic);
  t.is(a.leader, a.memberId, 'the only member leads');
  const sync1 = await first.request(ApiKey.SyncGroup, SYNC_VERSION, {
    groupId,
    generationId: a.generationId,
    memberId: a.memberId,
    groupInstanceId: null,
    assignments: [{ memberId: a.memberId, assignment: assignmentOf(topic, [0, 1]) }],
  });
  t.is(sync1.body.errorCode, ErrorCode.NONE);
  t.is(await commit(first, groupId, a.memberId, a.generationId, topic, 5n), ErrorCode.NONE, 'the current generation commits');

  // A second member joins: the group rebalances and A learns of it from its heartbeat.
  const joiningB = (async () => {
    const firstTry = await join(second, groupId, topic, '');
    return join(second, groupId, topic, firstTry.memberId);
  })();
  await waitUntil(
    async () => (await first.request(ApiKey.Heartbeat, HEARTBEAT_VERSION, { groupId, generationId: a.generationId, memberId: a.memberId, groupInstanceId: null })).body.errorCode === ErrorCode.REBALANCE_IN_PROGRESS,
    10_000,
    () => 'the heartbeat never reported the rebalance',
  );
  const [aAgain, b] = await Promise.all([join(first, groupId, topic, a.memberId), joiningB]);
  t.is(aAgain.errorCode, ErrorCode.NONE);
  t.is(b.errorCode, ErrorCode.NONE);
  t.is(aAgain.generationId, b.generationId);
  t.true(aAgain.generationId > a.generationId, 'a new generation');
  const leader = aAgain.leader === a.memberId ? first : second;
  const leaderId = aAgain.leader;
  const followerId = leaderId === a.memberId ? b.memberId : a.memberId;
  const follower = leader === first ? second : first;
  const [leaderSync, followerSync] = await Promise.all([
    leader.request(ApiKey.SyncGroup, SYNC_VERSION, {
      groupId,
      generationId: aAgain.generationId,
      memberId: leaderId,
      groupInstanceId: null,
      assignments: [
        { memberId: leaderId, assignment: assignmentOf(topic, [0]) },
        { memberId: followerId, assignment: assignmentOf(topic, [1]) },
      ],
    }),
    follower.request(ApiKey.SyncGroup, SYNC_VERSION, { groupId, generationId: aAgain.generationId, memberId: followerId, groupInstanceId: null, assignments: [] }),
  ]);
  t.is(leaderSync.body.errorCode, ErrorCode.NONE);
  t.is(followerSync.body.errorCode, ErrorCode.NONE);

  t.is(await commit(first, groupId, a.memberId, a.generationId, topic, 9n), ErrorCode.ILLEGAL_GENERATION, 'the old generation is fenced');
  const kafka = kafkaFor(broker.bootstrap);
  t.is((await committedOffsets(kafka, groupId, topic)).get(0), 5, 'the refused commit changed nothing');
  t.is(await commit(first, groupId, a.memberId, aAgain.generationId, topic, 9n), ErrorCode.NONE, 'the new generation commits');
  t.is((await committedOffsets(kafka, groupId, topic)).get(0), 9);
});

test('kafkajs consumes keys and headers through a group', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0 });
  const topic = 'keyed';
  await broker.broker.context.metadata.createTopic(topic, 3, {});
  const kafka = kafkaFor(broker.bootstrap);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  t.teardown(() => producer.disconnect());
  const sent = Array.from({ length: 30 }, (_, i) => ({
    key: `user-${i % 4}`,
    value: `event-${i}`,
    headers: { trace: `t-${i}`, source: i % 2 === 0 ? 'even' : 'odd' },
  }));
  await producer.send({ topic, acks: -1, messages: sent });

  const ledger = new Ledger();
  await startKafkajsMember(t, { bootstrap: broker.bootstrap, groupId: 'keyed-readers', topic, name: 'reader', ledger, fromBeginning: true });
  await waitUntil(() => ledger.size >= 30, WAIT_MS, () => `${ledger.size} of 30 consumed`);
  const received = [...ledger.records].sort((a, b) => Number(a.value.slice(6)) - Number(b.value.slice(6)));
  t.deepEqual(
    received.map(({ key, value, headers }) => ({ key, value, headers })),
    sent.map(({ key, value, headers }) => ({ key, value, headers })),
  );
  // A key always lands in one partition (kafkajs's murmur2 partitioner), and is read in order there.
  for (const key of ['user-0', 'user-1', 'user-2', 'user-3']) {
    const ofKey = ledger.records.filter((record) => record.key === key);
    t.is(new Set(ofKey.map((record) => record.partition)).size, 1, `${key} in one partition`);
    const sequence = ofKey.map((record) => Number(record.value.slice(6)));
    t.deepEqual(sequence, [...sequence].sort((a, b) => a - b), `${key} in produce order`);
  }
});

test('kafkajs seek moves a running group member to an offset', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0 });
  const topic = 'seekable';
  await broker.broker.context.metadata.createTopic(topic, 1, {});
  const kafka = kafkaFor(broker.bootstrap);
  await produceSpread(kafka, topic, 1, 20, 's');
  const ledger = new Ledger();
  const member = await startKafkajsMember(t, { bootstrap: broker.bootstrap, groupId: 'seekers', topic, name: 'seeker', ledger, fromBeginning: true });
  await waitUntil(() => ledger.size >= 20, WAIT_MS, () => `${ledger.size} of 20 consumed`);
  t.deepEqual(ledger.records.map((record) => record.offset), Array.from({ length: 20 }, (_, i) => i));

  member.consumer.seek({ topic, partition: 0, offset: '7' });
  await waitUntil(() => ledger.size >= 33, WAIT_MS, () => `${ledger.size - 20} of 13 consumed after the seek`);
  t.deepEqual(ledger.records.slice(20).map((record) => record.offset), Array.from({ length: 13 }, (_, i) => 7 + i), 'replayed from offset 7 to the end');
  t.deepEqual(ledger.records.slice(20).map((record) => record.value), Array.from({ length: 13 }, (_, i) => `s-${7 + i}`));
});
