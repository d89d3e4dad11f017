import { appendFile, open, readdir, rm, stat, truncate, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { readBatchHeader } from '@defter/protocol';
import { ManualClock } from '../src/clock.js';
import { defaultLogConfig, type LogConfig } from '../src/log-config.js';
import { RecordingLogger } from '../src/logger.js';
import { PartitionLog, RECOVERY_POINT_CHECKPOINT_FILE } from '../src/partition-log.js';
import { Segment, segmentFileName } from '../src/segment.js';
import { makeBatch } from './helpers/batches.js';
import { tempDir } from './helpers/temp-dir.js';

const config: LogConfig = { ...defaultLogConfig, segmentBytes: 2000, indexIntervalBytes: 100 };

/** A log of `count` two-record batches, closed cleanly; returns the stored batches. */
async function buildLog(dir: string, count: number): Promise<Buffer[]> {
  const log = await PartitionLog.open({ dir, config, clock: new ManualClock(0) });
  for (let i = 0; i < count; i++) await log.append(makeBatch({ values: [`value-${i}-a`.repeat(5), `value-${i}-b`] }));
  const stored = await log.readBatches(0n, 1 << 30);
  await log.close();
  return stored.map((batch) => Buffer.from(batch));
}

function lastLogFile(dir: string, files: string[]): string {
  return path.join(dir, files.filter((name) => name.endsWith('.log')).sort().at(-1)!);
}

/** Reopens with a lost recovery point (an unclean stop), checks what survived, appends once more. */
async function reopenAndCheck(t: import('ava').ExecutionContext, dir: string, stored: Buffer[], survivors: number): Promise<RecordingLogger> {
  await rm(path.join(dir, RECOVERY_POINT_CHECKPOINT_FILE), { force: true });
  const logger = new RecordingLogger();
  const log = await PartitionLog.open({ dir, config, clock: new ManualClock(0), logger });
  t.deepEqual(await log.readBatches(0n, 1 << 30), stored.slice(0, survivors));
  const expectedEnd = survivors === 0 ? 0n : readBatchHeader(stored[survivors - 1]!).baseOffset + 2n;
  t.is(log.logEndOffset, expectedEnd);
  const info = await log.append(makeBatch({ values: ['after', 'recovery'] }));
  t.is(info.baseOffset, expectedEnd);
  await log.close();
  const again = await PartitionLog.open({ dir, config, clock: new ManualClock(0) });
  t.is(again.logEndOffset, expectedEnd + 2n);
  await again.close();
  return logger;
}

test('a log cut in the middle of its last batch keeps the valid prefix', async (t) => {
  const dir = await tempDir(t);
  const stored = await buildLog(dir, 40);
  const file = lastLogFile(dir, await readdir(dir));
  const { size } = await stat(file);
  await truncate(file, size - 7);
  const logger = await reopenAndCheck(t, dir, stored, 39);
  t.true(logger.lines.some((line) => line.level === 'warn' && /truncated a torn or corrupt tail/.test(line.msg ?? '')));
});

test('a flipped byte in the last batch fails its CRC and the batch is dropped', async (t) => {
  const dir = await tempDir(t);
  const stored = await buildLog(dir, 40);
  const file = lastLogFile(dir, await readdir(dir));
  const { size } = await stat(file);
  const handle = await open(file, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, size - 3);
  byte[0] ^= 0x55;
  await handle.write(byte, 0, 1, size - 3);
  await handle.close();
  await reopenAndCheck(t, dir, stored, 39);
});

test('garbage appended after the last batch is cut off', async (t) => {
  const dir = await tempDir(t);
  const stored = await buildLog(dir, 40);
  const file = lastLogFile(dir, await readdir(dir));
  await appendFile(file, Buffer.from('this is not a record batch, just noise that a torn write might leave'));
  await reopenAndCheck(t, dir, stored, 40);
  // Zeros, as a file system may show after a crash that extended the file but lost the data.
  const current = await PartitionLog.open({ dir, config, clock: new ManualClock(0) });
  const withExtra = (await current.readBatches(0n, 1 << 30)).map((batch) => Buffer.from(batch));
  await current.close();
  t.is(withExtra.length, 41);
  await appendFile(lastLogFile(dir, await readdir(dir)), Buffer.alloc(4096));
  await reopenAndCheck(t, dir, withExtra, 41);
});

test('corruption in an earlier unflushed segment drops it from there and every later segment', async (t) => {
  const dir = await tempDir(t);
  const stored = await buildLog(dir, 40);
  const logs = (await readdir(dir)).filter((name) => name.endsWith('.log')).sort();
  t.true(logs.length >= 3);
  const second = path.join(dir, logs[1]!);
  const { size } = await stat(second);
  await truncate(second, size - 1);
  const firstInSecond = stored.findIndex((batch) => readBatchHeader(batch).baseOffset === BigInt(logs[1]!.slice(0, 20)));
  const inSecond = stored.filter((batch) => {
    const base = readBatchHeader(batch).baseOffset;
    return base >= BigInt(logs[1]!.slice(0, 20)) && base < BigInt(logs[2]!.slice(0, 20));
  }).length;
  await reopenAndCheck(t, dir, stored, firstInSecond + inSecond - 1);
  t.false((await readdir(dir)).includes(logs[2]!));
});

test('a deleted or corrupt index is rebuilt from the log', async (t) => {
  const dir = await tempDir(t);
  const stored = await buildLog(dir, 40);
  const files = await readdir(dir);
  const indexes = files.filter((name) => name.endsWith('.index')).sort();
  await rm(path.join(dir, indexes[0]!));
  const bogus = Buffer.alloc(8);
  bogus.writeInt32BE(1, 0);
  bogus.writeInt32BE(0x7fff0000, 4);
  await writeFile(path.join(dir, indexes[1]!), bogus);
  await writeFile(path.join(dir, indexes[2]!.replace('.index', '.timeindex')), Buffer.from([1, 2, 3]));
  // The recovery point still covers everything: only the index checks trigger rebuilding.
  const logger = new RecordingLogger();
  const log = await PartitionLog.open({ dir, config, clock: new ManualClock(0), logger });
  t.deepEqual(await log.readBatches(0n, 1 << 30), stored);
  for (let i = 0; i < stored.length; i += 7) {
    const offset = readBatchHeader(stored[i]!).baseOffset + 1n;
    t.deepEqual(await log.readBatches(offset, 1), [stored[i]!]);
  }
  const rebuilt = logger.lines.filter((line) => /indexes rebuilt/.test(line.msg ?? ''));
  const reasons = rebuilt.map((line) => (line.obj as { reason: string }).reason);
  t.is(reasons.length, 3, JSON.stringify(reasons));
  t.regex(reasons[0]!, /has no entry for the batch/);
  t.regex(reasons[1]!, /past the log end/);
  t.regex(reasons[2]!, /not a multiple of 12/);
  await log.close();
  const segments = (await readdir(dir)).filter((name) => name.endsWith('.index')).length;
  t.is(segments, indexes.length);
});

test('leftovers of a segment swap: .cleaned is dropped, .swap is completed, .deleted is removed', async (t) => {
  const dir = await tempDir(t);
  const stored = await buildLog(dir, 40);
  const logs = (await readdir(dir)).filter((name) => name.endsWith('.log')).sort();
  const firstBase = BigInt(logs[0]!.slice(0, 20));
  const secondBase = BigInt(logs[1]!.slice(0, 20));
  const thirdBase = BigInt(logs[2]!.slice(0, 20));
  const clock = new ManualClock(0);

  // A "cleaned" copy of segments 0 and 1 that keeps every other batch, left as .swap (crash
  // after .cleaned -> .swap, before the old segments were renamed).
  const swap = await Segment.create(dir, firstBase, { config, clock, fileSuffix: '.cleaned' });
  const kept = stored.filter((batch, i) => readBatchHeader(batch).baseOffset < thirdBase && i % 2 === 0);
  for (const batch of kept) await swap.append(batch);
  await swap.onBecomeInactive();
  await swap.renameSuffix('.swap');
  await swap.close();
  // An abandoned cleaning run and an old segment already renamed.
  await writeFile(path.join(dir, segmentFileName(thirdBase, '.log', '.cleaned')), Buffer.from('partial'));
  await copyFile(path.join(dir, logs[1]!), path.join(dir, segmentFileName(secondBase, '.log', '.deleted')));

  const logger = new RecordingLogger();
  const log = await PartitionLog.open({ dir, config, clock, logger });
  const afterSwap = stored.filter((batch) => readBatchHeader(batch).baseOffset >= thirdBase);
  t.deepEqual(await log.readBatches(0n, 1 << 30), [...kept, ...afterSwap]);
  const names = await readdir(dir);
  t.false(names.some((name) => /\.(cleaned|swap|deleted)$/.test(name)), names.join(' '));
  t.false(names.includes(logs[1]!), 'the replaced segment is gone');
  t.true(logger.lines.some((line) => /completed an interrupted segment swap/.test(line.msg ?? '')));
  await log.close();
});

test('replaceSegments swaps a cleaned segment in and the result survives reopen', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(0);
  const stored = await buildLog(dir, 40);
  const log = await PartitionLog.open({ dir, config: { ...config, fileDeleteDelayMs: 1000 }, clock });
  const [first, second] = log.segments();
  const cleaned = await Segment.create(dir, first!.baseOffset, { config, clock, fileSuffix: '.cleaned' });
  const kept = stored.filter((batch, i) => readBatchHeader(batch).baseOffset < second!.nextOffset && i % 3 === 0);
  for (const batch of kept) await cleaned.append(batch);
  const segmentsBefore = log.segments().length;
  await log.replaceSegments([first!, second!], cleaned);
  t.is(log.segments().length, segmentsBefore - 1);
  t.is(log.segments()[0], cleaned);
  const rest = stored.filter((batch) => readBatchHeader(batch).baseOffset >= second!.nextOffset);
  t.deepEqual(await log.readBatches(0n, 1 << 30), [...kept, ...rest]);
  t.true((await readdir(dir)).some((name) => name.endsWith('.log.deleted')));
  clock.advance(1000);
  t.is(await log.deleteExpiredFiles(), 2);
  t.false((await readdir(dir)).some((name) => name.endsWith('.deleted')));
  await log.close();
  const reopened = await PartitionLog.open({ dir, config, clock });
  t.deepEqual(await reopened.readBatches(0n, 1 << 30), [...kept, ...rest]);
  await reopened.close();
});
