import { crc32 as zlibCrc32 } from 'node:zlib';
import test from 'ava';
import fc from 'fast-check';
import { CompressionType, compress, DecodeError, decodeLegacyMessageSet, detectMagic, encodeRecordBatch, snappyCompressRaw } from '@defter/protocol';
import { kafkajsEncodeMessageSet, kafkajsEncodeWrapper } from './interop-helpers.js';

const entries = [
  { key: Buffer.from('k0'), value: Buffer.from('v0'), timestamp: 1_600_000_000_000n },
  { key: null, value: Buffer.from('v1'), timestamp: 1_600_000_000_500n },
  { key: Buffer.from('k2'), value: null, timestamp: 1_599_999_999_000n },
];

/** Re-stamps a message's CRC-32 with node:zlib's implementation (independent of the decoder's). */
function restampCrc(set: Buffer, position = 0): Buffer {
  const end = position + 12 + set.readInt32BE(position + 8);
  set.writeUInt32BE(zlibCrc32(set.subarray(position + 16, end)) >>> 0, position + 12);
  return set;
}

test('detectMagic reads byte 16 of any format', (t) => {
  t.is(detectMagic(encodeRecordBatch({ records: [] })), 2);
  t.is(detectMagic(kafkajsEncodeMessageSet(0, entries)), 0);
  t.is(detectMagic(kafkajsEncodeMessageSet(1, entries)), 1);
  const two = Buffer.concat([kafkajsEncodeMessageSet(0, entries.slice(0, 1)), encodeRecordBatch({ records: [] })]);
  t.is(detectMagic(two, two.length - 61), 2);
  t.throws(() => detectMagic(Buffer.alloc(16)), { instanceOf: DecodeError });
});

test('uncompressed v0 messages: one batch each, no timestamps', (t) => {
  const batches = decodeLegacyMessageSet(kafkajsEncodeMessageSet(0, entries));
  t.is(batches.length, 3);
  batches.forEach((batch, i) => {
    t.deepEqual(batch, {
      magic: 0,
      baseOffset: -1n, // kafkajs leaves uncompressed offsets at -1 for the broker to assign
      partitionLeaderEpoch: -1,
      attributes: 0,
      lastOffsetDelta: 0,
      baseTimestamp: -1n,
      maxTimestamp: -1n,
      producerId: -1n,
      producerEpoch: -1,
      baseSequence: -1,
      records: [{ offsetDelta: 0, timestampDelta: 0n, key: entries[i]!.key, value: entries[i]!.value, headers: [] }],
    });
  });
});

test('uncompressed v1 messages carry their timestamps', (t) => {
  const batches = decodeLegacyMessageSet(kafkajsEncodeMessageSet(1, entries));
  t.deepEqual(
    batches.map((b) => [b.magic, b.baseTimestamp, b.maxTimestamp, b.records[0]!.timestampDelta, b.records[0]!.key, b.records[0]!.value]),
    entries.map((e) => [1, e.timestamp, e.timestamp, 0n, e.key, e.value]),
  );
});

const WRAPPER_CODECS: Array<[string, number, (inner: Buffer) => Buffer]> = [
  ['gzip', CompressionType.Gzip, (inner) => compress(CompressionType.Gzip, inner)],
  ['snappy (xerial)', CompressionType.Snappy, (inner) => compress(CompressionType.Snappy, inner)],
  ['snappy (raw)', CompressionType.Snappy, (inner) => snappyCompressRaw(inner)],
  ['lz4', CompressionType.Lz4, (inner) => compress(CompressionType.Lz4, inner)],
];

for (const [name, codec, pack] of WRAPPER_CODECS) {
  test(`v1 ${name} wrapper: relative inner offsets resolve from the wrapper's offset`, (t) => {
    const inner = kafkajsEncodeMessageSet(1, entries, codec); // inner offsets 0, 1, 2
    const wrapper = kafkajsEncodeWrapper(1, 100n, codec, pack(inner), 1_600_000_000_900n);
    const [batch, ...rest] = decodeLegacyMessageSet(wrapper);
    t.is(rest.length, 0);
    t.deepEqual(batch, {
      magic: 1,
      baseOffset: 98n, // the wrapper's 100 is the last inner message's absolute offset
      partitionLeaderEpoch: -1,
      attributes: codec,
      lastOffsetDelta: 2,
      baseTimestamp: 1_600_000_000_000n,
      maxTimestamp: 1_600_000_000_500n,
      producerId: -1n,
      producerEpoch: -1,
      baseSequence: -1,
      records: [
        { offsetDelta: 0, timestampDelta: 0n, key: entries[0]!.key, value: entries[0]!.value, headers: [] },
        { offsetDelta: 1, timestampDelta: 500n, key: entries[1]!.key, value: entries[1]!.value, headers: [] },
        { offsetDelta: 2, timestampDelta: -1000n, key: entries[2]!.key, value: entries[2]!.value, headers: [] },
      ],
    });
  });

  test(`v0 ${name} wrapper: inner offsets are absolute`, (t) => {
    const inner = kafkajsEncodeMessageSet(0, entries, codec);
    const [batch] = decodeLegacyMessageSet(kafkajsEncodeWrapper(0, 2n, codec, pack(inner)));
    t.is(batch!.magic, 0);
    t.is(batch!.baseOffset, 0n);
    t.deepEqual(
      batch!.records.map((r) => [r.offsetDelta, r.key, r.value]),
      entries.map((e, i) => [i, e.key, e.value]),
    );
  });
}

