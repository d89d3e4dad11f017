import test from 'ava';
import fc from 'fast-check';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ATTRIBUTE_COMPRESSION_MASK, ATTRIBUTE_DELETE_HORIZON, CompressionType } from '@defter/protocol';
import { LogCleaner } from '../src/cleaner.js';
import { ManualClock } from '../src/clock.js';
import type { LogConfig } from '../src/log-config.js';
import { defaultLogConfig } from '../src/log-config.js';
import { PartitionLog } from '../src/partition-log.js';
import {
  appendAll,
  assertOffsetsIncrease,
  checkAgainstOracle,
  checkBatchBounds,
  keyedWorkload,
  readLog,
  recordsOf,
  type AppendedRecord,
  type BatchSpec,
  type StoredBatch,
} from './compaction-workload.js';

const START_MS = 1_700_000_000_000;
const DELETE_RETENTION_MS = 60_000;

const compactedConfig: LogConfig = {
  ...defaultLogConfig,
  cleanupPolicy: ['compact'],
  segmentBytes: 2048,
  indexIntervalBytes: 256,
  deleteRetentionMs: DELETE_RETENTION_MS,
};

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'defter-compaction-'));
}

function activeBaseOf(log: PartitionLog): bigint {
  const segments = log.segments();
  const active = segments[segments.length - 1];
  if (active === undefined) throw new Error('a log always has an active segment');
  return active.baseOffset;
}

test('compaction keeps the latest value of every key, offsets and batch bounds, tombstones until their horizon', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const clock = new ManualClock(START_MS);
  let log = await PartitionLog.open({ dir, config: compactedConfig, clock });
  const appended = await appendAll(log, keyedWorkload({ batchCount: 300, keyCount: 40, deleteEvery: 6, seed: 7 }), () => clock.nowMs());
  const before = await readLog(log);
  const segmentsBefore = log.segments().length;
  t.true(segmentsBefore > 5, `${segmentsBefore} segments`);
  t.true(before.some((batch) => (batch.attributes & ATTRIBUTE_COMPRESSION_MASK) !== CompressionType.None));
  const activeBase = activeBaseOf(log);
  const activeBytes = await fs.readFile(log.segments()[segmentsBefore - 1]!.logPath);
  const logEndOffset = log.logEndOffset;

  const cleaner = new LogCleaner({ clock });
  const state = await cleaner.cleanableState(log);
  t.is(state.reason, 'dirty-ratio');
  t.is(state.firstDirtyOffset, 0n);
  t.is(state.firstUncleanableOffset, activeBase);
  t.is(state.dirtyRatio, 1);

  const stats = await cleaner.clean(log);
  t.truthy(stats);
  t.is(stats?.nextFirstDirtyOffset, activeBase);
  t.true((stats?.recordsRemoved ?? 0) > 0);
  t.true((stats?.bytesAfter ?? Infinity) < (stats?.bytesBefore ?? 0));

  const after = await readLog(log);
  t.is(assertOffsetsIncrease(after), undefined);
  t.is(checkBatchBounds(before, after), undefined);
  t.is(checkAgainstOracle(appended, after, activeBase, 'kept'), undefined);
  t.true(recordsOf(after).some((record) => record.offset < activeBase && record.value === null), 'tombstones are kept before the horizon');
  t.true(after.some((batch) => (batch.attributes & ATTRIBUTE_DELETE_HORIZON) !== 0), 'batches with tombstones carry a delete horizon');
  t.true(
    after.some((batch) => batch.baseOffset < activeBase && (batch.attributes & ATTRIBUTE_COMPRESSION_MASK) !== CompressionType.None),
    'compressed batches survive compressed',
  );
  t.deepEqual(await fs.readFile(log.segments()[log.segments().length - 1]!.logPath), activeBytes, 'the active segment is untouched');
  t.is(log.logEndOffset, logEndOffset);
  t.deepEqual(
    log.segments().filter((segment) => segment.sizeBytes === 0),
    [],
    'cleaning leaves no empty segment behind',
  );
  t.is(await cleaner.clean(log), undefined, 'nothing is dirty any more');

  await log.close();
  log = await PartitionLog.open({ dir, config: compactedConfig, clock });
  t.deepEqual(await readLog(log), after, 'reopening gives the same content');

  clock.advance(DELETE_RETENTION_MS - 1);
  t.is((await cleaner.cleanableState(log)).reason, undefined);
  clock.advance(1);
  t.is((await cleaner.cleanableState(log)).reason, 'delete-horizon');
  const horizonStats = await cleaner.clean(log);
  t.is(horizonStats?.reason, 'delete-horizon');
  const afterHorizon = await readLog(log);
  t.true(log.segments().length < segmentsBefore - 2, 'small cleaned segments are grouped into one');
  t.is(assertOffsetsIncrease(afterHorizon), undefined);
  t.is(checkBatchBounds(before, afterHorizon), undefined);
  t.is(checkAgainstOracle(appended, afterHorizon, activeBase, 'removed'), undefined);
  t.false(recordsOf(afterHorizon).some((record) => record.offset < activeBase && record.value === null), 'tombstones are gone after the horizon');
  t.is((await cleaner.cleanableState(log)).reason, undefined);

  // Appends continue at the log end; the next pass covers them.
  const more = await appendAll(log, keyedWorkload({ batchCount: 60, keyCount: 40, deleteEvery: 6, seed: 8 }), () => clock.nowMs());
  t.is(more[0]?.offset, logEndOffset);
  await cleaner.clean(log, { force: true });
  const all = [...appended, ...more];
  t.is(checkAgainstOracle(all, await readLog(log), activeBaseOf(log), 'kept'), undefined);
  await log.close();
});

