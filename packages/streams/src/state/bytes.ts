/**
 * Byte helpers shared by the stores and the key layouts. Every store orders keys bytewise
 * (unsigned, shorter first on a common prefix) — RocksDB's default comparator — so a layout that
 * sorts right in one store sorts right in all of them.
 */

/** Bytewise order of two keys: negative, zero or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/**
 * The smallest key greater than every key that starts with `prefix` (an exclusive upper bound),
 * or undefined when there is none (the prefix is empty or all 0xff): then the range is open-ended.
 */
export function prefixUpperBound(prefix: Uint8Array): Buffer | undefined {
  for (let index = prefix.length - 1; index >= 0; index -= 1) {
    if (prefix[index] !== 0xff) {
      const bound = Buffer.from(prefix.subarray(0, index + 1));
      bound[index] = bound[index]! + 1;
      return bound;
    }
  }
  return undefined;
}

/** A Map key for bytes: latin1 maps every byte to one char, so distinct keys stay distinct. */
export function bytesMapKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** Whether `key` lies in [from, to): an undefined bound is open. */
export function inKeyRange(key: Uint8Array, from: Uint8Array | undefined, to: Uint8Array | undefined): boolean {
  if (from !== undefined && Buffer.compare(key, from) < 0) return false;
  if (to !== undefined && Buffer.compare(key, to) >= 0) return false;
  return true;
}

const TWO_POW_32 = 2 ** 32;
/** Bytes of an encoded timestamp. */
export const TIMESTAMP_BYTES = 8;

/**
 * Writes a millisecond time (any safe integer, negative too) as 8 bytes whose bytewise order is
 * the numeric order: the high 32 bits with the sign bit flipped, then the low 32 bits.
 */
export function writeOrderedTimestamp(target: Buffer, offset: number, timeMs: number): void {
  if (!Number.isSafeInteger(timeMs)) throw new RangeError(`a timestamp must be a safe integer of milliseconds, got ${timeMs}`);
  const high = Math.floor(timeMs / TWO_POW_32);
  const low = timeMs - high * TWO_POW_32;
  target.writeUInt32BE((high + 0x80000000) >>> 0, offset);
  target.writeUInt32BE(low, offset + 4);
}

/** Reads what `writeOrderedTimestamp` wrote. */
export function readOrderedTimestamp(source: Buffer, offset: number): number {
  const high = source.readUInt32BE(offset) - 0x80000000;
  const low = source.readUInt32BE(offset + 4);
  return high * TWO_POW_32 + low;
}
