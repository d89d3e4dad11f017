import { readdir } from 'node:fs/promises';
import test from 'ava';
import { ManualClock } from '../src/clock.js';
import { defaultLogConfig, type LogConfig } from '../src/log-config.js';
import { PartitionLog } from '../src/partition-log.js';
import { makeBatch } from './helpers/batches.js';
import { tempDir } from './helpers/temp-dir.js';

const base: LogConfig = { ...defaultLogConfig, segmentBytes: 1000, indexIntervalBytes: 100, fileDeleteDelayMs: 0 };

/** Appends `count` batches of ~300 bytes with record time `timestampMs`. */
async function appendAt(log: PartitionLog, count: number, timestampMs: bigint): Promise<void> {
  for (let i = 0; i < count; i++) await log.append(makeBatch({ values: ['r'.repeat(230)], timestampsMs: [timestampMs] }));
}

test('retention.ms deletes segments whose newest record is too old, never past the active one', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(100_000);
  const log = await PartitionLog.open({ dir, config: { ...base, retentionMs: 10_000 }, clock });
  await appendAt(log, 9, 50_000n); // three full segments of old records
  await appendAt(log, 3, 95_000n); // then recent ones
  const before = log.segments().map((segment) => [segment.baseOffset, segment.maxTimestampMs]);
  t.deepEqual(before, [
    [0n, 50_000n],
    [3n, 50_000n],
    [6n, 50_000n],
    [9n, 95_000n],
  ]);
  t.is(await log.applyRetention(), 3);
  t.is(log.logStartOffset, 9n);
  t.deepEqual(log.segments().map((segment) => segment.baseOffset), [9n]);
  t.is((await readdir(dir)).filter((name) => name.endsWith('.log')).length, 1);
  t.is(await log.applyRetention(), 0);

  // When the active segment itself is past retention, it is rolled and deleted too.
  clock.advance(20_000);
  t.is(await log.applyRetention(), 1);
  t.is(log.logStartOffset, 12n);
  t.is(log.logEndOffset, 12n);
  t.deepEqual(log.segments().map((segment) => [segment.baseOffset, segment.sizeBytes]), [[12n, 0]]);
  t.is((await log.append(makeBatch({ values: ['next'] }))).baseOffset, 12n);
  await log.close();
});

test('retention.bytes deletes the oldest segments while the log is too large', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(0);
  const log = await PartitionLog.open({ dir, config: { ...base, retentionBytes: 2000 }, clock });
  await appendAt(log, 14, 1n);
  const sizes = log.segments().map((segment) => segment.sizeBytes);
  t.is(sizes.length, 5);
  const total = log.sizeBytes;
  let expectedDeleted = 0;
  let excess = total - 2000;
  for (const size of sizes) {
    if (excess - size < 0) break;
    excess -= size;
    expectedDeleted++;
  }
  t.is(await log.applyRetention(), expectedDeleted);
  t.true(log.sizeBytes <= 2000 + sizes[0]!);
  t.true(log.sizeBytes <= total);
  t.is(log.logStartOffset, log.segments()[0]!.baseOffset);
  t.deepEqual((await log.readBatches(log.logStartOffset, 1 << 20)).length, Number(log.logEndOffset - log.logStartOffset));
  await log.close();
});

test('retention never deletes past the high watermark, and only under cleanup.policy delete', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(1_000_000);
  const log = await PartitionLog.open({ dir, config: { ...base, retentionMs: 1, cleanupPolicy: ['compact'] }, clock, highWatermarkFollowsLogEnd: false });
  await appendAt(log, 9, 5n);
  t.is(log.highWatermark, 0n);
  t.is(await log.applyRetention(), 0, 'compact-only topics keep everything');
  log.updateConfig({ ...log.config, cleanupPolicy: ['compact', 'delete'] });
  t.is(await log.applyRetention(), 0, 'nothing is below the HW yet');
  log.updateHighWatermark(4n);
  t.is(await log.applyRetention(), 1, 'only the segment wholly below the HW');
  t.is(log.logStartOffset, 3n);
  await log.close();
});

test('deleted segments linger as .deleted for file.delete.delay.ms and stay readable meanwhile', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(100_000);
  const log = await PartitionLog.open({ dir, config: { ...base, retentionMs: 10, fileDeleteDelayMs: 5_000 }, clock });
  await appendAt(log, 4, 1n);
  const range = (await log.read(0n, 100)).ranges[0]!;
  t.is(await log.applyRetention(), 2);
  t.is((await readdir(dir)).filter((name) => name.endsWith('.log.deleted')).length, 2);
  const bytes = Buffer.alloc(range.size);
  await range.file.read(bytes, 0, range.size, range.position);
  t.is(bytes.readBigInt64BE(0), 0n, 'an in-flight range still reads');
  clock.advance(5_000);
  await log.applyRetention();
  t.is((await readdir(dir)).filter((name) => name.endsWith('.deleted')).length, 0);
  await log.close();
});
