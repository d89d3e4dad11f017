/*
 * RecordBatch v2 codec throughput, and CRC-32C native vs the table-driven JS reference (the
 * baseline), measured in the same run. Records are 100-byte values (JSON-like text, so codecs see
 * realistic redundancy) with null keys.
 */
import { CompressionType, crc32c, decodeRecordBatch, encodeRecordBatch } from '../src/index.js';
import type { RecordBatchInput } from '../src/index.js';
import { crc32cReference } from '../test/crc32c-reference.js';
import { bestRates, format } from './measure.js';
import type { Timing } from './measure.js';

export const VALUE_BYTES = 100;
const BATCH_SIZES = [1, 100, 1000];
const CODECS = [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];
const CRC_BUFFER_BYTES = 1024 * 1024;

/** A `valueBytes`-long JSON-like record value, different for every index. */
export function makeValue(index: number, valueBytes = VALUE_BYTES): Buffer {
  const text = `{"id":${index},"user":"user-${index % 977}","event":"page_view","path":"/items/${(index * 7919) % 100000}","ms":${index * 13}}`;
  return Buffer.from(text.padEnd(valueBytes, ' ').slice(0, valueBytes));
}

export async function benchRecordBatchCodecs(timing: Timing): Promise<string[]> {
  const rows = [
    '| codec | records/batch | batch bytes | encode records/s | encode MB/s | decode records/s | decode MB/s |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const compression of CODECS) {
    for (const batchSize of BATCH_SIZES) {
      const input: RecordBatchInput = {
        compression,
        baseTimestamp: 1_700_000_000_000n,
        records: Array.from({ length: batchSize }, (_, i) => ({ timestampDelta: BigInt(i), value: makeValue(i) })),
      };
      const encoded = encodeRecordBatch(input);
      const payloadMB = (batchSize * VALUE_BYTES) / 1e6;
      const [encodePerSecond, decodePerSecond] = (await bestRates(timing, [
        { sync: () => encodeRecordBatch(input) },
        { sync: () => decodeRecordBatch(encoded) },
      ])) as [number, number];
      rows.push(
        `| ${CompressionType[compression]} | ${batchSize} | ${encoded.length} | ${format(encodePerSecond * batchSize)} | ${format(encodePerSecond * payloadMB)} | ${format(decodePerSecond * batchSize)} | ${format(decodePerSecond * payloadMB)} |`,
      );
    }
  }
  return rows;
}

export async function benchCrc(timing: Timing): Promise<string[]> {
  const buffer = Buffer.alloc(CRC_BUFFER_BYTES);
  for (let i = 0; i < buffer.length; i++) buffer[i] = (i * 2654435761) >>> 24;
  if (crc32c(buffer) !== crc32cReference(buffer)) throw new Error('native CRC-32C disagrees with the reference');
  const megabytes = CRC_BUFFER_BYTES / 1e6;
  const [nativeRate, referenceRate] = (await bestRates(timing, [{ sync: () => crc32c(buffer) }, { sync: () => crc32cReference(buffer) }])) as [number, number];
  const native = nativeRate * megabytes;
  const reference = referenceRate * megabytes;
  return [
    '| CRC-32C over 1 MiB | MB/s | vs baseline |',
    '|---|---:|---:|',
    `| table-driven JS (baseline) | ${format(reference)} | 1.0x |`,
    `| native (@node-rs/crc32) | ${format(native)} | ${(native / reference).toFixed(1)}x |`,
  ];
}
