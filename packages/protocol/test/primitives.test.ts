import test from 'ava';
import fc from 'fast-check';
import { DecodeError, Reader, Writer, unsignedVarintSize, varintSize } from '@defter/protocol';

/** One primitive: how to write it, how to read it back, and an arbitrary of its values. */
interface Case<T> {
  readonly name: string;
  readonly arbitrary: fc.Arbitrary<T>;
  readonly write: (writer: Writer, value: T) => unknown;
  readonly read: (reader: Reader) => T;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const uuidBytes = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => Buffer.from(bytes).toString('base64url'));
const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const bytes = fc.uint8Array({ maxLength: 40 }).map((array): Buffer => Buffer.from(array));

function makeCase<T>(
  name: string,
  arbitrary: fc.Arbitrary<T>,
  write: (writer: Writer, value: T) => unknown,
  read: (reader: Reader) => T,
): Case<unknown> {
  return { name, arbitrary, write, read } as Case<unknown>;
}

const cases: Case<unknown>[] = [
  makeCase('int8', fc.integer({ min: -128, max: 127 }), (w, v) => w.int8(v), (r) => r.int8()),
  makeCase('uint8', fc.integer({ min: 0, max: 255 }), (w, v) => w.uint8(v), (r) => r.uint8()),
  makeCase('boolean', fc.boolean(), (w, v) => w.boolean(v), (r) => r.boolean()),
  makeCase('int16', fc.integer({ min: -32768, max: 32767 }), (w, v) => w.int16(v), (r) => r.int16()),
  makeCase('uint16', fc.integer({ min: 0, max: 65535 }), (w, v) => w.uint16(v), (r) => r.uint16()),
  makeCase('int32', fc.integer(), (w, v) => w.int32(v), (r) => r.int32()),
  makeCase('uint32', fc.integer({ min: 0, max: 0xffffffff }), (w, v) => w.uint32(v), (r) => r.uint32()),
  makeCase('int64', fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), (w, v) => w.int64(v), (r) => r.int64()),
  makeCase('float64', fc.double(), (w, v) => w.float64(v), (r) => r.float64()),
  makeCase('unsignedVarint', fc.integer({ min: 0, max: 0xffffffff }), (w, v) => w.unsignedVarint(v), (r) => r.unsignedVarint()),
  makeCase('varint', fc.integer(), (w, v) => w.varint(v), (r) => r.varint()),
  makeCase('unsignedVarlong', fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (w, v) => w.unsignedVarlong(v), (r) => r.unsignedVarlong()),
  makeCase('varlong', fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), (w, v) => w.varlong(v), (r) => r.varlong()),
  makeCase('uuid', uuidBytes, (w, v) => w.uuid(v), (r) => r.uuid()),
  makeCase('string', text, (w, v) => w.string(v), (r) => r.string()),
  makeCase('nullableString', fc.option(text, { nil: null }), (w, v) => w.nullableString(v), (r) => r.nullableString()),
  makeCase('compactString', text, (w, v) => w.compactString(v), (r) => r.compactString()),
  makeCase('compactNullableString', fc.option(text, { nil: null }), (w, v) => w.compactNullableString(v), (r) => r.compactNullableString()),
  makeCase('bytes', bytes, (w, v) => w.bytes(v), (r) => r.bytes()),
  makeCase('nullableBytes', fc.option(bytes, { nil: null }), (w, v) => w.nullableBytes(v), (r) => r.nullableBytes()),
  makeCase('compactBytes', bytes, (w, v) => w.compactBytes(v), (r) => r.compactBytes()),
  makeCase('compactNullableBytes', fc.option(bytes, { nil: null }), (w, v) => w.compactNullableBytes(v), (r) => r.compactNullableBytes()),
  makeCase(
    'arrayLength',
    fc.option(fc.integer({ min: 0, max: 100 }), { nil: null }),
    (w, v) => w.arrayLength(v),
    (r) => r.arrayLength(0),
  ),
  makeCase(
    'compactArrayLength',
    fc.option(fc.integer({ min: 0, max: 100 }), { nil: null }),
    (w, v) => w.compactArrayLength(v),
    (r) => r.compactArrayLength(0),
  ),
];

function throwsOnlyDecodeError(action: () => unknown): boolean {
  try {
    action();
    return false;
  } catch (error) {
    if (error instanceof DecodeError) return true;
    throw error;
  }
}

for (const primitive of cases) {
  test(`${primitive.name}: round-trips and consumes exactly what was written`, (t) => {
    fc.assert(
      fc.property(primitive.arbitrary, (value) => {
        const writer = new Writer(16);
        primitive.write(writer, value);
        const encoded = writer.finish();
        const reader = new Reader(encoded);
        t.deepEqual(primitive.read(reader), value);
        t.is(reader.position, encoded.length);
      }),
      { numRuns: 200 },
    );
  });

  test(`${primitive.name}: every truncation is a DecodeError`, (t) => {
    fc.assert(
      fc.property(primitive.arbitrary, (value) => {
        const writer = new Writer(16);
        primitive.write(writer, value);
        const encoded = Buffer.from(writer.finish());
        for (let length = 0; length < encoded.length; length++) {
          t.true(throwsOnlyDecodeError(() => primitive.read(new Reader(encoded, 0, length))), `length ${length} of ${encoded.length}`);
        }
      }),
      { numRuns: 50 },
    );
  });
}

