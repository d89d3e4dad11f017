/*
 * int64 through the Reader/Writer against the Buffer methods they used before
 * (`readBigInt64BE` / `writeBigInt64BE`, the baseline), measured in the same run. The values mix
 * what Kafka messages carry: -1 sentinels, small offsets, millisecond timestamps and a few values
 * beyond 2^53.
 */
import { Reader, Writer } from '../src/index.js';
import { bestRates, format } from './measure.js';
import type { Timing } from './measure.js';

const VALUE_COUNT = 4096;
const INT64_BYTES = 8;

function int64Values(): bigint[] {
  const samples = [-1n, 0n, 1_700_000_000_000n, 48_213_337n, 9_223_372_036_854_775_807n, -9_223_372_036_854_775_808n, 1n << 60n, 123n];
  return Array.from({ length: VALUE_COUNT }, (_, i) => (i % 8 === 4 || i % 8 === 5 || i % 8 === 6 ? samples[i % 8]! : samples[i % 8]! + BigInt(i)));
}

export async function benchInt64(timing: Timing): Promise<string[]> {
  const values = int64Values();
  const encoded = Buffer.alloc(VALUE_COUNT * INT64_BYTES);
  values.forEach((value, i) => encoded.writeBigInt64BE(value, i * INT64_BYTES));
  const scratch = Buffer.alloc(encoded.length);

  const bufferRead = (): bigint => {
    let sum = 0n;
    for (let i = 0; i < VALUE_COUNT; i++) sum ^= encoded.readBigInt64BE(i * INT64_BYTES);
    return sum;
  };
  const readerRead = (): bigint => {
    const reader = new Reader(encoded);
    let sum = 0n;
    for (let i = 0; i < VALUE_COUNT; i++) sum ^= reader.int64();
    return sum;
  };
  const bufferWrite = (): void => {
    for (let i = 0; i < VALUE_COUNT; i++) scratch.writeBigInt64BE(values[i]!, i * INT64_BYTES);
  };
  const writer = new Writer(encoded.length);
  const writerWrite = (): void => {
    writer.position = 0;
    for (let i = 0; i < VALUE_COUNT; i++) writer.int64(values[i]!);
  };
  if (readerRead() !== bufferRead()) throw new Error('Reader.int64 disagrees with readBigInt64BE');
  writerWrite();
  if (!writer.finish().equals(encoded)) throw new Error('Writer.int64 disagrees with writeBigInt64BE');

  const rates = await bestRates(timing, [{ sync: bufferRead }, { sync: readerRead }, { sync: bufferWrite }, { sync: writerWrite }]);
  const [readBaseline, read, writeBaseline, write] = rates.map((rate) => rate * VALUE_COUNT) as [number, number, number, number];
  return [
    '| int64 | baseline: Buffer `readBigInt64BE` / `writeBigInt64BE`, values/s | Reader / Writer, values/s | vs baseline |',
    '|---|---:|---:|---:|',
    `| read | ${format(readBaseline)} | ${format(read)} | ${(read / readBaseline).toFixed(1)}x |`,
    `| write | ${format(writeBaseline)} | ${format(write)} | ${(write / writeBaseline).toFixed(1)}x |`,
  ];
}
