import { readdir, stat } from 'node:fs/promises';
import test from 'ava';
import { patchBaseOffset } from '@defter/protocol';
import { ManualClock } from '../src/clock.js';
import { defaultLogConfig, type LogConfig } from '../src/log-config.js';
import { Segment, parseSegmentFileName, segmentFileName } from '../src/segment.js';
import { makeBatch, makeSizedBatch } from './helpers/batches.js';
import { tempDir } from './helpers/temp-dir.js';

function config(overrides: Partial<LogConfig> = {}): LogConfig {
  return { ...defaultLogConfig, indexIntervalBytes: 100, ...overrides };
}

/** Appends `count` batches of `recordsPerBatch` records, offsets dense from the segment's next offset. */
async function fill(segment: Segment, count: number, recordsPerBatch: number, approxBytes: number, firstTimestampMs = 1000n): Promise<Buffer[]> {
  const written: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const batch = makeSizedBatch(recordsPerBatch, approxBytes, firstTimestampMs + BigInt(i));
    patchBaseOffset(batch, segment.nextOffset);
    await segment.append(batch);
    written.push(batch);
  }
  return written;
}

test('file names are the 20-digit base offset', (t) => {
  t.is(segmentFileName(42n, '.log'), '00000000000000000042.log');
  t.is(segmentFileName(42n, '.index', '.cleaned'), '00000000000000000042.index.cleaned');
  t.deepEqual(parseSegmentFileName('00000000000000000042.timeindex.swap'), { baseOffset: 42n, extension: '.timeindex', suffix: '.swap' });
  t.is(parseSegmentFileName('42.log'), undefined);
  t.is(parseSegmentFileName('00000000000000000042.log.bak'), undefined);
});

test('append stores batches as they are, builds sparse indexes, and reads whole batches back', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(5_000);
  const segment = await Segment.create(dir, 100n, { config: config(), clock });
  t.is(segment.nextOffset, 100n);
  t.is(segment.maxTimestampMs, -1n);
  const written = await fill(segment, 20, 3, 120);
  t.is(segment.nextOffset, 160n);
  t.is(segment.maxTimestampMs, 1019n);
  t.is(segment.sizeBytes, written.reduce((sum, batch) => sum + batch.length, 0));
  t.is((await stat(segment.logPath)).size, segment.sizeBytes);
  t.true(segment.offsetIndex.entryCount >= 5);

  const seen: Buffer[] = [];
  for await (const entry of segment.batches(0, { verifyCrc: true })) seen.push(Buffer.from(entry.bytes));
  t.deepEqual(seen, written);

  // Offset 131 lies inside the batch [130, 132]: that batch comes back whole.
  const range = await segment.read(131n, 3 * written[0]!.length, { minOneBatch: true });
  t.truthy(range);
  t.is(range!.firstOffset, 130n);
  t.is(range!.nextOffset, 139n);
  t.is(range!.size, written[10]!.length + written[11]!.length + written[12]!.length);
  const bytes = Buffer.alloc(range!.size);
  await range!.file.read(bytes, 0, bytes.length, range!.position);
  t.deepEqual(bytes, Buffer.concat(written.slice(10, 13)));

  // A budget below one batch: minOneBatch decides.
  t.is((await segment.read(131n, 10, { minOneBatch: true }))!.size, written[10]!.length);
  t.is(await segment.read(131n, 10, { minOneBatch: false }), undefined);
  // maxOffset is exclusive of the batch that reaches it.
  t.is((await segment.read(100n, 1 << 20, { maxOffset: 106n, minOneBatch: true }))!.nextOffset, 106n);
  t.is((await segment.read(100n, 1 << 20, { maxOffset: 105n, minOneBatch: true }))!.nextOffset, 103n);
  t.is(await segment.read(160n, 1 << 20, { minOneBatch: true }), undefined);
  await segment.close();
});

test('reopen restores next offset and max timestamp from indexes plus the tail', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(5_000);
  const segment = await Segment.create(dir, 0n, { config: config(), clock });
  await fill(segment, 15, 2, 150);
  await segment.onBecomeInactive();
  await segment.close();
  const reopened = await Segment.open(dir, 0n, { config: config(), clock });
  t.is(await reopened.loadState(), undefined);
  t.is(reopened.nextOffset, 30n);
  t.is(reopened.maxTimestampMs, 1014n);
  await reopened.close();
});

