/**
 * Fills the input topic: events serialized with `nexmarkEventSerde`, keyed by `eventKey`, each
 * record stamped with its event time (CreateTime), partitioned by murmur2 of the key bytes as a
 * Kafka client's default partitioner does, and sent through the log's own producer (idempotent,
 * acks=all) in large sends — one record batch per partition per send — with one send in flight
 * while the next is built.
 */
import { partitionForKey } from '@defter/broker';
import type { LogProducer, OutgoingRecord, StreamLog } from '../src/index.js';
import { nexmarkEventSerde } from './event-serde.js';
import { eventKey, type NexmarkEvent } from './model.js';

export const NEXMARK_EVENTS_TOPIC = 'nexmark-events';

export interface WriteEventsOptions {
  readonly topic?: string;
  readonly partitions: number;
  /** Records per producer send (default 20 000). */
  readonly sendRecordsMax?: number;
}

export interface WrittenEvents {
  readonly topic: string;
  /** Records written to each partition: the log end offsets of a fresh topic. */
  readonly recordsPerPartition: readonly number[];
}

/** The partition an event's record goes to. */
export function partitionOfEvent(event: NexmarkEvent, partitions: number): number {
  return partitionForKey(Buffer.from(eventKey(event)), partitions);
}

/**
 * Creates the topic (if missing; never-expiring retention, since generated event times may lie
 * far in the past) and writes every event. Resolves once all are acknowledged.
 */
export async function writeNexmarkEvents(log: StreamLog, events: Iterable<NexmarkEvent>, options: WriteEventsOptions): Promise<WrittenEvents> {
  const topic = options.topic ?? NEXMARK_EVENTS_TOPIC;
  const sendRecordsMax = options.sendRecordsMax ?? 20_000;
  if (!Number.isSafeInteger(options.partitions) || options.partitions < 1) throw new RangeError(`the events topic needs a whole number of partitions ≥ 1, not ${String(options.partitions)}`);
  if (!Number.isSafeInteger(sendRecordsMax) || sendRecordsMax < 1) throw new RangeError(`sendRecordsMax must be a whole number ≥ 1, not ${String(sendRecordsMax)}`);
  await log.connect();
  await log.createTopics([{ name: topic, partitions: options.partitions, configs: { 'retention.ms': '-1', 'message.timestamp.type': 'CreateTime' } }]);
  const serde = nexmarkEventSerde();
  const context = { topic, role: 'value' } as const;
  const recordsPerPartition = new Array<number>(options.partitions).fill(0);
  const producer: LogProducer = await log.createProducer({});
  try {
    let pending: OutgoingRecord[] = [];
    let inFlight: Promise<void> = Promise.resolve();
    for (const event of events) {
      const key = Buffer.from(eventKey(event));
      const partition = partitionForKey(key, options.partitions);
      pending.push({ topic, partition, key, value: serde.serialize(event, context), headers: {}, timestamp: event.dateTime });
      recordsPerPartition[partition]! += 1;
      if (pending.length === sendRecordsMax) {
        const records = pending;
        pending = [];
        await inFlight;
        inFlight = producer.send(records);
      }
    }
    await inFlight;
    if (pending.length > 0) await producer.send(pending);
  } finally {
    await producer.close();
  }
  return { topic, recordsPerPartition };
}
