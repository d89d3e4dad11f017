import test from 'ava';
import fc from 'fast-check';
import {
  BATCH_HEADER_BYTES,
  CompressionType,
  DecodeError,
  decodeRecordBatch,
  decodeRecordBatches,
  encodeRecordBatch,
  iterateBatchBounds,
  patchBaseOffset,
  patchPartitionLeaderEpoch,
  readBatchHeader,
  verifyBatchCrc,
  computeBatchCrc,
} from '@defter/protocol';
import type { RecordBatchInput } from '@defter/protocol';
import { kafkajsDecodeBatch, kafkajsEncodeBatch, type KafkajsBatchInput } from './interop-helpers.js';

const COMPRESSIONS = [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];
const int64 = fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n });
const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b));
const nullableBytes = (maxLength: number) => fc.option(bytes(maxLength), { nil: null });
const headers = fc.array(fc.record({ key: fc.string({ maxLength: 12 }), value: nullableBytes(16) }), { maxLength: 3 });

const recordInput = fc.oneof(
  fc.record({ timestamp: int64, key: nullableBytes(64), value: nullableBytes(256), headers }),
  fc.record({ timestampDelta: fc.bigInt({ min: -(2n ** 20n), max: 2n ** 20n }), key: nullableBytes(64), value: nullableBytes(256), headers }),
  fc.record({ value: nullableBytes(64) }, { requiredKeys: [] }),
);

const batchInput: fc.Arbitrary<RecordBatchInput> = fc.record(
  {
    baseOffset: fc.bigInt({ min: 0n, max: 2n ** 62n }),
    partitionLeaderEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    compression: fc.constantFrom(...COMPRESSIONS),
    timestampType: fc.constantFrom('create' as const, 'log-append' as const),
    transactional: fc.boolean(),
    control: fc.boolean(),
    producerId: fc.bigInt({ min: -1n, max: 2n ** 62n }),
    producerEpoch: fc.integer({ min: -1, max: 32767 }),
    baseSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    baseTimestamp: int64,
    records: fc.array(recordInput, { maxLength: 30 }),
  },
  { requiredKeys: ['records'] },
);

/** What the decoder must return for an input: the encoder's documented defaults, spelled out independently. */
function expectedBatch(input: RecordBatchInput) {
  const firstAbsolute = input.records.find((r) => r.timestamp !== undefined)?.timestamp;
  const base = input.baseTimestamp ?? firstAbsolute ?? (input.records.length === 0 ? -1n : 0n);
  const absolutes = input.records.map((r) => r.timestamp ?? base + (r.timestampDelta ?? 0n));
  const max = absolutes.length === 0 ? -1n : absolutes.reduce((a, b) => (b > a ? b : a));
  return {
    baseOffset: input.baseOffset ?? 0n,
    partitionLeaderEpoch: input.partitionLeaderEpoch ?? -1,
    attributes:
      (input.compression ?? 0) |
      (input.timestampType === 'log-append' ? 0x08 : 0) |
      (input.transactional === true ? 0x10 : 0) |
      (input.control === true ? 0x20 : 0),
    lastOffsetDelta: input.lastOffsetDelta ?? (input.records.length === 0 ? 0 : input.records.length - 1),
    baseTimestamp: base,
    maxTimestamp: input.maxTimestamp ?? max,
    producerId: input.producerId ?? -1n,
    producerEpoch: input.producerEpoch ?? -1,
    baseSequence: input.baseSequence ?? -1,
    records: input.records.map((r, i) => ({
      offsetDelta: r.offsetDelta ?? i,
      timestampDelta: absolutes[i]! - base,
      key: r.key ?? null,
      value: r.value ?? null,
      headers: r.headers ?? [],
    })),
  };
}

