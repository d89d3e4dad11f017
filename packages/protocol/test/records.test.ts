import test from 'ava';
import fc from 'fast-check';
import { DecodeError, decodeRecord, encodeRecord, measureRecord, encodedRecordBytes, Reader, varlongSize, Writer } from '@defter/protocol';
import type { RecordToEncode } from '@defter/protocol';

function encode(record: RecordToEncode): Buffer {
  const measure = measureRecord(record);
  const writer = new Writer(encodedRecordBytes(measure));
  encodeRecord(writer, record, measure);
  return Buffer.from(writer.finish());
}

test('exact bytes of a record with a key, a value and two headers (one null)', (t) => {
  const bytes = encode({
    offsetDelta: 3,
    timestampDelta: -2n,
    key: Buffer.from('k'),
    value: Buffer.from('vv'),
    headers: [
      { key: 'h', value: Buffer.from([0xab]) },
      { key: 'n', value: null },
    ],
  });
  // body 16 bytes → zig-zag 32 (0x20); attributes 0; tsDelta -2 → 3; offsetDelta 3 → 6; key len 1 → 2, 'k';
  // value len 2 → 4, 'vv'; 2 headers → 4; 'h' (2, 0x68) value len 1 → 2, 0xab; 'n' (2, 0x6e) value null → 1.
  t.is(bytes.toString('hex'), '20' + '00' + '03' + '06' + '02' + '6b' + '04' + '7676' + '04' + '0268' + '02ab' + '026e' + '01');
  t.is(bytes.length, 17);
  const decoded = decodeRecord(new Reader(bytes));
  t.deepEqual(decoded, {
    offsetDelta: 3,
    timestampDelta: -2n,
    key: Buffer.from('k'),
    value: Buffer.from('vv'),
    headers: [
      { key: 'h', value: Buffer.from([0xab]) },
      { key: 'n', value: null },
    ],
  });
});

test('the smallest record: null key and value, no headers, is 7 bytes', (t) => {
  const bytes = encode({ offsetDelta: 0, timestampDelta: 0n, key: null, value: null, headers: [] });
  t.is(bytes.toString('hex'), '0c' + '00' + '00' + '00' + '01' + '01' + '00');
});

test('varlongSize matches what the writer writes, across the int64 range', (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), (value) => {
      const writer = new Writer(16);
      writer.varlong(value);
      t.is(varlongSize(value), writer.finish().length);
    }),
    { numRuns: 500 },
  );
  t.is(varlongSize(0n), 1);
  t.is(varlongSize(-1n), 1);
  t.is(varlongSize(63n), 1);
  t.is(varlongSize(64n), 2);
  t.is(varlongSize(-(2n ** 63n)), 10);
});

const header = fc.record({ key: fc.string({ maxLength: 20 }), value: fc.option(fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)), { nil: null }) });
const record = fc.record({
  offsetDelta: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  timestampDelta: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  key: fc.option(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), { nil: null }),
  value: fc.option(fc.uint8Array({ maxLength: 500 }).map((b) => Buffer.from(b)), { nil: null }),
  headers: fc.array(header, { maxLength: 5 }),
});

test('round trip of arbitrary records; measured size equals bytes written', (t) => {
  fc.assert(
    fc.property(record, (input) => {
      const measure = measureRecord(input);
      const bytes = encode(input);
      t.is(bytes.length, encodedRecordBytes(measure));
      const reader = new Reader(bytes);
      t.deepEqual(decodeRecord(reader), input);
      t.is(reader.remaining, 0);
    }),
    { numRuns: 300 },
  );
});

test('truncating a record anywhere is a DecodeError', (t) => {
  fc.assert(
    fc.property(record, fc.nat(), (input, cutSeed) => {
      const bytes = encode(input);
      const cut = cutSeed % bytes.length;
      t.throws(() => decodeRecord(new Reader(bytes.subarray(0, cut))), { instanceOf: DecodeError });
    }),
    { numRuns: 300 },
  );
});

test('a record whose fields overrun or underrun its length prefix is a DecodeError', (t) => {
  const bytes = encode({ offsetDelta: 0, timestampDelta: 0n, key: Buffer.from('abc'), value: null, headers: [] });
  // Claim one byte fewer (the fields run past the declared end) and one byte more (with a spare byte to read).
  const shorter = Buffer.from(bytes);
  shorter[0] = shorter[0]! - 2;
  t.throws(() => decodeRecord(new Reader(shorter)), { instanceOf: DecodeError, message: /record body used/ });
  const longer = Buffer.concat([bytes, Buffer.from([0])]);
  longer[0] = longer[0]! + 2;
  t.throws(() => decodeRecord(new Reader(longer)), { instanceOf: DecodeError, message: /record body used/ });
});

test('malformed lengths and counts are DecodeErrors', (t) => {
  // key length -2
  t.throws(() => decodeRecord(new Reader(Buffer.from('0c' + '00' + '00' + '00' + '03' + '01' + '00', 'hex'))), {
    instanceOf: DecodeError,
    message: /invalid length -2/,
  });
  // a null header key
  t.throws(() => decodeRecord(new Reader(Buffer.from('10' + '00' + '00' + '00' + '01' + '01' + '02' + '01' + '01', 'hex'))), {
    instanceOf: DecodeError,
    message: /null header key/,
  });
  // 1 000 000 headers in a 7-byte body
  t.throws(() => decodeRecord(new Reader(Buffer.from('10' + '00' + '00' + '00' + '01' + '01' + '80897a', 'hex'))), {
    instanceOf: DecodeError,
  });
  // negative record length
  t.throws(() => decodeRecord(new Reader(Buffer.from('01', 'hex'))), { instanceOf: DecodeError, message: /record length -1/ });
});

test('random bytes never throw anything but DecodeError', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        decodeRecord(new Reader(Buffer.from(bytes)));
      } catch (error) {
        t.true(error instanceof DecodeError, String(error));
      }
    }),
    { numRuns: 1000 },
  );
});
