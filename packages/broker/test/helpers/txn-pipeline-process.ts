/**
 * One consume–transform–produce processor in its own process, so that a test can SIGKILL it at
 * any moment: `node --import tsx txn-pipeline-process.ts BOOTSTRAP GROUP INPUT OUTPUT
 * TRANSACTIONAL_ID CHUNK SESSION_MS PAUSE_MS`. It reads INPUT in group GROUP (read_committed, no automatic
 * commits) and, for every CHUNK records of a fetched batch, runs one kafkajs transaction: the
 * records transformed (`transformValue`) to the same partition of OUTPUT, and the input offsets
 * (`sendOffsets`), then commit, printing a line after each of the three steps; then it pauses PAUSE_MS (its "processing time", so that a test's
 * kills land in the middle of the stream). It prints one JSON line per event (see `PipelineEvent`). Any error
 * ends the process with code 1: the test restarts it, as a supervisor would.
 */
import { Kafka, logLevel } from 'kafkajs';
import { transformValue, type PipelineEvent } from './txn-pipeline.js';

const [bootstrap, groupId, input, output, transactionalId, chunkArgument, sessionMsArgument, pauseMsArgument] = process.argv.slice(2);
if (pauseMsArgument === undefined) {
  process.stderr.write('usage: txn-pipeline-process.ts BOOTSTRAP GROUP INPUT OUTPUT TRANSACTIONAL_ID CHUNK SESSION_MS PAUSE_MS\n');
  process.exit(2);
}
const chunkSize = Number(chunkArgument);
const sessionTimeoutMs = Number(sessionMsArgument);
const pauseMs = Number(pauseMsArgument);
const print = (event: PipelineEvent) => process.stdout.write(`${JSON.stringify(event)}\n`);
const fail = (error: unknown) => {
  process.stderr.write(`pipeline failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
};
process.on('unhandledRejection', fail);

// TXN_PIPELINE_KAFKAJS_LOG=debug: kafkajs's debug log on stderr, for a stuck run.
const debug = process.env['TXN_PIPELINE_KAFKAJS_LOG'] === 'debug';
const logCreator = () => (entry: { namespace: string; level: number; log: object }) => process.stderr.write(`${JSON.stringify({ namespace: entry.namespace, ...entry.log })}\n`);
const kafka = new Kafka({ clientId: transactionalId, brokers: [bootstrap!], logLevel: debug ? logLevel.DEBUG : logLevel.NOTHING, logCreator, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1_000 } });
const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 30_000, allowAutoTopicCreation: false });
await producer.connect();
// InitProducerId before the consumer reads its committed offsets: it fences a predecessor and
// waits until the predecessor's last transaction is complete (its offsets committed or dropped),
// so the offsets read next are the ones that match the output. (An empty transaction sends nothing.)
const fencing = await producer.transaction();
await fencing.abort();

const consumer = kafka.consumer({
  groupId: groupId!,
  sessionTimeout: sessionTimeoutMs,
  rebalanceTimeout: sessionTimeoutMs * 2,
  heartbeatInterval: Math.max(100, Math.floor(sessionTimeoutMs / 8)),
  maxWaitTimeInMs: 200,
  readUncommitted: false,
});
consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => print({ type: 'joined', assignment: payload.memberAssignment[input!] ?? [] }));
consumer.on(consumer.events.CRASH, ({ payload }) => fail(payload.error));
await consumer.connect();
await consumer.subscribe({ topic: input!, fromBeginning: true });
await consumer.run({
  autoCommit: false,
  eachBatchAutoResolve: false,
  eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
    for (let start = 0; start < batch.messages.length; start += chunkSize) {
      if (!isRunning() || isStale()) return;
      const chunk = batch.messages.slice(start, start + chunkSize);
      const nextOffset = String(Number(chunk.at(-1)!.offset) + 1);
      try {
        const transaction = await producer.transaction();
        await transaction.send({
          topic: output!,
          messages: chunk.map((message) => ({ key: message.key, value: transformValue(message.value?.toString() ?? ''), partition: batch.partition })),
        });
        print({ type: 'sent', records: chunk.length });
        await transaction.sendOffsets({ consumerGroupId: groupId!, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: nextOffset }] }] });
        print({ type: 'offsets', records: chunk.length });
        await transaction.commit();
      } catch (error) {
        // No retry in here: the process ends and its successor (fencing this one) starts from the committed offsets.
        fail(error);
      }
      resolveOffset(chunk.at(-1)!.offset);
      print({ type: 'committed', records: chunk.length });
      await heartbeat();
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  },
});
process.once('SIGTERM', () => {
  void Promise.all([consumer.disconnect(), producer.disconnect()]).then(() => process.exit(0));
});