test('round trip of arbitrary batches: every compression, headers, nulls, negative deltas, attributes', (t) => {
  fc.assert(
    fc.property(batchInput, (input) => {
      const encoded = encodeRecordBatch(input);
      const header = readBatchHeader(encoded);
      t.is(header.batchLength + 12, encoded.length);
      t.is(header.recordsCount, input.records.length);
      t.true(verifyBatchCrc(encoded));
      t.deepEqual(decodeRecordBatch(encoded), expectedBatch(input));
    }),
    { numRuns: 300 },
  );
});

test('defaults: exact header bytes of a batch of one empty record at time 0x0102', (t) => {
  const encoded = encodeRecordBatch({ records: [{ timestamp: 0x0102n }] });
  const expected =
    '0000000000000000' + // baseOffset 0
    '00000038' + // batchLength: 61 - 12 + 7
    'ffffffff' + // partitionLeaderEpoch -1
    '02' + // magic
    encoded.subarray(17, 21).toString('hex') + // crc, checked below
    '0000' + // attributes
    '00000000' + // lastOffsetDelta
    '0000000000000102' + // baseTimestamp
    '0000000000000102' + // maxTimestamp
    'ffffffffffffffff' + // producerId -1
    'ffff' + // producerEpoch -1
    'ffffffff' + // baseSequence -1
    '00000001' + // recordsCount
    '0c000000010100'; // the record: null key and value
  t.is(encoded.toString('hex'), expected);
  t.is(encoded.readUInt32BE(17), computeBatchCrc(encoded));
});

test('explicit lastOffsetDelta and timestamps (the cleaner keeps a batch\'s last offset) win over derived ones', (t) => {
  const encoded = encodeRecordBatch({
    lastOffsetDelta: 9,
    baseTimestamp: 100n,
    maxTimestamp: 500n,
    records: [{ offsetDelta: 2, timestamp: 150n }, { offsetDelta: 5, timestampDelta: -30n }],
  });
  const batch = decodeRecordBatch(encoded);
  t.is(batch.lastOffsetDelta, 9);
  t.is(batch.baseTimestamp, 100n);
  t.is(batch.maxTimestamp, 500n);
  t.deepEqual(
    batch.records.map((r) => [r.offsetDelta, r.timestampDelta]),
    [
      [2, 50n],
      [5, -30n],
    ],
  );
});

test('an empty batch (all records cleaned away) round trips', (t) => {
  const encoded = encodeRecordBatch({ baseOffset: 10n, lastOffsetDelta: 4, baseTimestamp: 7n, maxTimestamp: 7n, records: [] });
  t.is(encoded.length, BATCH_HEADER_BYTES);
  const batch = decodeRecordBatch(encoded);
  t.is(batch.records.length, 0);
  t.is(batch.lastOffsetDelta, 4);
});

const kafkajsRecords = fc.array(
  fc.record({
    timestampDelta: fc.bigInt({ min: -(2n ** 33n), max: 2n ** 33n }),
    key: nullableBytes(40),
    value: nullableBytes(200),
    headers: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), bytes(12), { maxKeys: 3 }),
  }),
  { minLength: 1, maxLength: 20 },
);

for (const compression of [CompressionType.None, CompressionType.Gzip]) {
  test(`golden bytes: identical to kafkajs 2.2.4's encoder (${CompressionType[compression]})`, async (t) => {
    await fc.assert(
      fc.asyncProperty(kafkajsRecords, int64, fc.boolean(), fc.bigInt({ min: -1n, max: 2n ** 40n }), async (records, firstTimestamp, transactional, producerId) => {
        const withDeltas = records.map((r, i) => ({ ...r, offsetDelta: i }));
        const maxTimestamp = firstTimestamp + withDeltas.reduce((m, r) => (r.timestampDelta > m ? r.timestampDelta : m), withDeltas[0]!.timestampDelta);
        const theirs = await kafkajsEncodeBatch({
          compression,
          firstOffset: 0n,
          firstTimestamp,
          maxTimestamp,
          partitionLeaderEpoch: 0,
          lastOffsetDelta: withDeltas.length - 1,
          transactional,
          producerId,
          producerEpoch: 0,
          firstSequence: 0,
          records: withDeltas,
        });
        const ours = encodeRecordBatch({
          compression,
          partitionLeaderEpoch: 0,
          transactional,
          producerId,
          producerEpoch: 0,
          baseSequence: 0,
          baseTimestamp: firstTimestamp,
          records: withDeltas.map((r) => ({
            timestampDelta: r.timestampDelta,
            key: r.key,
            value: r.value,
            headers: Object.entries(r.headers).map(([key, value]) => ({ key, value })),
          })),
        });
        t.is(ours.toString('hex'), theirs.toString('hex'));
      }),
      { numRuns: 100 },
    );
  });
}

