/**
 * A topic that grows while a group consumes it: the group rebalances so that the new partitions are
 * owned and read. Nothing in the coordinator watches topics — as in Kafka, the clients notice the
 * new partition count on a metadata refresh, the leader rejoins (a Stable leader's JoinGroup always
 * starts a rebalance) and computes an assignment over the four partitions.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import test, { type ExecutionContext } from 'ava';
import type { Consumer, Kafka } from 'kafkajs';
import { decodeConsumerAssignment } from '../src/group/consumer-protocol.js';
import { Ledger, assignmentProblems, kafkaFor, waitUntil, type Assignment, type Position } from './helpers/group-consumers.js';
import { killQuietly, pythonWith } from './helpers/processes.js';
import { startTestBroker } from './helpers/test-broker.js';

const WAIT_MS = 30_000;
/** How soon after the topic grows the group must own all four partitions. */
const REBALANCE_BOUND_MS = 10_000;

const confluentPython = pythonWith('confluent_kafka');
const confluentTest = confluentPython === undefined ? test.skip : test;

interface Member {
  readonly name: string;
  readonly consumer: Consumer;
  assignment: Assignment | undefined;
  joins: number;
}

async function startMember(t: ExecutionContext, kafka: Kafka, groupId: string, topic: string, name: string, ledger: Ledger): Promise<Member> {
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 300,
    rebalanceTimeout: 10_000,
    maxWaitTimeInMs: 200,
    // Short, so that the members see the new partition count soon after it changes.
    metadataMaxAge: 500,
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
  const member: Member = { name, consumer, assignment: undefined, joins: 0 };
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    member.assignment = payload.memberAssignment;
    member.joins += 1;
  });
  t.teardown(() => consumer.disconnect());
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: true,
    eachMessage: async ({ topic: from, partition, message }) => {
      ledger.add({ member: name, topic: from, partition, offset: Number(message.offset), key: null, value: message.value?.toString() ?? '', headers: {} });
    },
  });
  return member;
}

/** The group's assignments as DescribeGroups reports them, decoded from the consumer protocol. */
async function describedAssignments(kafka: Kafka, groupId: string): Promise<{ state: string; protocolType: string; assignments: Assignment[] }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [group] = (await admin.describeGroups([groupId])).groups;
    const assignments = group!.members.map((member) => {
      // Mid-rebalance a member has no assignment yet: zero bytes, as Kafka's admin client also treats it.
      if (member.memberAssignment.length === 0) return {};
      const decoded = decodeConsumerAssignment(member.memberAssignment);
      return Object.fromEntries(decoded.assignedPartitions.map(({ topic, partitions }) => [topic, [...partitions].sort((a, b) => a - b)]));
    });
    return { state: group!.state, protocolType: group!.protocolType, assignments };
  } finally {
    await admin.disconnect();
  }
}

/** Produces `perPartition` records to each of `partitions`; returns their positions. */
async function produceTo(kafka: Kafka, topic: string, partitions: readonly number[], perPartition: number, prefix: string): Promise<Position[]> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    const positions: Position[] = [];
    for (const partition of partitions) {
      const messages = Array.from({ length: perPartition }, (_, i) => ({ value: `${prefix}-${partition}-${i}` }));
      const [result] = await producer.send({ topic, acks: -1, messages: messages.map((message) => ({ ...message, partition })) });
      const base = Number(result!.baseOffset);
      for (let i = 0; i < perPartition; i++) positions.push({ topic, partition, offset: base + i });
    }
    return positions;
  } finally {
    await producer.disconnect();
  }
}

