import test from 'ava';
import fc from 'fast-check';
import { crc32c } from '@defter/protocol';
import { crc32cReference } from './crc32c-reference.js';

const ascii = (text: string): Buffer => Buffer.from(text, 'latin1');

test('known vectors: the check value and RFC 3720 iSCSI test patterns', (t) => {
  t.is(crc32cReference(ascii('123456789')), 0xe3069283);
  t.is(crc32c(ascii('123456789')), 0xe3069283);
  t.is(crc32c(Buffer.alloc(0)), 0);
  // RFC 3720 appendix B.4
  t.is(crc32c(Buffer.alloc(32, 0x00)), 0x8a9136aa);
  t.is(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  const ascending = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  t.is(crc32c(ascending), 0x46dd794e);
  t.is(crc32cReference(ascending), 0x46dd794e);
  const descending = Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i));
  t.is(crc32c(descending), 0x113fdb5c);
});

test('native equals the table-driven reference on random buffers', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => {
      t.is(crc32c(bytes), crc32cReference(bytes));
    }),
    { numRuns: 300 },
  );
});

test('native equals the reference on random sub-ranges, and never reads outside them', (t) => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 2048 }).chain((bytes) =>
        fc.tuple(fc.constant(bytes), fc.nat(bytes.length), fc.nat(bytes.length)),
      ),
      ([bytes, a, b]) => {
        const start = Math.min(a, b);
        const end = Math.max(a, b);
        const expected = crc32cReference(bytes, start, end);
        t.is(crc32c(bytes, start, end), expected);
        t.is(crc32c(Buffer.from(bytes.subarray(start, end))), expected);
      },
    ),
    { numRuns: 300 },
  );
});

test('a single flipped bit changes the checksum', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 512 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (bytes, index, bit) => {
      const copy = Buffer.from(bytes);
      copy[index % copy.length]! ^= 1 << bit;
      t.not(crc32c(copy), crc32c(bytes));
    }),
    { numRuns: 200 },
  );
});
