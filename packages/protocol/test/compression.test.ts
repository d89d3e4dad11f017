import test from 'ava';
import fc from 'fast-check';
import { CompressionType, compress, decompress, DecodeError, isXerialFramed, snappyCompressRaw } from '@defter/protocol';
import { kafkajsGzip, kafkajsSnappy, lz4js } from './interop-helpers.js';

const CODECS = [CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd] as const;
const MiB = 1024 * 1024;

/** Compressible text and incompressible noise, in sizes that cross snappy's 32 KiB chunks and lz4's 64 KiB blocks. */
const payloads = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }),
  fc.tuple(fc.string({ maxLength: 40 }), fc.integer({ min: 1, max: 5000 })).map(([text, times]) => Buffer.from(text.repeat(times))),
  fc.integer({ min: 0, max: 200_000 }).map((size) => Buffer.alloc(size, 'kafka ')),
);

for (const type of CODECS) {
  const name = CompressionType[type];

  test(`${name}: round trip of arbitrary payloads`, (t) => {
    fc.assert(
      fc.property(payloads, (payload) => {
        const packed = compress(type, payload);
        t.deepEqual(decompress(type, packed), Buffer.from(payload));
      }),
      { numRuns: 60 },
    );
  });

  test(`${name}: a payload over the limit is a DecodeError, one at the limit is not`, (t) => {
    const payload = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `${i * 7919},`).join('').slice(0, 250_000));
    const packed = compress(type, payload);
    t.is(decompress(type, packed, payload.length).length, payload.length);
    const error = t.throws(() => decompress(type, packed, payload.length - 1));
    t.true(error instanceof DecodeError, String(error));
  });

  test(`${name}: a bomb (64 MiB of zeros) is refused at a 1 MiB limit`, (t) => {
    const packed = compress(type, Buffer.alloc(64 * MiB));
    t.true(packed.length < 4 * MiB);
    t.throws(() => decompress(type, packed, MiB), { instanceOf: DecodeError });
  });

  test(`${name}: truncated, corrupted and random input only ever throws DecodeError`, (t) => {
    const original = Buffer.from('hello kafka, '.repeat(5000));
    const packed = compress(type, original);
    fc.assert(
      fc.property(fc.nat(packed.length - 1), (cut) => {
        try {
          const out = decompress(type, packed.subarray(0, cut));
          // xerial framing has no end mark: a cut at a chunk boundary is a shorter valid stream (the batch CRC catches it).
          t.is(type, CompressionType.Snappy, `prefix of ${cut}/${packed.length} bytes decoded to ${out.length} bytes`);
          t.true(out.length < original.length && original.subarray(0, out.length).equals(out));
        } catch (error) {
          t.true(error instanceof DecodeError, String(error));
        }
      }),
      { numRuns: 80 },
    );
    fc.assert(
      fc.property(fc.nat(packed.length - 1), fc.integer({ min: 1, max: 255 }), (index, xor) => {
        const copy = Buffer.from(packed);
        copy[index] = copy[index]! ^ xor;
        try {
          // Some flips land in bytes no codec checks (e.g. a gzip header's mtime): the output may be right.
          const out = decompress(type, copy);
          t.true(out.length <= 64 * MiB);
        } catch (error) {
          t.true(error instanceof DecodeError, String(error));
        }
      }),
      { numRuns: 150 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (noise) => {
        try {
          decompress(type, noise, MiB);
        } catch (error) {
          t.true(error instanceof DecodeError, String(error));
        }
      }),
      { numRuns: 150 },
    );
  });
}

test('an unknown compression type is a DecodeError when decoding and a RangeError when encoding', (t) => {
  t.throws(() => decompress(5 as CompressionType, Buffer.alloc(4)), { instanceOf: DecodeError });
  t.throws(() => compress(7 as CompressionType, Buffer.alloc(4)), { instanceOf: RangeError });
});

test('None passes bytes through, within the limit', (t) => {
  const bytes = Buffer.from('abc');
  t.deepEqual(compress(CompressionType.None, bytes), bytes);
  t.deepEqual(decompress(CompressionType.None, bytes), bytes);
  t.throws(() => decompress(CompressionType.None, bytes, 2), { instanceOf: DecodeError });
});

test('gzip: byte-identical to kafkajs (node zlib defaults, fixed header) and each decodes the other', async (t) => {
  const payload = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(300));
  const ours = compress(CompressionType.Gzip, payload);
  const theirs = await kafkajsGzip.compress({ buffer: payload });
  t.deepEqual(ours, theirs);
  t.is(ours.readUInt16BE(0), 0x1f8b);
  t.is(ours.readUInt32LE(4), 0, 'mtime is 0, so output is deterministic');
  t.deepEqual(await kafkajsGzip.decompress(ours), payload);
  t.deepEqual(decompress(CompressionType.Gzip, theirs), payload);
});