test('an offset map smaller than the dirty section cleans it over several passes', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const clock = new ManualClock(START_MS);
  const log = await PartitionLog.open({ dir, config: compactedConfig, clock });
  const appended = await appendAll(log, keyedWorkload({ batchCount: 120, keyCount: 30, deleteEvery: 8, seed: 3 }), () => clock.nowMs());
  const before = await readLog(log);
  const activeBase = activeBaseOf(log);
  const cleaner = new LogCleaner({ clock, offsetMapEntriesMax: 8 });
  const first = await cleaner.clean(log);
  t.true(first?.offsetMapFull);
  t.true((first?.nextFirstDirtyOffset ?? activeBase) < activeBase);
  let passes = 1;
  while ((await cleaner.cleanableState(log)).firstDirtyOffset < activeBase && passes < 500) {
    await cleaner.clean(log, { force: true });
    passes++;
    t.is(assertOffsetsIncrease(await readLog(log)), undefined);
  }
  t.true(passes > 3, `${passes} passes`);
  const after = await readLog(log);
  t.is(checkBatchBounds(before, after), undefined);
  t.is(checkAgainstOracle(appended, after, activeBase, 'kept'), undefined);
  await log.close();
});

test('minCompactionLagMs keeps young segments dirty; the dirty ratio and maxCompactionLagMs decide when to clean', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const clock = new ManualClock(START_MS);
  const config: LogConfig = { ...compactedConfig, minCompactionLagMs: 10_000, maxCompactionLagMs: 30_000 };
  const log = await PartitionLog.open({ dir, config, clock });
  const cleaner = new LogCleaner({ clock });
  const old = await appendAll(log, keyedWorkload({ batchCount: 60, keyCount: 10, deleteEvery: 1000, seed: 11 }), () => clock.nowMs());
  t.is((await cleaner.cleanableState(log)).dirtyBytes, 0, 'all too young');
  t.is(await cleaner.clean(log), undefined);
  clock.advance(20_000);
  const youngStart = log.logEndOffset;
  const young = await appendAll(log, keyedWorkload({ batchCount: 60, keyCount: 10, deleteEvery: 1000, seed: 12 }), () => clock.nowMs());
  const state = await cleaner.cleanableState(log);
  const youngSegment = log.segments().find((segment) => segment.nextOffset > youngStart);
  if (youngSegment === undefined) throw new Error('the young records have a segment');
  t.is(state.firstUncleanableOffset, youngSegment.baseOffset);
  t.is(state.reason, 'dirty-ratio');
  const stats = await cleaner.clean(log);
  t.is(stats?.nextFirstDirtyOffset, state.firstUncleanableOffset);
  const after = await readLog(log);
  t.is(checkAgainstOracle([...old, ...young], after, state.firstUncleanableOffset, 'kept'), undefined);

  // Once old enough, the young segments are cleaned too (the roll makes the last of them cleanable).
  clock.advance(10_000);
  await log.roll();
  t.is((await cleaner.clean(log))?.nextFirstDirtyOffset, activeBaseOf(log));
  t.is(checkAgainstOracle([...old, ...young], await readLog(log), activeBaseOf(log), 'kept'), undefined);

  // A little more dirt: the ratio stays under 0.5, until maxCompactionLagMs passes.
  const appendedAtMs = clock.nowMs();
  await appendAll(log, [{ records: [{ key: 'key-1', value: 'late' }], compression: CompressionType.None }], () => clock.nowMs());
  await log.roll();
  clock.advance(10_001);
  const state2 = await cleaner.cleanableState(log);
  t.true(state2.dirtyBytes > 0 && state2.dirtyRatio < 0.5, `ratio ${state2.dirtyRatio}`);
  t.is(state2.reason, undefined);
  t.is(await cleaner.clean(log), undefined);
  clock.set(appendedAtMs + 30_000);
  t.is((await cleaner.cleanableState(log)).reason, undefined);
  clock.set(appendedAtMs + 30_001);
  t.is((await cleaner.cleanableState(log)).reason, 'max-compaction-lag');
  t.is((await cleaner.clean(log))?.reason, 'max-compaction-lag');
  const values = recordsOf(await readLog(log)).filter((record) => record.key === 'key-1');
  t.deepEqual(values.map((record) => record.value), ['late']);
  await log.close();
});

