/**
 * Restarts: whatever the broker acknowledged is there after it comes back on the same directory,
 * at the same offsets — after a graceful close, and after SIGKILL in the middle of producing.
 */
import test from 'ava';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { startBroker } from '../src/index.js';
import { spawnChildBroker } from './helpers/child-broker.js';
import { kcatConsumeAll, kcatProduce } from './helpers/kcat.js';
import { checkConsumed, keyedLines, type ConsumedLine } from './helpers/keyed-lines.js';
import { hasCommand, killQuietly } from './helpers/processes.js';
import { startTestBroker, tempDir } from './helpers/test-broker.js';

const kcatTest = hasCommand('kcat') ? test : test.skip;

interface Acknowledged {
  readonly partition: number;
  readonly offset: number;
  readonly key: string;
  readonly value: string;
}

async function connectedProducer(bootstrap: string): Promise<Producer> {
  const kafka = new Kafka({ clientId: 'restart-test', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 0 } });
  await producer.connect();
  return producer;
}

/** Sends one acks=-1 batch of `values` to `partition`; returns each message's acknowledged offset. */
async function sendBatch(producer: Producer, topic: string, partition: number, values: readonly string[]): Promise<Acknowledged[]> {
  const [metadata] = await producer.send({
    topic,
    acks: -1,
    messages: values.map((value) => ({ key: value.slice(0, value.indexOf('.')), value, partition })),
  });
  const baseOffset = Number(metadata!.baseOffset);
  return values.map((value, i) => ({ partition, offset: baseOffset + i, key: value.slice(0, value.indexOf('.')), value }));
}

function missing(acknowledged: readonly Acknowledged[], found: readonly ConsumedLine[]): Acknowledged[] {
  const valueAt = new Map(found.map((line) => [`${line.partition}@${line.offset}`, line.value]));
  return acknowledged.filter((ack) => valueAt.get(`${ack.partition}@${ack.offset}`) !== ack.value);
}

kcatTest('after a graceful stop everything acknowledged is there at the same offsets', async (t) => {
  const dataDir = await tempDir(t);
  const first = await startTestBroker(t, { dataDir });
  await first.broker.context.metadata.createTopic('durable', 3, {});

  const producer = await connectedProducer(first.bootstrap);
  const acknowledged: Acknowledged[] = [];
  for (let round = 0; round < 10; round += 1) {
    for (let partition = 0; partition < 3; partition += 1) {
      const values = Array.from({ length: 40 }, (_, i) => `kafkajs-${partition}.${round * 40 + i}`);
      acknowledged.push(...(await sendBatch(producer, 'durable', partition, values)));
    }
  }
  await producer.disconnect();
  await kcatProduce(t, first.bootstrap, 'durable', keyedLines(3_000, 31), '-X', 'partitioner=murmur2_random');
  const before = await kcatConsumeAll(t, first.bootstrap, 'durable');
  t.is(before.length, acknowledged.length + 3_000);
  t.deepEqual(missing(acknowledged, before), [], 'kafkajs acknowledgements are readable before the restart');
  await first.broker.close();

  const second = await startBroker({ dataDir, port: 0, host: '127.0.0.1', logLevel: 'warn' });
  t.teardown(() => second.close());
  const after = await kcatConsumeAll(t, `127.0.0.1:${second.port}`, 'durable');
  const byPosition = (a: ConsumedLine, b: ConsumedLine) => a.partition - b.partition || a.offset - b.offset;
  t.deepEqual([...after].sort(byPosition), [...before].sort(byPosition), 'the same records at the same offsets');
  t.deepEqual(checkConsumed(after).sparsePartitions, []);
  t.deepEqual(second.context.metadata.topic('durable')?.partitions, 3, 'the topic keeps its partitions');

  // The log goes on from where it was: the next write gets the next offset.
  const again = await connectedProducer(`127.0.0.1:${second.port}`);
  const [next] = await sendBatch(again, 'durable', 0, ['kafkajs-0.after']);
  await again.disconnect();
  const endOfPartition0 = before.filter((line) => line.partition === 0).length;
  t.is(next!.offset, endOfPartition0, 'offsets are never reused');
});

kcatTest('after SIGKILL in the middle of producing everything acknowledged is there', async (t) => {
  const dataDir = await tempDir(t);
  const partitions = 4;
  const first = await spawnChildBroker(t, dataDir, [`crash:${partitions}`]);
  const producer = await connectedProducer(first.bootstrap);
  const acknowledged: Acknowledged[] = [];
  let failedSends = 0;
  let stop = false;
  // Producers on every partition keep sending acks=-1 batches until the broker dies under them.
  const loops = Array.from({ length: partitions }, async (_, partition) => {
    for (let batch = 0; !stop; batch += 1) {
      const values = Array.from({ length: 25 }, (_, i) => `p${partition}.${batch * 25 + i}`);
      try {
        acknowledged.push(...(await sendBatch(producer, 'crash', partition, values)));
      } catch {
        failedSends += 1;
        return;
      }
    }
  });
  const killAfter = new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (acknowledged.length >= 4_000) {
        clearInterval(check);
        killQuietly(first.child);
        resolve();
      }
    }, 5);
  });
  await killAfter;
  const exit = await first.exited;
  stop = true;
  await Promise.all(loops);
  await producer.disconnect().catch(() => undefined);
  t.is(exit.signal, 'SIGKILL');
  t.log(`${acknowledged.length} messages acknowledged before the kill; ${failedSends} sends cut off`);

  const second = await spawnChildBroker(t, dataDir);
  const found = await kcatConsumeAll(t, second.bootstrap, 'crash');
  t.deepEqual(missing(acknowledged, found).slice(0, 5), [], 'every acknowledged message is at its offset');
  t.true(found.length >= acknowledged.length);
  const check = checkConsumed(found);
  t.deepEqual(check.sparsePartitions, [], 'offsets stay dense after recovery');
  t.deepEqual(check.reorderedKeys, [], 'and in produce order');
  t.is(new Set(found.map((line) => line.value)).size, found.length, 'no record appears twice');
  killQuietly(second.child, 'SIGTERM');
  t.is((await second.exited).code, 0, 'the restarted broker stops cleanly on SIGTERM');
});
