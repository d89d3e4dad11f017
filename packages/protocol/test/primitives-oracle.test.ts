import test from 'ava';
import fc from 'fast-check';
import { Reader, Writer } from '@defter/protocol';

/*
 * The Reader and Writer take fast paths (a DataView for fixed-width numbers, single-byte varints,
 * short ASCII strings copied char by char). Node's own Buffer methods are the oracle here: same
 * bytes written, same values read, same RangeError for values out of range.
 */

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function written(write: (writer: Writer) => unknown): string {
  const writer = new Writer(16); // small, so that writes also cross a growth of the buffer
  writer.uint8(0xab); // misalign every value by one byte
  write(writer);
  return writer.finish().subarray(1).toString('hex');
}

function expected(size: number, write: (buffer: Buffer) => unknown): string {
  const buffer = Buffer.alloc(size);
  write(buffer);
  return buffer.toString('hex');
}

test('fixed-width numbers: the Writer writes what the Buffer methods write, the Reader reads what they read', (t) => {
  fc.assert(
    fc.property(
      fc.record({
        i8: fc.integer({ min: -128, max: 127 }),
        u16: fc.integer({ min: 0, max: 0xffff }),
        i16: fc.integer({ min: -0x8000, max: 0x7fff }),
        i32: fc.integer(),
        u32: fc.integer({ min: 0, max: 0xffffffff }),
        i64: fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
        f64: fc.double({ noNaN: true }),
      }),
      (v) => {
        const ours = written((w) => w.int8(v.i8).uint16(v.u16).int16(v.i16).int32(v.i32).uint32(v.u32).int64(v.i64).float64(v.f64));
        const theirs = expected(29, (b) => {
          b.writeInt8(v.i8, 0);
          b.writeUInt16BE(v.u16, 1);
          b.writeInt16BE(v.i16, 3);
          b.writeInt32BE(v.i32, 5);
          b.writeUInt32BE(v.u32, 9);
          b.writeBigInt64BE(v.i64, 13);
          b.writeDoubleBE(v.f64, 21);
        });
        t.is(ours, theirs);
        // Read back from an offset inside a larger (pooled-like) ArrayBuffer.
        const host = Buffer.alloc(40);
        const bytes = host.subarray(7, 36);
        Buffer.from(theirs, 'hex').copy(bytes);
        const reader = new Reader(bytes);
        t.is(reader.int8(), bytes.readInt8(0));
        t.is(reader.uint16(), bytes.readUInt16BE(1));
        t.is(reader.int16(), bytes.readInt16BE(3));
        t.is(reader.int32(), bytes.readInt32BE(5));
        t.is(reader.uint32(), bytes.readUInt32BE(9));
        t.is(reader.int64(), v.i64);
        t.is(reader.float64(), bytes.readDoubleBE(21));
        t.is(reader.remaining, 0);
      },
    ),
  );
});

test('int64 edge values, and values beyond int64 throw the RangeError writeBigInt64BE throws', (t) => {
  for (const value of [INT64_MIN, INT64_MIN + 1n, -1n, 0n, 1n, 2n ** 53n + 1n, INT64_MAX]) {
    t.is(written((w) => w.int64(value)), expected(8, (b) => b.writeBigInt64BE(value)), String(value));
    t.is(new Reader(Buffer.from(written((w) => w.int64(value)), 'hex')).int64(), value);
  }
  for (const value of [INT64_MAX + 1n, INT64_MIN - 1n, 2n ** 64n]) {
    const oracle = t.throws(() => Buffer.alloc(8).writeBigInt64BE(value), { instanceOf: RangeError });
    const ours = t.throws(() => new Writer().int64(value), { instanceOf: RangeError });
    t.is(ours?.message, oracle?.message);
  }
});

test('int8..uint32 out of range throw the Buffer methods RangeErrors', (t) => {
  const cases: Array<[string, (w: Writer) => unknown, (b: Buffer) => unknown]> = [
    ['int8 128', (w) => w.int8(128), (b) => b.writeInt8(128)],
    ['uint8 -1', (w) => w.uint8(-1), (b) => b.writeUInt8(-1)],
    ['int16 -32769', (w) => w.int16(-32769), (b) => b.writeInt16BE(-32769)],
    ['uint16 65536', (w) => w.uint16(65536), (b) => b.writeUInt16BE(65536)],
    ['int32 2^31', (w) => w.int32(2 ** 31), (b) => b.writeInt32BE(2 ** 31)],
    ['uint32 2^32', (w) => w.uint32(2 ** 32), (b) => b.writeUInt32BE(2 ** 32)],
  ];
  for (const [name, ours, theirs] of cases) {
    const oracle = t.throws(() => theirs(Buffer.alloc(8)), { instanceOf: RangeError }, name);
    const error = t.throws(() => ours(new Writer()), { instanceOf: RangeError }, name);
    t.is(error?.message, oracle?.message, name);
  }
});

test('strings: ASCII (short, at and past the fast-path limit) and non-ASCII encode as Buffer does', (t) => {
  const samples = ['', 'orders', 'a'.repeat(64), 'b'.repeat(65), 'x'.repeat(63) + 'é', 'héllo', '日本語', '😀 emoji', 'tab\tand\u007f'];
  for (const value of samples) {
    const utf8 = Buffer.from(value, 'utf8');
    const classic = expected(2 + utf8.length, (b) => {
      b.writeInt16BE(utf8.length, 0);
      utf8.copy(b, 2);
    });
    t.is(written((w) => w.string(value)), classic, JSON.stringify(value));
    t.is(written((w) => w.compactString(value)), Buffer.concat([Buffer.from(new Writer().unsignedVarint(utf8.length + 1).finish()), utf8]).toString('hex'));
    t.is(new Reader(Buffer.from(classic, 'hex')).string(), value);
  }
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (value) => {
      const reader = new Reader(new Writer(8).compactNullableString(value).nullableString(value).finish());
      t.is(reader.compactNullableString(), value);
      t.is(reader.nullableString(), value);
      t.is(reader.remaining, 0);
    }),
  );
});

test('unsigned varints: one-byte values and the bytes around the one-byte limit', (t) => {
  const cases: Array<[number, string]> = [
    [0, '00'],
    [1, '01'],
    [127, '7f'],
    [128, '8001'],
    [300, 'ac02'],
    [0xffffffff, 'ffffffff0f'],
  ];
  for (const [value, hex] of cases) {
    t.is(written((w) => w.unsignedVarint(value)), hex, String(value));
    const reader = new Reader(Buffer.from(hex, 'hex'));
    t.is(reader.unsignedVarint(), value);
    t.is(reader.remaining, 0);
  }
  for (const bad of [-1, 1.5, 2 ** 32, Number.NaN]) t.throws(() => new Writer().unsignedVarint(bad), { instanceOf: RangeError }, String(bad));
  // A one-byte varint at the very end of the reader's range, and nothing past its end.
  t.is(new Reader(Buffer.from([0x05, 0x06]), 0, 1).unsignedVarint(), 5);
  t.throws(() => new Reader(Buffer.from([0x05]), 1, 1).unsignedVarint(), { message: /truncated varint/ });
});