test('kafkajs: growing a topic from 2 to 4 partitions rebalances a live group of two over all 4, and the new partitions are read once', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 200 });
  const topic = 'grow';
  const groupId = 'grow-group';
  await broker.broker.context.metadata.createTopic(topic, 2, {});
  const kafka = kafkaFor(broker.bootstrap, 'grow-test');
  const ledger = new Ledger();
  const members = await Promise.all(['a', 'b'].map((name) => startMember(t, kafka, groupId, topic, name, ledger)));
  const view = () => members.map((m) => `${m.name}: ${JSON.stringify(m.assignment)} (joins ${m.joins})`).join('; ');
  await waitUntil(() => members.every((m) => (m.assignment?.[topic]?.length ?? 0) === 1) && assignmentProblems(members.map((m) => m.assignment), topic, 2).length === 0, WAIT_MS, view);
  const before = await produceTo(kafka, topic, [0, 1], 20, 'before');
  await waitUntil(() => ledger.distinct() === before.length, WAIT_MS, () => `${ledger.distinct()} of ${before.length} consumed`);

  const admin = kafka.admin();
  await admin.connect();
  await admin.createPartitions({ topicPartitions: [{ topic, count: 4 }] });
  await admin.disconnect();
  const grownAtMs = Date.now();

  // The group's own view (DescribeGroups) covers the four partitions, each with one owner.
  let described = await describedAssignments(kafka, groupId);
  const tookMs = await waitUntil(
    async () => {
      described = await describedAssignments(kafka, groupId);
      return described.state === 'Stable' && described.assignments.length === 2 && assignmentProblems(described.assignments, topic, 4).length === 0;
    },
    REBALANCE_BOUND_MS,
    () => `DescribeGroups: ${JSON.stringify(described)}; members: ${view()}`,
    250,
  );
  t.log(`the group covered 4 partitions ${Date.now() - grownAtMs} ms after the topic grew (poll ${tookMs} ms)`);
  t.is(described.protocolType, 'consumer');
  for (const assignment of described.assignments) t.is(assignment[topic]!.length, 2, 'two partitions each (range over 4)');
  // The members' own view agrees once their rejoin completed.
  await waitUntil(() => assignmentProblems(members.map((m) => m.assignment), topic, 4).length === 0, WAIT_MS, view);

  const after = await produceTo(kafka, topic, [2, 3], 25, 'after');
  const more = await produceTo(kafka, topic, [0, 1], 5, 'more');
  const expected = [...before, ...after, ...more];
  await waitUntil(() => ledger.distinct() === expected.length, WAIT_MS, () => `${ledger.distinct()} of ${expected.length} consumed`);
  await new Promise((resolve) => setTimeout(resolve, 500)); // time for a duplicate to show up
  t.deepEqual(ledger.missing(expected), []);
  t.deepEqual(ledger.duplicates(), [], 'no record consumed twice');
  t.is(ledger.size, expected.length);
  const ownerOf = (partition: number) => members.find((m) => m.assignment![topic]!.includes(partition))!.name;
  t.deepEqual(
    ledger.records.filter((r) => r.partition >= 2 && r.member !== ownerOf(r.partition)).slice(0, 3),
    [],
    'records of the new partitions read by their owners',
  );
});

/*
 * Two confluent-kafka (librdkafka) consumers in threads: once they share the two partitions, the
 * script grows the topic with the AdminClient, waits for the members' assignments to cover four
 * partitions, produces to all four and consumes. Prints one JSON object.
 */
