import { appendFile, stat } from 'node:fs/promises';
import test from 'ava';
import { patchBaseOffset, readBatchHeader, verifyBatchCrc } from '@defter/protocol';
import { ManualClock } from '../src/clock.js';
import { CorruptRecordError } from '../src/errors.js';
import { defaultLogConfig } from '../src/log-config.js';
import { PartitionLog } from '../src/partition-log.js';
import type { FileSync } from '../src/segment.js';
import { makeBatch, makeSizedBatch } from './helpers/batches.js';
import { dataBatch } from './helpers/producer-batches.js';
import { tempDir } from './helpers/temp-dir.js';

/*
 * The CRC-32C of an append that arrives at an idle log is checked while its own write is in
 * flight; a batch that fails it is cut off the file again. These tests hold what that must never
 * change: a corrupt batch is refused with CorruptRecordError, leaves no byte in the file, takes no
 * offset, records no producer state, and never triggers a roll; and bytes a crash left behind past
 * the log end are dropped by recovery.
 */

function corrupted(batch: Buffer): Buffer {
  const copy = Buffer.from(batch);
  copy[copy.length - 1]! ^= 0xff;
  return copy;
}

/** The `.log` file's size on disk, which must equal what the segment counts. */
async function activeFileBytes(log: PartitionLog): Promise<number> {
  const segments = log.segments();
  return (await stat(segments[segments.length - 1]!.logPath)).size;
}

async function storedBaseOffsets(log: PartitionLog): Promise<bigint[]> {
  return (await log.readBatches(log.logStartOffset, 1 << 30)).map((bytes) => readBatchHeader(bytes).baseOffset);
}

test('a lone corrupt append is refused, cut off the file, and takes no offset', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, clock: new ManualClock(0) });
  t.teardown(() => log.close());
  await log.append(makeBatch({ values: ['a', 'b'] }));
  const sizeBefore = log.sizeBytes;

  // Large enough that its write is well under way while the check runs.
  await t.throwsAsync(log.append(corrupted(makeSizedBatch(10, 200_000))), { instanceOf: CorruptRecordError, message: /CRC-32C/ });
  t.is(log.sizeBytes, sizeBefore);
  t.is(await activeFileBytes(log), sizeBefore);
  t.is(log.logEndOffset, 2n);
  t.is(log.highWatermark, 2n);

  const next = await log.append(makeBatch({ values: ['c'] }));
  t.is(next.baseOffset, 2n);
  t.is(await activeFileBytes(log), log.sizeBytes);
  t.deepEqual(await storedBaseOffsets(log), [0n, 2n]);
  for (const stored of await log.readBatches(0n, 1 << 30)) t.true(verifyBatchCrc(stored));
});

test('corrupt appends in a group are refused alone; the others get dense offsets', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, clock: new ManualClock(0) });
  t.teardown(() => log.close());
  // The first starts the drain at an idle log (its check is left for its turn); the rest queue
  // behind it in the same tick and form one group with it, checked there.
  const results = await Promise.allSettled([
    log.append(corrupted(makeBatch({ values: ['x'] }))),
    log.append(makeBatch({ values: ['a', 'b'] })),
    log.append(corrupted(makeBatch({ values: ['y', 'z'] }))),
    log.append(makeBatch({ values: ['c'] })),
  ]);
  t.deepEqual(
    results.map((result) => (result.status === 'fulfilled' ? result.value.baseOffset : (result.reason as Error).constructor.name)),
    ['CorruptRecordError', 0n, 'CorruptRecordError', 2n],
  );
  t.deepEqual(await storedBaseOffsets(log), [0n, 2n]);
  t.is(await activeFileBytes(log), log.sizeBytes);
});

