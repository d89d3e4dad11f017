/*
 * RecordBatch v2 codec throughput, and CRC-32C native vs the table-driven JS reference (the
 * baseline), measured in the same run. `pnpm bench` in this package (after `tsc -b`).
 * Records are 100-byte values (JSON-like text, so codecs see realistic redundancy) with null keys.
 */
import { performance } from 'node:perf_hooks';
import { CompressionType, crc32c, decodeRecordBatch, encodeRecordBatch } from '../src/index.js';
import type { RecordBatchInput } from '../src/index.js';
import { crc32cReference } from '../test/crc32c-reference.js';

const VALUE_BYTES = 100;
const BATCH_SIZES = [1, 100, 1000];
const CODECS = [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];
const MEASURE_MS = 250;
const WARM_UP_MS = 50;
const CRC_BUFFER_BYTES = 1024 * 1024;

function makeValue(index: number): Buffer {
  const text = `{"id":${index},"user":"user-${index % 977}","event":"page_view","path":"/items/${(index * 7919) % 100000}","ms":${index * 13}}`;
  return Buffer.from(text.padEnd(VALUE_BYTES, ' ').slice(0, VALUE_BYTES));
}

/** Runs `operation` repeatedly for about MEASURE_MS and returns operations per second. */
function opsPerSecond(operation: () => void): number {
  const warmUpStart = performance.now();
  while (performance.now() - warmUpStart < WARM_UP_MS) operation();
  let count = 0;
  const start = performance.now();
  let elapsedMs = 0;
  do {
    operation();
    count++;
    elapsedMs = performance.now() - start;
  } while (elapsedMs < MEASURE_MS);
  return (count * 1000) / elapsedMs;
}

const format = (value: number): string => (value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1));

function benchCodecs(): string[] {
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
      const encodePerSecond = opsPerSecond(() => encodeRecordBatch(input));
      const decodePerSecond = opsPerSecond(() => decodeRecordBatch(encoded));
      rows.push(
        `| ${CompressionType[compression]} | ${batchSize} | ${encoded.length} | ${format(encodePerSecond * batchSize)} | ${format(encodePerSecond * payloadMB)} | ${format(decodePerSecond * batchSize)} | ${format(decodePerSecond * payloadMB)} |`,
      );
    }
  }
  return rows;
}

function benchCrc(): string[] {
  const buffer = Buffer.alloc(CRC_BUFFER_BYTES);
  for (let i = 0; i < buffer.length; i++) buffer[i] = (i * 2654435761) >>> 24;
  if (crc32c(buffer) !== crc32cReference(buffer)) throw new Error('native CRC-32C disagrees with the reference');
  const megabytes = CRC_BUFFER_BYTES / 1e6;
  const native = opsPerSecond(() => crc32c(buffer)) * megabytes;
  const reference = opsPerSecond(() => crc32cReference(buffer)) * megabytes;
  return [
    '| CRC-32C over 1 MiB | MB/s | vs baseline |',
    '|---|---:|---:|',
    `| table-driven JS (baseline) | ${format(reference)} | 1.0x |`,
    `| native (@node-rs/crc32) | ${format(native)} | ${(native / reference).toFixed(1)}x |`,
  ];
}

const startedMs = performance.now();
console.log(`## @defter/protocol: RecordBatch v2 codec (${VALUE_BYTES}-byte values), Node ${process.version}\n`);
console.log(benchCodecs().join('\n'));
console.log('');
console.log(benchCrc().join('\n'));
console.log(`\n(run took ${((performance.now() - startedMs) / 1000).toFixed(1)} s)`);
