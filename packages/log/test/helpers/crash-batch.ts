import { makeBatch } from './batches.js';

/** Batch number n of the crash test: three records whose contents name n (sizes vary with n). */
export function crashBatch(n: number): Buffer {
  return makeBatch({
    values: [`batch-${n}-first`, `batch-${n}-second-${'x'.repeat(n % 97)}`, `batch-${n}-third`],
    timestampsMs: [BigInt(n), BigInt(n) + 1n, BigInt(n) + 2n],
  });
}
