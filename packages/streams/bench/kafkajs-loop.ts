/**
 * The baseline: the consume → transform → produce loop a careful kafkajs user writes by hand, doing
 * the streams rows' work on the same input. A group consumer's `eachBatch` parses each value,
 * applies the same transform and filter, and sends the batch's outputs in one `producer.send`
 * (idempotent producer, acks=all, as the app's); kafkajs then resolves the batch's last offset and,
 * with autoCommit (its default), commits it — after the send has resolved, so an offset is never
 * committed ahead of its outputs. Settings the app also has are set alike: fetch bytes per
 * partition and partitions handled at once.
 */
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { startCpuCount } from './cpu.js';
import { INPUT_TOPIC, TOPIC_PARTITIONS } from './bench-broker.js';
import { waitForCommitted, waitForOutput } from './offset-probe.js';
import type { RowOptions, RowTiming } from './streams-row.js';
import { billOrder, keepOrder, type Order } from './workload.js';

/** The app's defaults (`fetchMaxBytesPerPartition`, `partitionsConcurrentlyMax`), for a like-for-like loop. */
const FETCH_BYTES_PER_PARTITION_MAX = 1_048_576;
const PARTITIONS_CONCURRENTLY = 4;

export interface KafkajsLoopOptions extends RowOptions {
  readonly bootstrap: string;
  readonly groupId: string;
  /**
   * At most this many records per `producer.send` (the batch's outputs go out in several sends,
   * one after the other); undefined: one send per batch. kafkajs groups a send's messages by
   * partition by copying the partition's array for every message, so its cost grows with the
   * square of the records per send: smaller sends make the baseline faster.
   */
  readonly sendRecordsMax: number | undefined;
}

export async function runKafkajsLoop(options: KafkajsLoopOptions): Promise<RowTiming> {
  const kafka = new Kafka({ clientId: 'bench-kafkajs-loop', brokers: [options.bootstrap], logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  const consumer = kafka.consumer({ groupId: options.groupId, maxBytesPerPartition: FETCH_BYTES_PER_PARTITION_MAX, allowAutoTopicCreation: false });
  let crash: Error | undefined;
  consumer.on(consumer.events.CRASH, (event) => {
    crash = event.payload.error;
  });
  const completion = { probe: options.probe, pollIntervalMs: options.pollIntervalMs, timeoutMs: options.timeoutMs, failure: () => crash };
  try {
    const cpuSpent = startCpuCount(options.brokerPid);
    const started = performance.now();
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topic: INPUT_TOPIC, fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: PARTITIONS_CONCURRENTLY,
      eachBatch: async ({ batch }) => {
        const messages: Message[] = [];
        for (const message of batch.messages) {
          if (message.value === null) continue;
          const billed = billOrder(JSON.parse(message.value.toString('utf8')) as Order);
          if (!keepOrder(billed)) continue;
          messages.push({ key: message.key, value: Buffer.from(JSON.stringify(billed)), timestamp: message.timestamp });
        }
        const chunk = options.sendRecordsMax ?? Math.max(1, messages.length);
        for (let start = 0; start < messages.length; start += chunk) {
          await producer.send({ topic: options.outputTopic, acks: -1, messages: messages.slice(start, start + chunk) });
        }
      },
    });
    const outputOffsets = await waitForOutput(completion, options.outputTopic, TOPIC_PARTITIONS, options.expectedOutputRecords);
    await waitForCommitted(completion, options.groupId, INPUT_TOPIC, options.inputEndOffsets);
    const seconds = (performance.now() - started) / 1000;
    return { seconds, outputOffsets, ...cpuSpent() };
  } finally {
    await consumer.disconnect();
    await producer.disconnect();
  }
}
