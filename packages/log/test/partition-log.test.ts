import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { CompressionType, encodeRecordBatch, readBatchHeader, verifyBatchCrc, hasLogAppendTime } from '@defter/protocol';
import { ManualClock } from '../src/clock.js';
import { CorruptRecordError, InvalidRecordError, LogClosedError, OffsetOutOfRangeError, RecordTooLargeError } from '../src/errors.js';
import { defaultLogConfig, type LogConfig } from '../src/log-config.js';
import { PartitionLog } from '../src/partition-log.js';
import type { FileSync } from '../src/segment.js';
import { makeBatch } from './helpers/batches.js';
import { tempDir } from './helpers/temp-dir.js';

const smallConfig: LogConfig = { ...defaultLogConfig, segmentBytes: 1500, indexIntervalBytes: 150 };

interface StoredBatch {
  baseOffset: bigint;
  lastOffset: bigint;
  bytes: Buffer;
  timestampsMs: bigint[];
}

/** What `readBatches` must return, computed from the array oracle. */
function expectedRead(stored: StoredBatch[], fetchOffset: bigint, maxBytes: number): Buffer[] {
  const result: Buffer[] = [];
  let total = 0;
  for (const batch of stored) {
    if (batch.lastOffset < fetchOffset) continue;
    if (total + batch.bytes.length > maxBytes && result.length > 0) break;
    result.push(batch.bytes);
    total += batch.bytes.length;
    if (total > maxBytes) break;
  }
  return result;
}

function expectedOffsetForTimestamp(stored: StoredBatch[], target: bigint): bigint | undefined {
  for (const batch of stored) {
    for (let i = 0; i < batch.timestampsMs.length; i++) if (batch.timestampsMs[i]! >= target) return batch.baseOffset + BigInt(i);
  }
  return undefined;
}

type Operation =
  | { kind: 'append'; values: string[]; timestampsMs: bigint[] }
  | { kind: 'read'; offsetFraction: number; maxBytes: number }
  | { kind: 'timestamp'; targetMs: bigint }
  | { kind: 'reopen' };

const operationArbitrary: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .array(fc.tuple(fc.string({ maxLength: 120 }), fc.bigInt({ min: 0n, max: 5000n })), { minLength: 1, maxLength: 6 })
      .map((records) => ({ kind: 'append' as const, values: records.map(([value]) => value), timestampsMs: records.map(([, ts]) => ts) })),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), offsetFraction: fc.double({ min: 0, max: 1, noNaN: true }), maxBytes: fc.integer({ min: 1, max: 3000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('timestamp' as const), targetMs: fc.bigInt({ min: 0n, max: 5200n }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

test('appends, reads, timestamp lookups and reopen agree with an array oracle', async (t) => {
  const root = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(operationArbitrary, { minLength: 1, maxLength: 60 }), async (operations) => {
      const dir = path.join(root, String(run++));
      const clock = new ManualClock(1_000_000);
      let log = await PartitionLog.open({ dir, config: smallConfig, clock });
      const stored: StoredBatch[] = [];
      let nextOffset = 0n;
      try {
        for (const operation of operations) {
          switch (operation.kind) {
            case 'append': {
              const batch = makeBatch({ values: operation.values, timestampsMs: operation.timestampsMs });
              const info = await log.append(batch);
              const lastOffset = nextOffset + BigInt(operation.values.length - 1);
              t.is(info.baseOffset, nextOffset);
              t.is(info.lastOffset, lastOffset);
              t.is(info.recordCount, operation.values.length);
              t.is(readBatchHeader(batch).baseOffset, nextOffset);
              stored.push({ baseOffset: nextOffset, lastOffset, bytes: Buffer.from(batch), timestampsMs: operation.timestampsMs });
              nextOffset = lastOffset + 1n;
              break;
            }
            case 'read': {
              const fetchOffset = BigInt(Math.floor(operation.offsetFraction * Number(nextOffset)));
              const batches = await log.readBatches(fetchOffset, operation.maxBytes);
              t.deepEqual(batches, expectedRead(stored, fetchOffset, operation.maxBytes));
              break;
            }
            case 'timestamp': {
              const match = await log.offsetForTimestamp(operation.targetMs);
              t.is(match?.offset, expectedOffsetForTimestamp(stored, operation.targetMs));
              break;
            }
            case 'reopen': {
              await log.close();
              log = await PartitionLog.open({ dir, config: smallConfig, clock });
              break;
            }
          }
          t.is(log.logEndOffset, nextOffset);
          t.is(log.highWatermark, nextOffset);
        }
        t.deepEqual(await log.readBatches(0n, 1 << 30), stored.map((batch) => batch.bytes));
        const segments = log.segments();
        for (let i = 1; i < segments.length; i++) t.is(segments[i]!.baseOffset, segments[i - 1]!.nextOffset);
      } finally {
        await log.close();
      }
    }),
    { numRuns: 25 },
  );
});

test('read: ranges of whole batches, bounds, out-of-range offsets and maxOffset', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config: smallConfig, clock: new ManualClock(0) });
  const sizes: number[] = [];
  for (let i = 0; i < 30; i++) {
    const batch = makeBatch({ values: ['x'.repeat(100), 'y'] });
    sizes.push(batch.length);
    await log.append(batch);
  }
  t.true(log.segments().length > 2);
  const all = await log.read(0n, 1 << 20);
  t.is(all.sizeBytes, sizes.reduce((a, b) => a + b, 0));
  t.is(all.ranges.length, log.segments().length, 'one contiguous range per segment');
  t.is(all.logEndOffset, 60n);
  t.is(all.highWatermark, 60n);
  t.is(all.logStartOffset, 0n);
  t.deepEqual((await log.read(60n, 1000)).ranges, []);
  await t.throwsAsync(log.read(61n, 1000), { instanceOf: OffsetOutOfRangeError });
  await t.throwsAsync(log.read(-1n, 1000), { instanceOf: OffsetOutOfRangeError });
  const one = await log.read(7n, 1);
  t.is(one.sizeBytes, sizes[3]);
  t.is(one.ranges[0]!.firstOffset, 6n);
  t.is((await log.read(7n, 1, { minOneBatch: false })).sizeBytes, 0);
  const bounded = await log.read(0n, 1 << 20, { maxOffset: 11n });
  t.is(bounded.ranges[bounded.ranges.length - 1]!.nextOffset, 10n);
  t.is(log.updateHighWatermark(20n), 20n);
  t.is(log.updateHighWatermark(100n), 60n);
  await log.close();
});

