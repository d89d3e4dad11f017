import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/**
 * CRC-32C (Castagnoli), the checksum of RecordBatch v2. Native SIMD implementation;
 * `test/crc32c.test.ts` checks it against a table-driven reference.
 */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const view = start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
  return nativeCrc32c(view as Buffer) >>> 0;
}