test('roll conditions: size, segment.ms since the first append, full index, int32 offsets', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(10_000);
  const bySize = await Segment.create(dir, 0n, { config: config({ segmentBytes: 1000 }), clock });
  t.false(bySize.shouldRoll(5000, 0n, clock.nowMs()), 'an empty segment takes any batch');
  await fill(bySize, 4, 1, 200);
  const used = bySize.sizeBytes;
  t.false(bySize.shouldRoll(1000 - used, 10n, clock.nowMs()));
  t.true(bySize.shouldRoll(1000 - used + 1, 10n, clock.nowMs()));
  t.true(bySize.shouldRoll(10, 10n, clock.nowMs(), 1000 - used), 'pending bytes of the same group count');
  await bySize.close();

  const byTime = await Segment.create(dir, 100n, { config: config({ segmentMs: 60_000 }), clock });
  clock.advance(100_000);
  t.false(byTime.shouldRoll(100, 100n, clock.nowMs()), 'age counts from the first append, not creation');
  await fill(byTime, 1, 1, 100);
  clock.advance(59_999);
  t.false(byTime.shouldRoll(100, 101n, clock.nowMs()));
  t.false(byTime.isPastSegmentMs(clock.nowMs()));
  clock.advance(1);
  t.true(byTime.shouldRoll(100, 101n, clock.nowMs()));
  t.true(byTime.isPastSegmentMs(clock.nowMs()));
  await byTime.close();

  // 24 bytes: 3 offset index entries, 2 time index entries; either index being full rolls.
  const byIndex = await Segment.create(dir, 200n, { config: config({ indexIntervalBytes: 0, segmentIndexBytes: 24 }), clock });
  await fill(byIndex, 2, 1, 100);
  t.is(byIndex.offsetIndex.entryCount, 1, 'no entry for the first batch at position 0');
  t.false(byIndex.shouldRoll(100, 202n, clock.nowMs()));
  await fill(byIndex, 1, 1, 100, 2000n);
  t.true(byIndex.timeIndex.isFull);
  t.false(byIndex.offsetIndex.isFull);
  t.true(byIndex.shouldRoll(100, 203n, clock.nowMs()));
  await byIndex.close();

  const byOffset = await Segment.create(dir, 300n, { config: config(), clock });
  t.true(byOffset.shouldRoll(100, 300n + 0x80000000n, clock.nowMs()));
  t.false(byOffset.shouldRoll(100, 300n + 0x7fffffffn, clock.nowMs()));
  await byOffset.close();
});

test('findOffsetByTimestamp returns the first record at or after a timestamp', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(0);
  const segment = await Segment.create(dir, 0n, { config: config({ indexIntervalBytes: 0 }), clock });
  const timestamps = [
    [10n, 30n, 20n],
    [25n, 25n],
    [50n, 40n, 60n],
  ];
  for (const batchTimestamps of timestamps) {
    const batch = makeBatch({ values: batchTimestamps.map(String), timestampsMs: batchTimestamps });
    patchBaseOffset(batch, segment.nextOffset);
    await segment.append(batch);
  }
  // offsets: 0:10 1:30 2:20 | 3:25 4:25 | 5:50 6:40 7:60
  const expectations: Array<[bigint, bigint, bigint | undefined]> = [
    [0n, 0n, 0n],
    [11n, 0n, 1n],
    [30n, 0n, 1n],
    [31n, 0n, 5n],
    [21n, 2n, 3n],
    [41n, 0n, 5n],
    [55n, 0n, 7n],
    [61n, 0n, undefined],
  ];
  for (const [target, from, expected] of expectations) {
    const match = await segment.findOffsetByTimestamp(target, from);
    t.is(match?.offset, expected, `target ${target} from ${from}`);
  }
  await segment.close();
});

test('truncateTo removes whole batches from the one holding the offset', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(0);
  const segment = await Segment.create(dir, 0n, { config: config({ indexIntervalBytes: 0 }), clock });
  const written = await fill(segment, 10, 4, 100);
  const removed = await segment.truncateTo(22n);
  t.is(segment.nextOffset, 20n);
  t.is(removed, written.slice(5).reduce((sum, batch) => sum + batch.length, 0));
  t.is((await stat(segment.logPath)).size, segment.sizeBytes);
  t.is(segment.offsetIndex.sanityCheck(segment.sizeBytes), undefined);
  t.is(segment.maxTimestampMs, 1004n);
  const next = makeSizedBatch(2, 100, 7n);
  patchBaseOffset(next, segment.nextOffset);
  await segment.append(next);
  t.is(segment.nextOffset, 22n);
  await segment.close();
});

test('delete removes the three files; renameSuffix renames them', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(0);
  const segment = await Segment.create(dir, 7n, { config: config(), clock, fileSuffix: '.cleaned' });
  await fill(segment, 2, 1, 100);
  t.deepEqual((await readdir(dir)).sort(), ['00000000000000000007.index.cleaned', '00000000000000000007.log.cleaned', '00000000000000000007.timeindex.cleaned']);
  await segment.renameSuffix('');
  t.deepEqual((await readdir(dir)).sort(), ['00000000000000000007.index', '00000000000000000007.log', '00000000000000000007.timeindex']);
  t.is(segment.read(7n, 100, { minOneBatch: true }) instanceof Promise, true);
  await segment.delete();
  t.deepEqual(await readdir(dir), []);
});
