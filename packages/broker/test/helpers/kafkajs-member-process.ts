/**
 * One kafkajs consumer-group member in its own process, so that a test can SIGKILL it like a crashed
 * consumer: `node --import tsx kafkajs-member-process.ts BOOTSTRAP GROUP TOPIC CLIENT_ID SESSION_MS
 * HEARTBEAT_MS`. It consumes TOPIC from the beginning with a commit after each batch and prints one
 * JSON line per event (see `MemberEvent` in group-consumers.ts): each join with its assignment,
 * each record, each committed offset.
 */
import { Kafka, logLevel } from 'kafkajs';

const [bootstrap, groupId, topic, clientId, sessionMs, heartbeatMs] = process.argv.slice(2);
if (heartbeatMs === undefined) {
  process.stderr.write('usage: kafkajs-member-process.ts BOOTSTRAP GROUP TOPIC CLIENT_ID SESSION_MS HEARTBEAT_MS\n');
  process.exit(2);
}

const print = (event: object) => process.stdout.write(`${JSON.stringify(event)}\n`);
const kafka = new Kafka({ clientId, brokers: [bootstrap!], logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1_000 } });
const consumer = kafka.consumer({ groupId: groupId!, sessionTimeout: Number(sessionMs), heartbeatInterval: Number(heartbeatMs), rebalanceTimeout: 10_000, maxWaitTimeInMs: 200 });
consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => print({ type: 'join', memberId: payload.memberId, assignment: payload.memberAssignment }));
consumer.on(consumer.events.COMMIT_OFFSETS, ({ payload }) => {
  for (const committed of payload.topics) {
    for (const { partition, offset } of committed.partitions) print({ type: 'commit', topic: committed.topic, partition: Number(partition), offset: Number(offset) });
  }
});
await consumer.connect();
await consumer.subscribe({ topic: topic!, fromBeginning: true });
await consumer.run({
  autoCommit: true,
  eachMessage: async ({ topic: from, partition, message }) => {
    print({ type: 'message', topic: from, partition, offset: Number(message.offset), key: message.key?.toString() ?? null, value: message.value?.toString() ?? '' });
  },
});
process.once('SIGTERM', () => {
  void consumer.disconnect().then(() => process.exit(0));
});