test('snappy: we write xerial framing in 32 KiB chunks, with the exact header', (t) => {
  const payload = Buffer.alloc(100_000, 'x');
  const packed = compress(CompressionType.Snappy, payload);
  t.true(isXerialFramed(packed));
  t.deepEqual(packed.subarray(0, 16), Buffer.from('82534e41505059000000000100000001', 'hex'));
  // 100 000 bytes = 3 full 32 KiB chunks + 1 696 bytes: four chunks, each [int32 length][raw block].
  let position = 16;
  const chunkSizes: number[] = [];
  while (position < packed.length) {
    const length = packed.readInt32BE(position);
    chunkSizes.push(decompress(CompressionType.Snappy, packed.subarray(position + 4, position + 4 + length)).length);
    position += 4 + length;
  }
  t.is(position, packed.length);
  t.deepEqual(chunkSizes, [32_768, 32_768, 32_768, 1_696]);
});

test('snappy: kafkajs-snappy reads our xerial frames, and we read its raw blocks', async (t) => {
  for (const size of [0, 1, 1000, 32 * 1024, 32 * 1024 + 1, 150_000]) {
    const payload = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7) % 251));
    const ours = compress(CompressionType.Snappy, payload);
    t.deepEqual(await kafkajsSnappy.decompress(ours), payload, `kafkajs-snappy decoding our ${size}-byte frame`);
    const theirs = await kafkajsSnappy.compress({ buffer: payload });
    t.false(isXerialFramed(theirs));
    t.deepEqual(decompress(CompressionType.Snappy, theirs), payload, `decoding kafkajs-snappy's ${size}-byte raw block`);
    t.deepEqual(decompress(CompressionType.Snappy, snappyCompressRaw(payload)), payload, 'our raw blocks decode too');
  }
});

test('snappy: a raw block that declares more than the limit is refused before inflating', (t) => {
  // varint 0xffffffff: a block claiming 4 GiB, followed by junk.
  const bomb = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x01]);
  const error = t.throws(() => decompress(CompressionType.Snappy, bomb, MiB), { instanceOf: DecodeError });
  t.regex(error.message, /declares 4294967295 bytes/);
});

test('lz4: frames from an independent implementation (lz4js) decode, and lz4js reads ours', (t) => {
  for (const size of [0, 10, 65_536, 65_537, 300_000]) {
    const payload = Buffer.from(Array.from({ length: size }, (_, i) => (i % 97) ^ (i >> 9)));
    const theirs = Buffer.from(lz4js.compress(payload));
    // lz4js leaves FLG's block-independence bit clear, which Kafka's Java client refuses, and so do we.
    t.is(theirs[4]! & 0x20, 0);
    t.throws(() => decompress(CompressionType.Lz4, theirs), { instanceOf: DecodeError, message: /dependent blocks/ });
    // Its frames here are one 4 MiB block, independent in fact: with the bit set (and the header
    // checksum now stale, which the batch CRC makes redundant) they decode.
    theirs[4] = theirs[4]! | 0x20;
    t.deepEqual(decompress(CompressionType.Lz4, theirs), payload, `decoding lz4js's ${size}-byte frame`);
    const ours = compress(CompressionType.Lz4, payload);
    t.is(ours.readUInt32LE(0), 0x184d2204);
    t.is(ours[4]! & 0x20, 0x20, 'we write independent blocks');
    t.deepEqual(Buffer.from(lz4js.decompress(ours)), payload, `lz4js decoding our ${size}-byte frame`);
  }
});

test('lz4: a frame that declares a content size past the limit is refused before inflating', (t) => {
  // magic, FLG (version 01, independent blocks, content size), BD (64 KiB), content size 2^40, HC, end mark.
  const frame = Buffer.from('04224d18' + '68' + '40' + '0000000000010000' + '00' + '00000000', 'hex');
  t.throws(() => decompress(CompressionType.Lz4, frame, MiB), { instanceOf: DecodeError, message: /declares 1099511627776 bytes/ });
});

test('lz4: concatenated frames decode to the concatenation; trailing junk is a DecodeError', (t) => {
  const a = Buffer.from('first frame '.repeat(100));
  const b = Buffer.from('second frame '.repeat(100));
  const both = Buffer.concat([compress(CompressionType.Lz4, a), compress(CompressionType.Lz4, b)]);
  t.deepEqual(decompress(CompressionType.Lz4, both), Buffer.concat([a, b]));
  t.throws(() => decompress(CompressionType.Lz4, Buffer.concat([compress(CompressionType.Lz4, a), Buffer.from([1, 2, 3])])), {
    instanceOf: DecodeError,
  });
});