test('a v1 wrapper with log-append time gives every inner message the wrapper\'s timestamp', (t) => {
  const inner = kafkajsEncodeMessageSet(1, entries, CompressionType.Gzip);
  const wrapper = kafkajsEncodeWrapper(1, 2n, CompressionType.Gzip, compress(CompressionType.Gzip, inner), 1_700_000_000_000n);
  wrapper[17] = wrapper[17]! | 0x08;
  const [batch] = decodeLegacyMessageSet(restampCrc(wrapper));
  t.is(batch!.attributes, 0x09);
  t.is(batch!.baseTimestamp, 1_700_000_000_000n);
  t.is(batch!.maxTimestamp, 1_700_000_000_000n);
  t.deepEqual(
    batch!.records.map((r) => r.timestampDelta),
    [0n, 0n, 0n],
  );
});

test('malformed wrappers are DecodeErrors', (t) => {
  const inner = kafkajsEncodeMessageSet(1, entries, CompressionType.Gzip);
  // zstd is not a legacy codec
  const zstd = kafkajsEncodeWrapper(1, 2n, CompressionType.Gzip, compress(CompressionType.Zstd, inner));
  zstd[17] = CompressionType.Zstd;
  t.throws(() => decodeLegacyMessageSet(restampCrc(zstd)), { instanceOf: DecodeError, message: /compression type 4/ });
  // inner magic differs from the wrapper's
  t.throws(() => decodeLegacyMessageSet(kafkajsEncodeWrapper(0, 2n, CompressionType.Gzip, compress(CompressionType.Gzip, inner))), {
    instanceOf: DecodeError,
    message: /inner magic 1/,
  });
  // nested compression
  const nested = kafkajsEncodeWrapper(1, 0n, CompressionType.Gzip, compress(CompressionType.Gzip, inner));
  t.throws(() => decodeLegacyMessageSet(kafkajsEncodeWrapper(1, 0n, CompressionType.Gzip, compress(CompressionType.Gzip, nested))), {
    instanceOf: DecodeError,
    message: /nested/,
  });
  // no inner messages
  t.throws(() => decodeLegacyMessageSet(kafkajsEncodeWrapper(1, 0n, CompressionType.Gzip, compress(CompressionType.Gzip, Buffer.alloc(0)))), {
    instanceOf: DecodeError,
    message: /no inner messages/,
  });
  // a wrapper bomb
  const bomb = kafkajsEncodeWrapper(1, 0n, CompressionType.Gzip, compress(CompressionType.Gzip, Buffer.alloc(10_000_000)));
  t.throws(() => decodeLegacyMessageSet(bomb, { decompressedBytesMax: 1_000_000 }), { instanceOf: DecodeError, message: /limit/ });
});

test('a bad CRC-32 anywhere in a message is a DecodeError', (t) => {
  fc.assert(
    fc.property(fc.constantFrom(0 as const, 1 as const), fc.nat(), fc.integer({ min: 1, max: 255 }), (magic, indexSeed, xor) => {
      const set = kafkajsEncodeMessageSet(magic, entries.slice(0, 1));
      const index = 12 + (indexSeed % (set.length - 12));
      set[index] = set[index]! ^ xor;
      t.throws(() => decodeLegacyMessageSet(set), { instanceOf: DecodeError });
    }),
    { numRuns: 300 },
  );
});

test('truncation is a DecodeError, or an ignored partial message when asked', (t) => {
  const set = kafkajsEncodeMessageSet(1, entries);
  const ends: number[] = [];
  for (let position = 0; position < set.length; position += 12 + set.readInt32BE(position + 8)) ends.push(position + 12 + set.readInt32BE(position + 8));
  t.is(ends.length, 3);
  for (let cut = 1; cut < set.length; cut++) {
    const prefix = set.subarray(0, cut);
    const whole = ends.filter((end) => end <= cut).length;
    if (ends.includes(cut)) {
      t.is(decodeLegacyMessageSet(prefix).length, whole);
      continue;
    }
    t.throws(() => decodeLegacyMessageSet(prefix), { instanceOf: DecodeError }, `cut at ${cut}`);
    t.is(decodeLegacyMessageSet(prefix, { partialTrailingBatch: 'ignore' }).length, whole);
  }
});

test('random input only ever throws DecodeError', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (noise, stampCrc) => {
      const buf = Buffer.from(noise);
      if (stampCrc && buf.length >= 17) {
        // Make the outer shell valid so that the fields behind the CRC are reached.
        buf.writeInt32BE(buf.length - 12, 8);
        buf[16] = buf[16]! & 1;
        restampCrc(buf);
      }
      try {
        decodeLegacyMessageSet(buf);
      } catch (error) {
        t.true(error instanceof DecodeError, String(error));
      }
    }),
    { numRuns: 2000 },
  );
});