for (const compression of [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy]) {
  test(`kafkajs-encoded batches decode with ours, and ours decode with kafkajs (${CompressionType[compression]})`, async (t) => {
    const records: KafkajsBatchInput['records'] = [
      { offsetDelta: 0, timestampDelta: 0n, key: Buffer.from('key-0'), value: Buffer.from('value-0'), headers: { trace: Buffer.from('abc') } },
      { offsetDelta: 1, timestampDelta: -25n, key: null, value: Buffer.alloc(5000, 'x'), headers: {} },
      { offsetDelta: 2, timestampDelta: 40n, key: Buffer.from('key-2'), value: null, headers: { a: Buffer.from('1'), b: Buffer.alloc(0) } },
    ];
    const theirs = await kafkajsEncodeBatch({
      compression,
      firstOffset: 1234n,
      firstTimestamp: 1_700_000_000_000n,
      maxTimestamp: 1_700_000_000_040n,
      partitionLeaderEpoch: 3,
      lastOffsetDelta: 2,
      transactional: true,
      producerId: 77n,
      producerEpoch: 2,
      firstSequence: 10,
      records,
    });
    const decoded = decodeRecordBatch(theirs);
    t.like(decoded, {
      baseOffset: 1234n,
      partitionLeaderEpoch: 3,
      attributes: compression | 0x10,
      lastOffsetDelta: 2,
      baseTimestamp: 1_700_000_000_000n,
      maxTimestamp: 1_700_000_000_040n,
      producerId: 77n,
      producerEpoch: 2,
      baseSequence: 10,
    });
    t.deepEqual(
      decoded.records,
      records.map((r) => ({ ...r, headers: Object.entries(r.headers).map(([key, value]) => ({ key, value })) })),
    );

    const ours = encodeRecordBatch({
      baseOffset: 1234n,
      compression,
      transactional: true,
      producerId: 77n,
      producerEpoch: 2,
      baseSequence: 10,
      records: records.map((r) => ({ timestamp: 1_700_000_000_000n + r.timestampDelta, key: r.key, value: r.value, headers: Object.entries(r.headers).map(([key, value]) => ({ key, value })) })),
    });
    const seen = await kafkajsDecodeBatch(ours);
    t.is(seen.firstOffset, '1234');
    t.is(seen.inTransaction, true);
    t.is(seen.producerId, '77');
    t.deepEqual(
      seen.records.map((r) => [r.offset, r.timestamp, r.key, r.value, r.headers]),
      records.map((r, i) => [String(1234 + i), String(1_700_000_000_000n + r.timestampDelta), r.key, r.value, r.headers]),
    );
  });
}

test('flipping any byte covered by the CRC, or the CRC itself, is a DecodeError', (t) => {
  fc.assert(
    fc.property(batchInput, fc.nat(), fc.integer({ min: 1, max: 255 }), (input, indexSeed, xor) => {
      const encoded = encodeRecordBatch(input);
      const index = 17 + (indexSeed % (encoded.length - 17));
      encoded[index] = encoded[index]! ^ xor;
      t.throws(() => decodeRecordBatch(encoded), { instanceOf: DecodeError });
    }),
    { numRuns: 300 },
  );
});

