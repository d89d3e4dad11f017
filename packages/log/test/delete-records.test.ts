import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { ManualClock } from '../src/clock.js';
import { OffsetOutOfRangeError } from '../src/errors.js';
import { defaultLogConfig, type LogConfig } from '../src/log-config.js';
import { LOG_START_OFFSET_CHECKPOINT_FILE, PartitionLog } from '../src/partition-log.js';
import { makeBatch } from './helpers/batches.js';
import { tempDir } from './helpers/temp-dir.js';

const config: LogConfig = { ...defaultLogConfig, segmentBytes: 1000, indexIntervalBytes: 100, fileDeleteDelayMs: 0 };

test('deleteRecordsBefore moves the log start offset, deletes whole segments below it, and survives reopen', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(0);
  let log = await PartitionLog.open({ dir, config, clock });
  for (let i = 0; i < 12; i++) await log.append(makeBatch({ values: ['a'.repeat(200), 'b'] }));
  const segmentsBefore = log.segments().map((segment) => segment.baseOffset);
  t.deepEqual(segmentsBefore, [0n, 6n, 12n, 18n]);

  t.is(await log.deleteRecordsBefore(9n), 9n);
  t.is(log.logStartOffset, 9n);
  t.deepEqual(log.segments().map((segment) => segment.baseOffset), [6n, 12n, 18n]);
  t.is(await readFile(path.join(dir, LOG_START_OFFSET_CHECKPOINT_FILE), 'utf8'), '0\n9\n');
  await t.throwsAsync(log.read(8n, 100), { instanceOf: OffsetOutOfRangeError });
  // Offset 9 sits inside batch [8, 9]; the batch is returned whole (consumers skip offset 8).
  const [first] = await log.readBatches(9n, 1);
  t.is(first!.readBigInt64BE(0), 8n);
  t.is((await log.offsetForTimestamp(-2n))?.offset, 9n);
  t.is(await log.deleteRecordsBefore(4n), 9n, 'the log start offset never goes back');
  await t.throwsAsync(log.deleteRecordsBefore(25n), { instanceOf: OffsetOutOfRangeError });

  await log.close();
  log = await PartitionLog.open({ dir, config, clock });
  t.is(log.logStartOffset, 9n);
  t.is(log.logEndOffset, 24n);
  await t.throwsAsync(log.read(7n, 100), { instanceOf: OffsetOutOfRangeError });

  // -1 means the high watermark: everything goes, the active segment is rolled first.
  t.is(await log.deleteRecordsBefore(-1n), 24n);
  t.deepEqual(log.segments().map((segment) => [segment.baseOffset, segment.sizeBytes]), [[24n, 0]]);
  t.deepEqual((await log.read(24n, 100)).ranges, []);
  await log.close();
  log = await PartitionLog.open({ dir, config, clock });
  t.is(log.logStartOffset, 24n);
  t.is(log.logEndOffset, 24n);
  t.is((await log.append(makeBatch({ values: ['again'] }))).baseOffset, 24n);
  await log.close();
});

test('truncateTo removes whole batches from the end and lowers the HW', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(0);
  let log = await PartitionLog.open({ dir, config, clock });
  for (let i = 0; i < 12; i++) await log.append(makeBatch({ values: ['a'.repeat(200), 'b'] }));
  await log.truncateTo(15n);
  t.is(log.logEndOffset, 14n, 'the batch [14, 15] holding offset 15 goes');
  t.is(log.highWatermark, 14n);
  t.deepEqual(log.segments().map((segment) => segment.baseOffset), [0n, 6n, 12n]);
  t.is((await log.append(makeBatch({ values: ['x'] }))).baseOffset, 14n);
  await log.close();
  log = await PartitionLog.open({ dir, config, clock });
  t.is(log.logEndOffset, 15n);
  await log.truncateTo(0n);
  t.is(log.logEndOffset, 0n);
  t.is(log.logStartOffset, 0n);
  t.deepEqual(log.segments().map((segment) => [segment.baseOffset, segment.sizeBytes]), [[0n, 0]]);
  await log.close();
});