test('varint and varlong extremes encode to their known sizes', (t) => {
  const cases: Array<[string, (w: Writer) => unknown, (r: Reader) => unknown, unknown, number]> = [
    ['varint min', (w) => w.varint(-0x80000000), (r) => r.varint(), -0x80000000, 5],
    ['varint max', (w) => w.varint(0x7fffffff), (r) => r.varint(), 0x7fffffff, 5],
    ['varint -1', (w) => w.varint(-1), (r) => r.varint(), -1, 1],
    ['varlong min', (w) => w.varlong(INT64_MIN), (r) => r.varlong(), INT64_MIN, 10],
    ['varlong max', (w) => w.varlong(INT64_MAX), (r) => r.varlong(), INT64_MAX, 10],
    ['unsignedVarint max', (w) => w.unsignedVarint(0xffffffff), (r) => r.unsignedVarint(), 0xffffffff, 5],
    ['unsignedVarlong max', (w) => w.unsignedVarlong(2n ** 64n - 1n), (r) => r.unsignedVarlong(), 2n ** 64n - 1n, 10],
  ];
  for (const [name, write, read, value, size] of cases) {
    const writer = new Writer();
    write(writer);
    t.is(writer.position, size, name);
    t.deepEqual(read(new Reader(writer.finish())), value, name);
  }
  t.is(unsignedVarintSize(0xffffffff), 5);
  t.is(varintSize(-0x80000000), 5);
  t.is(varintSize(-1), 1);
});

test('known encodings: zig-zag and compact lengths', (t) => {
  t.deepEqual([...new Writer().varint(-1).finish()], [0x01]);
  t.deepEqual([...new Writer().varint(1).finish()], [0x02]);
  t.deepEqual([...new Writer().varint(-64).finish()], [0x7f]);
  t.deepEqual([...new Writer().varint(64).finish()], [0x80, 0x01]);
  t.deepEqual([...new Writer().compactNullableString(null).finish()], [0x00]);
  t.deepEqual([...new Writer().compactString('ab').finish()], [0x03, 0x61, 0x62]);
  t.deepEqual([...new Writer().nullableString(null).finish()], [0xff, 0xff]);
  t.deepEqual([...new Writer().nullableBytes(null).finish()], [0xff, 0xff, 0xff, 0xff]);
  t.is(new Reader(Buffer.from('AAECAwQFBgcICQoLDA0ODw', 'base64url')).uuid(), 'AAECAwQFBgcICQoLDA0ODw');
});

test('bad length prefixes are DecodeErrors', (t) => {
  const bad: Array<[string, Buffer, (r: Reader) => unknown]> = [
    ['negative string length', Buffer.from([0xff, 0xfe, 0x61]), (r) => r.string()],
    ['null non-nullable string', Buffer.from([0xff, 0xff]), (r) => r.string()],
    ['string longer than input', Buffer.from([0x00, 0x05, 0x61]), (r) => r.nullableString()],
    ['negative bytes length', Buffer.from([0xff, 0xff, 0xff, 0xfe, 0x00]), (r) => r.nullableBytes()],
    ['bytes longer than input', Buffer.from([0x00, 0x00, 0x01, 0x00, 0x00]), (r) => r.bytes()],
    ['compact string longer than input', Buffer.from([0x0a, 0x61]), (r) => r.compactString()],
    ['null compact bytes', Buffer.from([0x00]), (r) => r.compactBytes()],
    ['negative array length', Buffer.from([0xff, 0xff, 0xff, 0xfe]), (r) => r.arrayLength()],
    ['array longer than input', Buffer.from([0x7f, 0xff, 0xff, 0xff, 0x00]), (r) => r.arrayLength()],
    ['compact array longer than input', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), (r) => r.compactArrayLength()],
    ['varint over 5 bytes', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), (r) => r.unsignedVarint()],
    ['varint beyond 32 bits', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x1f]), (r) => r.unsignedVarint()],
    ['varlong over 10 bytes', Buffer.from([...new Array<number>(10).fill(0xff), 0x01]), (r) => r.unsignedVarlong()],
  ];
  for (const [name, input, read] of bad) {
    const error = t.throws(() => read(new Reader(input)), undefined, name);
    t.true(error instanceof DecodeError, name);
  }
});

test('random bytes give values or DecodeErrors, never another exception', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 24 }), fc.integer({ min: 0, max: cases.length - 1 }), (input, index) => {
      const reader = new Reader(Buffer.from(input));
      try {
        cases[index]!.read(reader);
        t.true(reader.position <= input.length);
      } catch (error) {
        t.true(error instanceof DecodeError);
      }
    }),
    { numRuns: 500 },
  );
});

test('byte values are views of the input, not copies', (t) => {
  const input = new Writer().bytes(Buffer.from([1, 2, 3])).finish();
  const value = new Reader(input).bytes();
  t.is(value.buffer, input.buffer);
  t.is(value.byteOffset, input.byteOffset + 4);
});

test('a writer that grows mid-value keeps every byte (values written across a capacity boundary)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.integer(), text, bytes), { maxLength: 30 }), (values) => {
      const writer = new Writer(16);
      for (const value of values) {
        if (typeof value === 'number') writer.int32(value).varint(value);
        else if (typeof value === 'string') writer.compactString(value).string(value);
        else writer.bytes(value).uuid('AAECAwQFBgcICQoLDA0ODw');
      }
      const reader = new Reader(Buffer.from(writer.finish()));
      for (const value of values) {
        if (typeof value === 'number') {
          t.is(reader.int32(), value);
          t.is(reader.varint(), value);
        } else if (typeof value === 'string') {
          t.is(reader.compactString(), value);
          t.is(reader.string(), value);
        } else {
          t.deepEqual(reader.bytes(), value);
          t.is(reader.uuid(), 'AAECAwQFBgcICQoLDA0ODw');
        }
      }
      reader.assertFullyConsumed('values');
    }),
    { numRuns: 200 },
  );
});