test('baseOffset and partitionLeaderEpoch are outside the CRC: patching them keeps the batch valid', (t) => {
  const encoded = encodeRecordBatch({ records: [{ value: Buffer.from('v') }] });
  patchBaseOffset(encoded, 987_654_321n);
  patchPartitionLeaderEpoch(encoded, 42);
  const batch = decodeRecordBatch(encoded);
  t.is(batch.baseOffset, 987_654_321n);
  t.is(batch.partitionLeaderEpoch, 42);
});

test('a wrong magic or an impossible batchLength is a DecodeError', (t) => {
  const encoded = encodeRecordBatch({ records: [{ value: Buffer.from('v') }] });
  const magic1 = Buffer.from(encoded);
  magic1[16] = 1;
  t.throws(() => decodeRecordBatch(magic1), { instanceOf: DecodeError, message: /magic 1/ });
  const longer = Buffer.from(encoded);
  longer.writeInt32BE(encoded.length, 8);
  t.throws(() => decodeRecordBatch(longer), { instanceOf: DecodeError });
  const shorter = Buffer.from(encoded);
  shorter.writeInt32BE(encoded.length - 13, 8);
  t.throws(() => decodeRecordBatch(shorter), { instanceOf: DecodeError });
});

test('truncating a batch anywhere is a DecodeError', (t) => {
  fc.assert(
    fc.property(batchInput, fc.nat(), (input, cutSeed) => {
      const encoded = encodeRecordBatch(input);
      const cut = cutSeed % encoded.length;
      t.throws(() => decodeRecordBatch(encoded.subarray(0, cut)), { instanceOf: DecodeError });
      // (An empty buffer is a valid, empty concatenation.)
      if (cut === 0) return;
      t.throws(() => decodeRecordBatches(encoded.subarray(0, cut)), { instanceOf: DecodeError });
    }),
    { numRuns: 200 },
  );
});

/** Re-stamps a valid CRC after a deliberate edit, to reach the checks behind the CRC. */
function withValidCrc(batch: Buffer): Buffer {
  batch.writeUInt32BE(computeBatchCrc(batch), 17);
  return batch;
}

test('with a valid CRC, a records count that disagrees with the records is a DecodeError', (t) => {
  for (const compression of COMPRESSIONS) {
    const encoded = encodeRecordBatch({ compression, records: [{ value: Buffer.from('a') }, { value: Buffer.from('b') }] });
    const fewer = withValidCrc(Buffer.from(encoded).fill(0, 57, 60).fill(1, 60, 61));
    t.throws(() => decodeRecordBatch(fewer), { instanceOf: DecodeError, message: /bytes left after 1 records/ }, CompressionType[compression]);
    const more = Buffer.from(encoded);
    more.writeInt32BE(3, 57);
    t.throws(() => decodeRecordBatch(withValidCrc(more)), { instanceOf: DecodeError }, CompressionType[compression]);
    const huge = Buffer.from(encoded);
    huge.writeInt32BE(2 ** 31 - 1, 57);
    t.throws(() => decodeRecordBatch(withValidCrc(huge)), { instanceOf: DecodeError, message: /cannot fit/ }, CompressionType[compression]);
    const negative = Buffer.from(encoded);
    negative.writeInt32BE(-1, 57);
    t.throws(() => decodeRecordBatch(withValidCrc(negative)), { instanceOf: DecodeError, message: /negative records count/ });
  }
});

test('with a valid CRC, garbage after the last record is a DecodeError', (t) => {
  const encoded = encodeRecordBatch({ records: [{ value: Buffer.from('a') }] });
  const padded = Buffer.concat([encoded, Buffer.from([0, 0, 0])]);
  padded.writeInt32BE(padded.length - 12, 8);
  t.throws(() => decodeRecordBatch(withValidCrc(padded)), { instanceOf: DecodeError, message: /3 bytes left after 1 records/ });
});