test('append rejects bad batches with typed errors and keeps offsets dense', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config: { ...defaultLogConfig, maxMessageBytes: 400 }, clock: new ManualClock(0) });
  await log.append(makeBatch({ values: ['a'] }));

  const corrupt = makeBatch({ values: ['hello'] });
  corrupt[corrupt.length - 1] ^= 0xff;
  await t.throwsAsync(log.append(corrupt), { instanceOf: CorruptRecordError, message: /CRC-32C/ });
  const good = makeBatch({ values: ['hello', 'world'] });
  await t.throwsAsync(log.append(good.subarray(0, good.length - 1)), { instanceOf: CorruptRecordError });
  await t.throwsAsync(log.append(good.subarray(0, 30)), { instanceOf: CorruptRecordError });
  await t.throwsAsync(log.append(Buffer.concat([good, good])), { instanceOf: CorruptRecordError });
  const badMagic = Buffer.from(good);
  badMagic[16] = 1;
  await t.throwsAsync(log.append(badMagic), { instanceOf: CorruptRecordError });
  await t.throwsAsync(log.append(makeBatch({ values: ['z'.repeat(500)] })), { instanceOf: RecordTooLargeError });
  await t.throwsAsync(log.append(encodeRecordBatch({ records: [] })), { instanceOf: InvalidRecordError });

  const info = await log.append(good);
  t.is(info.baseOffset, 1n);
  t.is(log.logEndOffset, 3n);
  await log.close();
  await t.throwsAsync(log.append(makeBatch({ values: ['late'] })), { instanceOf: LogClosedError });
  await t.throwsAsync(log.read(0n, 100), { instanceOf: LogClosedError });
});

test('LogAppendTime stamps the broker time and rewrites the CRC', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(1_700_000_000_000);
  const log = await PartitionLog.open({ dir, config: { ...defaultLogConfig, messageTimestampType: 'LogAppendTime' }, clock });
  const batch = makeBatch({ values: ['a', 'b'], timestampsMs: [5n, 6n] });
  const info = await log.append(batch);
  t.is(info.logAppendTimeMs, 1_700_000_000_000n);
  t.is(info.maxTimestampMs, 1_700_000_000_000n);
  const [stored] = await log.readBatches(0n, 1 << 20);
  const header = readBatchHeader(stored!);
  t.true(hasLogAppendTime(header.attributes));
  t.is(header.maxTimestamp, 1_700_000_000_000n);
  t.true(verifyBatchCrc(stored!));
  t.is((await log.offsetForTimestamp(1_700_000_000_000n))?.offset, 0n);
  await log.close();
});

test('offsetForTimestamp: -1 is the log end, -2 the log start, compressed batches answer with their first offset', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, clock: new ManualClock(0) });
  await log.append(makeBatch({ values: ['a', 'b', 'c'], timestampsMs: [10n, 20n, 30n] }));
  await log.append(makeBatch({ values: ['d', 'e'], timestampsMs: [40n, 50n], compression: CompressionType.Gzip }));
  t.deepEqual(await log.offsetForTimestamp(-1n), { offset: 5n, timestampMs: -1n });
  t.deepEqual(await log.offsetForTimestamp(-2n), { offset: 0n, timestampMs: -1n });
  t.deepEqual(await log.offsetForTimestamp(15n), { offset: 1n, timestampMs: 20n });
  t.deepEqual(await log.offsetForTimestamp(45n), { offset: 3n, timestampMs: 50n });
  t.is(await log.offsetForTimestamp(51n), undefined);
  await log.close();
});

test('group commit: concurrent appends get dense offsets in arrival order and share fsyncs', async (t) => {
  const dir = await tempDir(t);
  let logSyncs = 0;
  const countingSync: FileSync = async (file, filePath) => {
    if (filePath.endsWith('.log')) logSyncs++;
    await file.datasync();
  };
  const log = await PartitionLog.open({ dir, config: { ...defaultLogConfig, flushMessages: 1 }, clock: new ManualClock(0), fileSync: countingSync });
  const syncsAfterOpen = logSyncs;
  const appends = Array.from({ length: 200 }, (_, i) => log.append(makeBatch({ values: [`v${i}`, `w${i}`] })));
  const infos = await Promise.all(appends);
  t.deepEqual(
    infos.map((info) => info.baseOffset),
    Array.from({ length: 200 }, (_, i) => BigInt(2 * i)),
  );
  const syncs = logSyncs - syncsAfterOpen;
  t.true(syncs >= 1, 'flush.messages = 1 fsyncs');
  t.true(syncs <= 3, `200 concurrent appends took ${syncs} fsyncs`);
  t.is(log.recoveryPointOffset, 400n);
  const batches = await log.readBatches(0n, 1 << 30);
  t.deepEqual(
    batches.map((batch) => readBatchHeader(batch).baseOffset),
    Array.from({ length: 200 }, (_, i) => BigInt(2 * i)),
  );
  await log.close();
});