test('a corrupt batch in a segment being cleaned fails the pass and leaves the log as it was', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const clock = new ManualClock(START_MS);
  const log = await PartitionLog.open({ dir, config: compactedConfig, clock });
  await appendAll(log, keyedWorkload({ batchCount: 80, keyCount: 10, deleteEvery: 1000, seed: 5 }), () => clock.nowMs());
  const second = log.segments()[1];
  if (second === undefined) throw new Error('expected several segments');
  // Flip the last byte of the second segment's last batch: its CRC no longer matches.
  const handle = await fs.open(second.logPath, 'r+');
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, second.sizeBytes - 1);
  last[0] = (last[0] ?? 0) ^ 0xff;
  await handle.write(last, 0, 1, second.sizeBytes - 1);
  await handle.close();
  const filesBefore = (await fs.readdir(dir)).sort();
  const segmentsBefore = log.segments().map((segment) => segment.baseOffset);
  await t.throwsAsync(new LogCleaner({ clock }).clean(log));
  t.deepEqual((await fs.readdir(dir)).sort(), filesBefore, 'no .cleaned file is left behind');
  t.deepEqual(
    log.segments().map((segment) => segment.baseOffset),
    segmentsBefore,
  );
  await log.close();
});

test('fast-check: random workloads cleaned in random passes keep every latest value (seed printed)', async (t) => {
  const seed = Date.now() % 0x7fffffff;
  t.log(`fast-check seed ${seed}`);
  const recordArb = fc.record({
    key: fc.option(fc.integer({ min: 0, max: 12 }).map((k) => `k${k}`), { freq: 12, nil: null }),
    value: fc.option(fc.string({ maxLength: 30 }), { freq: 5, nil: null }),
  });
  const batchArb = fc.record({
    records: fc.array(recordArb, { minLength: 1, maxLength: 6 }),
    compression: fc.constantFrom(CompressionType.None, CompressionType.Gzip, CompressionType.Lz4, CompressionType.Zstd, CompressionType.Snappy),
  });
  const roundArb = fc.array(batchArb, { minLength: 1, maxLength: 25 });
  await fc.assert(
    fc.asyncProperty(
      fc.array(roundArb, { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 200, max: 1500 }),
      fc.integer({ min: 2, max: 40 }),
      async (rounds, segmentBytes, offsetMapEntriesMax) => {
        const dir = await tempDir();
        const clock = new ManualClock(START_MS);
        const config: LogConfig = { ...compactedConfig, segmentBytes, minCleanableDirtyRatio: 0 };
        const log = await PartitionLog.open({ dir, config, clock });
        try {
          const cleaner = new LogCleaner({ clock, offsetMapEntriesMax });
          const appended: AppendedRecord[] = [];
          const appendedBatches: StoredBatch[] = [];
          for (const round of rounds) {
            const specs: BatchSpec[] = round.map((batch) => ({ records: batch.records, compression: batch.compression }));
            const seenBefore = new Set((await readLog(log)).map((batch) => batch.baseOffset));
            appended.push(...(await appendAll(log, specs, () => clock.nowMs())));
            appendedBatches.push(...(await readLog(log)).filter((batch) => !seenBefore.has(batch.baseOffset)));
            await cleaner.clean(log);
            const after = await readLog(log);
            const problem =
              assertOffsetsIncrease(after) ??
              checkBatchBounds(appendedBatches, after) ??
              checkAgainstOracle(appended, after, undefined, 'kept');
            if (problem !== undefined) throw new Error(problem);
          }
          // Clean until nothing is dirty: then below the active segment every key is unique.
          let passes = 0;
          while ((await cleaner.cleanableState(log)).firstDirtyOffset < activeBaseOf(log) && passes++ < 200) await cleaner.clean(log, { force: true });
          const problem = checkAgainstOracle(appended, await readLog(log), activeBaseOf(log), 'kept');
          if (problem !== undefined) throw new Error(problem);
        } finally {
          await log.close();
          await fs.rm(dir, { recursive: true, force: true });
        }
      },
    ),
    { seed, numRuns: 25 },
  );
  t.pass();
});