test('a compressed batch that inflates past decompressedBytesMax is a DecodeError', (t) => {
  for (const compression of COMPRESSIONS.slice(1)) {
    const encoded = encodeRecordBatch({ compression, records: [{ value: Buffer.alloc(2_000_000) }] });
    t.true(encoded.length < 200_000, CompressionType[compression]);
    t.is(decodeRecordBatch(encoded).records[0]!.value!.length, 2_000_000);
    const error = t.throws(() => decodeRecordBatch(encoded, 0, { decompressedBytesMax: 1_000_000 }), { instanceOf: DecodeError });
    t.true(error.offset >= BATCH_HEADER_BYTES, CompressionType[compression]);
  }
});

test('random input only ever throws DecodeError', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (noise) => {
      const buf = Buffer.from(noise);
      for (const decode of [() => decodeRecordBatch(buf), () => decodeRecordBatches(buf), () => [...iterateBatchBounds(buf)]]) {
        try {
          decode();
        } catch (error) {
          t.true(error instanceof DecodeError, String(error));
        }
      }
    }),
    { numRuns: 1000 },
  );
  // Random payloads behind a valid header and CRC reach the record and codec decoders.
  fc.assert(
    fc.property(fc.constantFrom(...COMPRESSIONS), fc.integer({ min: 0, max: 5 }), fc.uint8Array({ maxLength: 200 }), (compression, count, noise) => {
      const header = encodeRecordBatch({ compression, records: [] });
      const batch = Buffer.concat([header, noise]);
      batch.writeInt32BE(batch.length - 12, 8);
      batch.writeInt32BE(count, 57);
      try {
        decodeRecordBatch(withValidCrc(batch));
      } catch (error) {
        t.true(error instanceof DecodeError, String(error));
      }
    }),
    { numRuns: 1000 },
  );
});

test('iterateBatchBounds walks a concatenation and ends quietly at a partial trailing batch', (t) => {
  const batches = [0, 1, 2].map((i) => encodeRecordBatch({ baseOffset: BigInt(i * 10), records: Array.from({ length: i + 1 }, () => ({ value: Buffer.from(`v${i}`) })) }));
  const whole = Buffer.concat(batches);
  const expected = [
    { position: 0, size: batches[0]!.length },
    { position: batches[0]!.length, size: batches[1]!.length },
    { position: batches[0]!.length + batches[1]!.length, size: batches[2]!.length },
  ];
  t.deepEqual([...iterateBatchBounds(whole)], expected);
  for (const cut of [1, 11, 12, 60, batches[2]!.length - 1]) {
    const partial = whole.subarray(0, whole.length - cut);
    t.deepEqual([...iterateBatchBounds(partial)], expected.slice(0, 2), `cut ${cut}`);
    t.throws(() => decodeRecordBatches(partial), { instanceOf: DecodeError, message: /truncated batch/ });
    t.deepEqual(
      decodeRecordBatches(partial, { partialTrailingBatch: 'ignore' }).map((b) => b.baseOffset),
      [0n, 10n],
    );
  }
  t.deepEqual(
    decodeRecordBatches(whole).map((b) => [b.baseOffset, b.records.length]),
    [
      [0n, 1],
      [10n, 2],
      [20n, 3],
    ],
  );
  t.deepEqual(decodeRecordBatches(Buffer.alloc(0)), []);
  const badLength = Buffer.from(whole);
  badLength.writeInt32BE(-5, batches[0]!.length + 8);
  t.throws(() => [...iterateBatchBounds(badLength)], { instanceOf: DecodeError, message: /invalid batchLength -5/ });
});

test('decoding at a position inside a larger buffer', (t) => {
  const a = encodeRecordBatch({ records: [{ value: Buffer.from('first') }] });
  const b = encodeRecordBatch({ baseOffset: 1n, records: [{ value: Buffer.from('second') }] });
  const batch = decodeRecordBatch(Buffer.concat([a, b]), a.length);
  t.is(batch.baseOffset, 1n);
  t.deepEqual(batch.records[0]!.value, Buffer.from('second'));
});
