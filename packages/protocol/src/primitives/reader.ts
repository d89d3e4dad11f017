import { DecodeError } from '../decode-error.js';

const UUID_BYTES = 16;

/**
 * Reads Kafka primitive types from a buffer. Every read is bounds-checked against `end`,
 * every length prefix is checked against the bytes that remain, and the only thing ever
 * thrown is a `DecodeError` naming the byte offset. Byte values are views (`subarray`) of the
 * input, never copies, so decoding a Produce request copies no records.
 *
 * Fixed-width numbers go through a DataView over the same memory: V8 compiles its getters
 * inline, where Buffer's `readInt32BE`/`readBigInt64BE` are library functions with their own
 * bounds checks (which `take` already did); int64 through `readBigInt64BE` assembled the bigint
 * from two halves with bigint arithmetic and dominated the message codec's profile.
 * The measurements are in `bench/primitives.ts` and `bench/messages.ts`.
 */
export class Reader {
  position: number;
  readonly end: number;
  private readonly view: DataView;

  constructor(
    readonly buffer: Buffer,
    start = 0,
    end = buffer.length,
  ) {
    if (start < 0 || end > buffer.length || start > end) {
      throw new RangeError(`reader range [${start}, ${end}) is outside a buffer of ${buffer.length} bytes`);
    }
    this.position = start;
    this.end = end;
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  get remaining(): number {
    return this.end - this.position;
  }

  /** Fails unless every byte was consumed: trailing garbage is malformed input. */
  assertFullyConsumed(what: string): void {
    if (this.position !== this.end) {
      throw new DecodeError(`${this.end - this.position} unexpected trailing bytes after ${what}`, this.position, what);
    }
  }

  private take(size: number, what: string): number {
    const at = this.position;
    if (size > this.end - at) {
      throw new DecodeError(`truncated input: ${what} needs ${size} bytes, ${this.end - at} remain`, at, what);
    }
    this.position = at + size;
    return at;
  }

  int8(): number {
    return this.view.getInt8(this.take(1, 'int8'));
  }
  uint8(): number {
    return this.buffer[this.take(1, 'uint8')]!;
  }
  boolean(): boolean {
    return this.buffer[this.take(1, 'boolean')] !== 0;
  }
  int16(): number {
    return this.view.getInt16(this.take(2, 'int16'));
  }
  uint16(): number {
    return this.view.getUint16(this.take(2, 'uint16'));
  }
  int32(): number {
    return this.view.getInt32(this.take(4, 'int32'));
  }
  uint32(): number {
    return this.view.getUint32(this.take(4, 'uint32'));
  }
  int64(): bigint {
    return this.view.getBigInt64(this.take(8, 'int64'));
  }
  float64(): number {
    return this.view.getFloat64(this.take(8, 'float64'));
  }

  /** Unsigned LEB128 varint of at most 5 bytes (a uint32), as used by flexible versions. */
  unsignedVarint(): number {
    const start = this.position;
    // Most varints (lengths, counts, tags) fit one byte.
    if (start < this.end) {
      const first = this.buffer[start]!;
      if (first < 0x80) {
        this.position = start + 1;
        return first;
      }
    }
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (this.position >= this.end) throw new DecodeError('truncated varint', start, 'varint');
      const byte = this.buffer[this.position++]!;
      if (shift === 28 && byte > 0x0f) throw new DecodeError('varint does not fit 32 bits', start, 'varint');
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new DecodeError('varint longer than 5 bytes', start, 'varint');
  }

  /** Zig-zag signed varint (int32), as used inside records. */
  varint(): number {
    const raw = this.unsignedVarint();
    return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
  }

  /** Unsigned LEB128 varlong of at most 10 bytes (a uint64). */
  unsignedVarlong(): bigint {
    const start = this.position;
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.position >= this.end) throw new DecodeError('truncated varlong', start, 'varlong');
      const byte = this.buffer[this.position++]!;
      if (shift === 63n && byte > 0x01) throw new DecodeError('varlong does not fit 64 bits', start, 'varlong');
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new DecodeError('varlong longer than 10 bytes', start, 'varlong');
  }

