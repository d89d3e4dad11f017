/**
 * The benchmark's workload, shared by every row so that each does exactly the same work: the input
 * records (string keys, ~100-byte JSON values), the transform and the filter, and the count of
 * records the output must end up with.
 */
import { ApiKey, ErrorCode, encodeRecordBatch } from '@defter/protocol';
import { partitionForKey, type RunningBroker } from '@defter/broker';

export interface Order {
  readonly id: number;
  readonly user: string;
  readonly amount: number;
  readonly currency: string;
  readonly note: string;
}

export interface BilledOrder {
  readonly id: number;
  readonly user: string;
  readonly cents: number;
  readonly currency: string;
}

/** One record in ten is dropped: those whose id is a multiple of ten. */
const DROP_EVERY = 10;
/** Records per record batch in the input, about what one producer request carries per partition. */
const INPUT_BATCH_RECORDS = 1_000;
const NOTE = 'priority shipping, gift wrapped';

/** The transform every row applies (the `mapValues` step). */
export function billOrder(order: Order): BilledOrder {
  return { id: order.id, user: order.user.toUpperCase(), cents: order.amount * 100, currency: order.currency };
}

/** The predicate every row applies (the `filter` step). */
export function keepOrder(order: BilledOrder): boolean {
  return order.id % DROP_EVERY !== 0;
}

/** How many of `inputRecords` inputs (ids 0 … n-1) reach the output. */
export function expectedOutputRecords(inputRecords: number): number {
  return inputRecords - Math.ceil(inputRecords / DROP_EVERY);
}

export function orderKey(id: number): string {
  return `order-${id}`;
}

export function orderValue(id: number): string {
  const order: Order = { id, user: `user-${String(id % 10_000).padStart(5, '0')}`, amount: (id * 7919) % 100_000, currency: 'EUR', note: NOTE };
  return JSON.stringify(order);
}

/**
 * Writes `records` orders into `topic` of a broker in this process (not timed by the bench): keys
 * spread by murmur2 as a Kafka client's default partitioner would, batches of INPUT_BATCH_RECORDS
 * per partition, acks=all. Resolves with the count written to each partition.
 */
export async function writeOrders(broker: RunningBroker, topic: string, partitions: number, records: number): Promise<number[]> {
  const client = broker.client('bench-writer');
  const pending: Array<Array<{ key: Buffer; value: Buffer }>> = Array.from({ length: partitions }, () => []);
  const written = new Array<number>(partitions).fill(0);
  const baseTimestamp = BigInt(Date.now());
  const flush = async (partition: number): Promise<void> => {
    const batch = pending[partition]!;
    if (batch.length === 0) return;
    pending[partition] = [];
    const response = await client.send(ApiKey.Produce, 9, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 30_000,
      topicData: [
        {
          name: topic,
          partitionData: [{ index: partition, records: encodeRecordBatch({ baseTimestamp, records: batch.map((record, index) => ({ ...record, timestampDelta: BigInt(index) })) }) }],
        },
      ],
    });
    const errorCode = response.responses[0]?.partitionResponses[0]?.errorCode;
    if (errorCode !== ErrorCode.NONE) throw new Error(`writing the input to ${topic}-${partition} failed with error code ${String(errorCode)}`);
    written[partition]! += batch.length;
  };
  for (let id = 0; id < records; id += 1) {
    const key = Buffer.from(orderKey(id));
    const partition = partitionForKey(key, partitions);
    pending[partition]!.push({ key, value: Buffer.from(orderValue(id)) });
    if (pending[partition]!.length === INPUT_BATCH_RECORDS) await flush(partition);
  }
  for (let partition = 0; partition < partitions; partition += 1) await flush(partition);
  return written;
}
