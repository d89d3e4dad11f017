import { encodeRecordBatch, CompressionType } from '@defter/protocol';

export interface TestBatchOptions {
  /** One record per value. */
  values: string[];
  /** Absolute timestamp of each record (default: 1000 + index). */
  timestampsMs?: bigint[];
  compression?: CompressionType;
}

/** A producer batch (baseOffset 0, offsets not yet assigned) built by the protocol encoder. */
export function makeBatch(options: TestBatchOptions): Buffer {
  return encodeRecordBatch({
    ...(options.compression === undefined ? {} : { compression: options.compression }),
    records: options.values.map((value, index) => ({
      key: Buffer.from(`k${index}`),
      value: Buffer.from(value),
      timestamp: options.timestampsMs?.[index] ?? 1000n + BigInt(index),
    })),
  });
}

/** A batch of `recordCount` records padded so the whole batch is about `approxBytes`. */
export function makeSizedBatch(recordCount: number, approxBytes: number, timestampMs = 1000n): Buffer {
  const valueBytes = Math.max(0, Math.floor((approxBytes - 61) / recordCount) - 12);
  return makeBatch({
    values: Array.from({ length: recordCount }, (_, i) => String(i % 10).repeat(valueBytes)),
    timestampsMs: Array.from({ length: recordCount }, () => timestampMs),
  });
}