  /** Zig-zag signed varlong (int64), as used inside records. */
  varlong(): bigint {
    const raw = this.unsignedVarlong();
    return (raw >> 1n) ^ -(raw & 1n);
  }

  /** 16 raw bytes, returned as Kafka's base64url text form (22 characters, no padding). */
  uuid(): string {
    const at = this.take(UUID_BYTES, 'uuid');
    return this.buffer.subarray(at, at + UUID_BYTES).toString('base64url');
  }

  /** `size` raw bytes as a view of the input. */
  raw(size: number, what = 'bytes'): Buffer {
    if (size < 0) throw new DecodeError(`negative length ${size}`, this.position, what);
    const at = this.take(size, what);
    return this.buffer.subarray(at, at + size);
  }

  /** `length` bytes decoded as UTF-8, without first making a view of them. */
  private utf8(length: number, what: string): string {
    const at = this.take(length, what);
    return this.buffer.toString('utf8', at, at + length);
  }

  // Classic encodings: int16 length for strings, int32 for bytes and arrays, -1 for null.

  string(): string {
    const value = this.nullableString();
    if (value === null) throw new DecodeError('null where a string is required', this.position - 2, 'string');
    return value;
  }
  nullableString(): string | null {
    const length = this.int16();
    if (length === -1) return null;
    if (length < 0) throw new DecodeError(`invalid string length ${length}`, this.position - 2, 'string');
    return this.utf8(length, 'string');
  }
  bytes(): Buffer {
    const value = this.nullableBytes();
    if (value === null) throw new DecodeError('null where bytes are required', this.position - 4, 'bytes');
    return value;
  }
  nullableBytes(): Buffer | null {
    const length = this.int32();
    if (length === -1) return null;
    if (length < 0) throw new DecodeError(`invalid bytes length ${length}`, this.position - 4, 'bytes');
    return this.raw(length, 'bytes');
  }
  /** Classic array length: int32, -1 for null. Bounded by the bytes that remain (each element takes at least one). */
  arrayLength(minElementBytes = 1): number | null {
    const at = this.position;
    const length = this.int32();
    if (length === -1) return null;
    return this.checkedCount(length, at, minElementBytes);
  }

  // Compact encodings (flexible versions): unsigned varint of N+1, 0 for null.

  compactString(): string {
    const at = this.position;
    const value = this.compactNullableString();
    if (value === null) throw new DecodeError('null where a compact string is required', at, 'compact string');
    return value;
  }
  compactNullableString(): string | null {
    const lengthPlusOne = this.unsignedVarint();
    if (lengthPlusOne === 0) return null;
    return this.utf8(lengthPlusOne - 1, 'compact string');
  }
  compactBytes(): Buffer {
    const at = this.position;
    const value = this.compactNullableBytes();
    if (value === null) throw new DecodeError('null where compact bytes are required', at, 'compact bytes');
    return value;
  }
  compactNullableBytes(): Buffer | null {
    const lengthPlusOne = this.unsignedVarint();
    if (lengthPlusOne === 0) return null;
    return this.raw(lengthPlusOne - 1, 'compact bytes');
  }
  /** Compact array length: unsigned varint of N+1, 0 for null. */
  compactArrayLength(minElementBytes = 1): number | null {
    const at = this.position;
    const lengthPlusOne = this.unsignedVarint();
    if (lengthPlusOne === 0) return null;
    return this.checkedCount(lengthPlusOne - 1, at, minElementBytes);
  }

  private checkedCount(count: number, at: number, minElementBytes: number): number {
    if (count < 0) throw new DecodeError(`invalid array length ${count}`, at, 'array');
    if (count * minElementBytes > this.remaining) {
      throw new DecodeError(`array of ${count} elements cannot fit in ${this.remaining} remaining bytes`, at, 'array');
    }
    return count;
  }
}