const CONFLUENT_GROW_SCRIPT = String.raw`
import json, sys, threading, time
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewPartitions

bootstrap, topic, group, strategy = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
deadline = time.monotonic() + 60
lock = threading.Lock()
assignments, consumed, failures = {}, [], []
stop = threading.Event()

def member(name):
    consumer = Consumer({'bootstrap.servers': bootstrap, 'group.id': group, 'client.id': name,
        'enable.auto.commit': False, 'auto.offset.reset': 'earliest', 'session.timeout.ms': 6000,
        'heartbeat.interval.ms': 300, 'partition.assignment.strategy': strategy,
        'topic.metadata.refresh.interval.ms': 500})
    consumer.subscribe([topic])
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is not None:
                if message.error() is not None:
                    with lock: failures.append('%s: %s' % (name, message.error()))
                else:
                    with lock: consumed.append([name, message.partition(), message.offset(), message.value().decode()])
                    consumer.commit(message=message, asynchronous=False)
            with lock: assignments[name] = sorted(tp.partition for tp in consumer.assignment())
    except Exception as error:
        with lock: failures.append('%s: %r' % (name, error))
    finally:
        consumer.close()

def covers(n):
    with lock:
        owned = [p for name in ('m1', 'm2') for p in assignments.get(name, [])]
        return all(len(assignments.get(name, [])) > 0 for name in ('m1', 'm2')) and sorted(owned) == list(range(n))

def wait_for(check):
    while not check() and time.monotonic() < deadline: time.sleep(0.05)
    return check()

threads = [threading.Thread(target=member, args=(name,)) for name in ('m1', 'm2')]
for thread in threads: thread.start()
if not wait_for(lambda: covers(2)): failures.append('never shared 2 partitions: %r' % assignments)
admin = AdminClient({'bootstrap.servers': bootstrap})
admin.create_partitions([NewPartitions(topic, 4)])[topic].result(10)
grown = time.monotonic()
if not wait_for(lambda: covers(4)): failures.append('never covered 4 partitions: %r' % assignments)
rebalance_ms = int((time.monotonic() - grown) * 1000)
acknowledged = []
def on_delivery(error, message):
    if error is not None: failures.append('delivery: %s' % error)
    else: acknowledged.append([message.partition(), message.offset(), message.value().decode()])
producer = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'linger.ms': 5})
for i in range(200):
    producer.produce(topic, value='r-%d' % i, partition=i % 4, on_delivery=on_delivery)
    producer.poll(0)
producer.flush(30)
wait_for(lambda: len(consumed) >= len(acknowledged))
time.sleep(1.0)
with lock: final = dict(assignments)
stop.set()
for thread in threads: thread.join(30)
print(json.dumps({'assignments': final, 'acknowledged': acknowledged, 'consumed': consumed, 'failures': failures, 'rebalanceMs': rebalance_ms}))
`;

interface ConfluentGrowRun {
  assignments: Record<string, number[]>;
  acknowledged: Array<[number, number, string]>;
  consumed: Array<[string, number, number, string]>;
  failures: string[];
  rebalanceMs: number;
}

async function runConfluentGrow(t: ExecutionContext, strategy: string): Promise<void> {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 200 });
  const topic = `grow-${strategy}`;
  await broker.broker.context.metadata.createTopic(topic, 2, {});
  const child = spawn(confluentPython!, ['-c', CONFLUENT_GROW_SCRIPT, broker.bootstrap, topic, `${topic}-group`, strategy], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => killQuietly(child));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(code, 0, `the script failed: ${stderr.slice(-2000)}`);
  const run = JSON.parse(lines.at(-1)!) as ConfluentGrowRun;
  t.deepEqual(run.failures, []);
  t.log(`${strategy}: the members covered 4 partitions ${run.rebalanceMs} ms after the topic grew`);
  t.true(run.rebalanceMs < REBALANCE_BOUND_MS, `rebalanced in ${run.rebalanceMs} ms`);
  t.deepEqual(assignmentProblems(Object.values(run.assignments).map((partitions) => ({ [topic]: partitions })), topic, 4), []);
  t.is(run.acknowledged.length, 200);
  const at = (partition: number, offset: number) => `${partition}@${offset}`;
  const counts = new Map<string, number>();
  for (const [, partition, offset] of run.consumed) counts.set(at(partition, offset), (counts.get(at(partition, offset)) ?? 0) + 1);
  t.deepEqual([...counts].filter(([, n]) => n > 1), [], 'nothing consumed twice');
  t.deepEqual(run.acknowledged.map(([p, o]) => at(p, o)).filter((position) => !counts.has(position)), [], 'everything consumed');
  t.deepEqual([...new Set(run.consumed.map(([, partition]) => partition))].sort(), [0, 1, 2, 3]);
}

confluentTest('confluent-kafka-python (range): growing a topic from 2 to 4 partitions rebalances the group over all 4', async (t) => {
  await runConfluentGrow(t, 'range');
});

confluentTest('confluent-kafka-python (cooperative-sticky): growing a topic from 2 to 4 partitions rebalances the group over all 4', async (t) => {
  await runConfluentGrow(t, 'cooperative-sticky');
});
