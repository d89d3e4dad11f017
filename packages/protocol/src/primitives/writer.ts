const UUID_BYTES = 16;
const INITIAL_CAPACITY_BYTES = 256;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Strings up to this many characters are checked for ASCII and copied char by char. */
const ASCII_FAST_PATH_CHARS_MAX = 64;

/**
 * `value.length` when `value` is short and all ASCII (one byte per char, as topic names, group
 * and member ids are), else -1. Copying those directly beats `Buffer.byteLength` plus
 * `buffer.write`, two calls into the runtime per string.
 */
function shortAsciiLength(value: string): number {
  const length = value.length;
  if (length > ASCII_FAST_PATH_CHARS_MAX) return -1;
  for (let i = 0; i < length; i++) if (value.charCodeAt(i) >= 0x80) return -1;
  return length;
}

function viewOf(buffer: Buffer): DataView {
  return new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * Writes Kafka primitive types into a growable buffer. `finish()` returns a view of the bytes
 * written. The writer is the only mutable thing in an encode; inputs are never modified.
 *
 * Numbers in range are stored directly: byte stores up to 32 bits, a DataView for int64 and
 * float64 (V8 compiles both inline; int64 via `writeBigInt64BE` split the bigint with bigint
 * arithmetic and dominated the message codec's profile). Neither checks ranges, so out-of-range
 * values go to the Buffer methods, which throw the RangeError they always threw. Measured in
 * `bench/primitives.ts` and `bench/messages.ts`.
 */
export class Writer {
  private buffer: Buffer;
  /** A DataView over `buffer` for int64 and float64, made on first use (many messages have neither). */
  private view: DataView | null = null;
  position = 0;

  constructor(initialCapacityBytes = INITIAL_CAPACITY_BYTES) {
    this.buffer = Buffer.allocUnsafe(Math.max(16, initialCapacityBytes));
  }

  private dataView(): DataView {
    return (this.view ??= viewOf(this.buffer));
  }

  /**
   * Makes room for `size` bytes and returns where they go. It may replace `this.buffer` (and drop
   * `this.view`), so callers must call it before reading either for the write.
   */
  private reserve(size: number): number {
    const at = this.position;
    const needed = at + size;
    if (needed > this.buffer.length) {
      let capacity = this.buffer.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = Buffer.allocUnsafe(capacity);
      this.buffer.copy(grown, 0, 0, at);
      this.buffer = grown;
      this.view = null;
    }
    this.position = needed;
    return at;
  }

  /** The bytes written so far (a view; valid until the next write). */
  finish(): Buffer {
    return this.buffer.subarray(0, this.position);
  }

  // Up to 32 bits, in range: plain byte stores, which V8 compiles inline. Out of range (or NaN):
  // the Buffer method, for the RangeError it always threw.
  int8(value: number): this {
    const at = this.reserve(1);
    if (value >= -0x80 && value <= 0x7f) this.buffer[at] = value;
    else this.buffer.writeInt8(value, at);
    return this;
  }
  uint8(value: number): this {
    const at = this.reserve(1);
    if (value >= 0 && value <= 0xff) this.buffer[at] = value;
    else this.buffer.writeUInt8(value, at);
    return this;
  }
  boolean(value: boolean): this {
    const at = this.reserve(1);
    this.buffer[at] = value ? 1 : 0;
    return this;
  }
  int16(value: number): this {
    const at = this.reserve(2);
    if (value >= -0x8000 && value <= 0x7fff) this.store16(at, value);
    else this.buffer.writeInt16BE(value, at);
    return this;
  }
  uint16(value: number): this {
    const at = this.reserve(2);
    if (value >= 0 && value <= 0xffff) this.store16(at, value);
    else this.buffer.writeUInt16BE(value, at);
    return this;
  }
  int32(value: number): this {
    const at = this.reserve(4);
    if (value >= -0x80000000 && value <= 0x7fffffff) this.store32(at, value);
    else this.buffer.writeInt32BE(value, at);
    return this;
  }
  uint32(value: number): this {
    const at = this.reserve(4);
    if (value >= 0 && value <= 0xffffffff) this.store32(at, value);
    else this.buffer.writeUInt32BE(value, at);
    return this;
  }
  private store16(at: number, value: number): void {
    const buffer = this.buffer;
    buffer[at] = value >>> 8;
    buffer[at + 1] = value;
  }
  private store32(at: number, value: number): void {
    const buffer = this.buffer;
    buffer[at] = value >>> 24;
    buffer[at + 1] = value >>> 16;
    buffer[at + 2] = value >>> 8;
    buffer[at + 3] = value;
  }
  int64(value: bigint): this {
    const at = this.reserve(8);
    if (value >= INT64_MIN && value <= INT64_MAX) this.dataView().setBigInt64(at, value);
    else this.buffer.writeBigInt64BE(value, at);
    return this;
  }
  float64(value: number): this {
    const at = this.reserve(8);
    this.dataView().setFloat64(at, value);
    return this;
  }

  unsignedVarint(value: number): this {
    if (value >>> 0 === value && value < 0x80) {
      // One byte: most lengths, counts and tags.
      const at = this.reserve(1);
      this.buffer[at] = value;
      return this;
    }
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`unsigned varint out of range: ${value}`);
    }
    let rest = value;
    while (rest >= 0x80) {
      const at = this.reserve(1);
      this.buffer[at] = (rest & 0x7f) | 0x80;
      rest = Math.floor(rest / 128);
    }
    const at = this.reserve(1);
    this.buffer[at] = rest;
    return this;
  }

  /** Zig-zag signed varint (int32). */
  varint(value: number): this {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
      throw new RangeError(`varint out of range: ${value}`);
    }
    return this.unsignedVarint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  unsignedVarlong(value: bigint): this {
    let rest = BigInt.asUintN(64, value);
    while (rest >= 0x80n) {
      const at = this.reserve(1);
      this.buffer[at] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    const at = this.reserve(1);
    this.buffer[at] = Number(rest);
    return this;
  }

  /** Zig-zag signed varlong (int64). */
  varlong(value: bigint): this {
    const signed = BigInt.asIntN(64, value);
    return this.unsignedVarlong((signed << 1n) ^ (signed >> 63n));
  }

  /** A UUID in Kafka's base64url text form (22 characters) as its 16 raw bytes. */
  uuid(value: string): this {
    const bytes = Buffer.from(value, 'base64url');
    if (bytes.length !== UUID_BYTES) throw new RangeError(`not a 16-byte UUID: ${value}`);
    const at = this.reserve(UUID_BYTES);
    bytes.copy(this.buffer, at);
    return this;
  }

  raw(bytes: Uint8Array): this {
    const at = this.reserve(bytes.length);
    this.buffer.set(bytes, at);
    return this;
  }

  string(value: string): this {
    return this.nullableString(value);
  }
  nullableString(value: string | null): this {
    if (value === null) return this.int16(-1);
    const asciiLength = shortAsciiLength(value);
    const length = asciiLength >= 0 ? asciiLength : Buffer.byteLength(value, 'utf8');
    if (length > 0x7fff) throw new RangeError(`string of ${length} bytes exceeds the int16 length limit`);
    this.int16(length);
    return this.text(value, length, asciiLength >= 0);
  }
  bytes(value: Uint8Array): this {
    return this.nullableBytes(value);
  }
  nullableBytes(value: Uint8Array | null): this {
    if (value === null) return this.int32(-1);
    return this.int32(value.length).raw(value);
  }
  arrayLength(length: number | null): this {
    return this.int32(length === null ? -1 : length);
  }

  compactString(value: string): this {
    return this.compactNullableString(value);
  }
  compactNullableString(value: string | null): this {
    if (value === null) return this.unsignedVarint(0);
    const asciiLength = shortAsciiLength(value);
    const length = asciiLength >= 0 ? asciiLength : Buffer.byteLength(value, 'utf8');
    this.unsignedVarint(length + 1);
    return this.text(value, length, asciiLength >= 0);
  }
  compactBytes(value: Uint8Array): this {
    return this.compactNullableBytes(value);
  }
  compactNullableBytes(value: Uint8Array | null): this {
    if (value === null) return this.unsignedVarint(0);
    return this.unsignedVarint(value.length + 1).raw(value);
  }
  compactArrayLength(length: number | null): this {
    return this.unsignedVarint(length === null ? 0 : length + 1);
  }

  /** The `length` UTF-8 bytes of `value` (char by char when it is known to be ASCII). */
  private text(value: string, length: number, ascii: boolean): this {
    const at = this.reserve(length);
    const buffer = this.buffer;
    if (ascii) {
      for (let i = 0; i < length; i++) buffer[at + i] = value.charCodeAt(i);
    } else {
      buffer.write(value, at, length, 'utf8');
    }
    return this;
  }

  /** Overwrites an int32 at an earlier position, for length prefixes known only afterwards. */
  patchInt32(at: number, value: number): this {
    this.buffer.writeInt32BE(value, at);
    return this;
  }
}

/** Bytes an unsigned varint of `value` takes. */
export function unsignedVarintSize(value: number): number {
  let size = 1;
  let rest = value;
  while (rest >= 0x80) {
    rest = Math.floor(rest / 128);
    size++;
  }
  return size;
}

/** Bytes a zig-zag varint of `value` takes. */
export function varintSize(value: number): number {
  return unsignedVarintSize(value >= 0 ? value * 2 : -value * 2 - 1);
}
