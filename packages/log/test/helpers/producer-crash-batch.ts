import { encodeRecordBatch } from '@defter/protocol';

export const CRASH_PRODUCER_ID = 4242n;

/**
 * Batch n of the producer crash test: 3 records at sequence 3n of producer 4242, epoch 0, stamped
 * now (a producer whose last timestamp is older than producer.id.expiration.ms is dropped on load).
 */
export function producerCrashBatch(n: number): Buffer {
  return encodeRecordBatch({
    producerId: CRASH_PRODUCER_ID,
    producerEpoch: 0,
    baseSequence: 3 * n,
    records: Array.from({ length: 3 }, (_, i) => ({ value: Buffer.from(`batch-${n}-${i}-${'x'.repeat(n % 53)}`), timestamp: BigInt(Date.now()) })),
  });
}