test('an append arriving while others are being written is checked at once, not after that write', async (t) => {
  const dir = await tempDir(t);
  let log: PartitionLog | undefined;
  let settledDuringWrite: boolean | undefined;
  let lateAppend: Promise<unknown> | undefined;
  // flush.messages = 1: the fsync runs inside the append's turn, so it sees the write in progress.
  const fileSync: FileSync = async (file, filePath) => {
    if (log !== undefined && lateAppend === undefined && filePath.endsWith('.log')) {
      let settled = false;
      lateAppend = log.append(corrupted(makeBatch({ values: ['late'] })));
      lateAppend.catch(() => (settled = true));
      await Promise.resolve();
      await Promise.resolve();
      settledDuringWrite = settled;
    }
    await file.datasync();
  };
  log = await PartitionLog.open({ dir, clock: new ManualClock(0), fileSync, config: { ...defaultLogConfig, flushMessages: 1 } });
  t.teardown(() => log!.close());
  t.is((await log.append(makeBatch({ values: ['a'] }))).baseOffset, 0n);
  t.true(settledDuringWrite, 'refused before the write in progress finished');
  await t.throwsAsync(lateAppend!, { instanceOf: CorruptRecordError });
  t.is((await log.append(makeBatch({ values: ['b'] }))).baseOffset, 1n);
});

test('a corrupt producer batch records no state: its retry is neither a duplicate nor out of order', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, clock: new ManualClock(0) });
  t.teardown(() => log.close());
  const batch = (baseSequence: number) => dataBatch({ producerId: 9n, producerEpoch: 0, baseSequence, recordCount: 2 });
  t.is((await log.append(batch(0))).baseOffset, 0n);

  await t.throwsAsync(log.append(corrupted(batch(2))), { instanceOf: CorruptRecordError });
  // A corrupt copy of a batch already written is refused too, not answered as a duplicate.
  await t.throwsAsync(log.append(corrupted(batch(0))), { instanceOf: CorruptRecordError });

  const retry = await log.append(batch(2));
  t.deepEqual([retry.baseOffset, retry.duplicate], [2n, undefined]);
  t.deepEqual((await log.append(batch(2))).duplicate, true);
  t.is(log.logEndOffset, 4n);
  t.is(await activeFileBytes(log), log.sizeBytes);
});

test('a corrupt batch never rolls the segment, nor gets a LogAppendTime stamp that would make its CRC valid', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(1_700_000_000_000);
  const log = await PartitionLog.open({ dir, clock, config: { ...defaultLogConfig, segmentBytes: 2000, messageTimestampType: 'LogAppendTime' } });
  t.teardown(() => log.close());
  await log.append(makeSizedBatch(2, 1500));
  t.is(log.segments().length, 1);

  await t.throwsAsync(log.append(corrupted(makeSizedBatch(2, 1000))), { instanceOf: CorruptRecordError });
  t.is(log.segments().length, 1);
  await t.throwsAsync(log.append(corrupted(makeBatch({ values: ['tiny'] }))), { instanceOf: CorruptRecordError });
  t.is(log.logEndOffset, 2n);

  const info = await log.append(makeSizedBatch(2, 1000));
  t.is(info.baseOffset, 2n);
  t.is(info.logAppendTimeMs, 1_700_000_000_000n);
  t.is(log.segments().length, 2);
});

test('a corrupt batch a crash left past the log end is dropped by recovery', async (t) => {
  const dir = await tempDir(t);
  const first = await PartitionLog.open({ dir, clock: new ManualClock(0) });
  await first.append(makeBatch({ values: ['a', 'b'] }));
  await first.append(makeBatch({ values: ['c'] }));
  const logPath = first.segments()[0]!.logPath;
  const validBytes = first.sizeBytes;
  await first.close();

  // What a crash between the write of a corrupt lone append and its cut leaves: the batch,
  // offset assigned at the log end, in the file after the last counted byte.
  const leftover = corrupted(makeSizedBatch(3, 5000));
  patchBaseOffset(leftover, 3n);
  await appendFile(logPath, leftover);

  const reopened = await PartitionLog.open({ dir, clock: new ManualClock(0) });
  t.teardown(() => reopened.close());
  t.is(reopened.logEndOffset, 3n);
  t.is(reopened.sizeBytes, validBytes);
  t.is((await stat(logPath)).size, validBytes);
  t.is((await reopened.append(makeBatch({ values: ['d'] }))).baseOffset, 3n);
  t.deepEqual(await storedBaseOffsets(reopened), [0n, 2n, 3n]);
});
