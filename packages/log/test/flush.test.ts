import test from 'ava';
import { ManualClock } from '../src/clock.js';
import { FlushPolicy } from '../src/flush-policy.js';
import { defaultLogConfig } from '../src/log-config.js';
import { PartitionLog } from '../src/partition-log.js';
import type { FileSync } from '../src/segment.js';
import { makeBatch } from './helpers/batches.js';
import { tempDir } from './helpers/temp-dir.js';

function countingSync(): { sync: FileSync; logSyncs: () => number } {
  let count = 0;
  return {
    sync: async (file, filePath) => {
      if (filePath.endsWith('.log')) count++;
      await file.datasync();
    },
    logSyncs: () => count,
  };
}

test('FlushPolicy: every N messages, or T ms after the last flush when something is unflushed', (t) => {
  const policy = new FlushPolicy({ flushMessages: 5, flushMs: 1000 }, 0);
  t.false(policy.shouldFlush(5000), 'nothing unflushed');
  policy.recordAppended(4);
  t.false(policy.shouldFlush(999));
  t.true(policy.shouldFlush(1000));
  policy.recordAppended(1);
  t.true(policy.shouldFlush(10));
  policy.flushed(10);
  t.is(policy.unflushedMessages, 0);
  policy.recordAppended(1);
  t.false(policy.shouldFlush(1009));
  t.true(policy.shouldFlush(1010));
});

test('flush.messages: an fsync once per N records', async (t) => {
  const dir = await tempDir(t);
  const counter = countingSync();
  const log = await PartitionLog.open({ dir, config: { ...defaultLogConfig, flushMessages: 4 }, clock: new ManualClock(0), fileSync: counter.sync });
  const start = counter.logSyncs();
  for (let i = 0; i < 10; i++) await log.append(makeBatch({ values: ['a', 'b'] }));
  t.is(counter.logSyncs() - start, 5, '20 records, one fsync per 4');
  t.is(log.recoveryPointOffset, 20n);
  await log.append(makeBatch({ values: ['c'] }));
  t.is(counter.logSyncs() - start, 5);
  t.is(log.recoveryPointOffset, 20n);
  await log.close();
});

test('flush.messages = 1 fsyncs every sequential append; the default never does', async (t) => {
  const dir = await tempDir(t);
  const every = countingSync();
  const log = await PartitionLog.open({ dir, config: { ...defaultLogConfig, flushMessages: 1 }, clock: new ManualClock(0), fileSync: every.sync });
  const start = every.logSyncs();
  for (let i = 0; i < 6; i++) await log.append(makeBatch({ values: ['a'] }));
  t.is(every.logSyncs() - start, 6);
  await log.close();

  const never = countingSync();
  const lazy = await PartitionLog.open({ dir: `${dir}-default`, clock: new ManualClock(0), fileSync: never.sync });
  t.teardown(() => import('node:fs/promises').then(({ rm }) => rm(`${dir}-default`, { recursive: true, force: true })));
  const lazyStart = never.logSyncs();
  for (let i = 0; i < 6; i++) await lazy.append(makeBatch({ values: ['a'] }));
  t.is(never.logSyncs() - lazyStart, 0);
  t.is(lazy.recoveryPointOffset, 0n);
  await lazy.flush();
  t.is(lazy.recoveryPointOffset, 6n);
  t.is(never.logSyncs() - lazyStart, 1);
  await lazy.close();
});

test('flush.ms: flushIfDue fsyncs once the interval has passed', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(0);
  const counter = countingSync();
  const log = await PartitionLog.open({ dir, config: { ...defaultLogConfig, flushMs: 1000 }, clock, fileSync: counter.sync });
  const start = counter.logSyncs();
  await log.append(makeBatch({ values: ['a'] }));
  t.false(await log.flushIfDue());
  clock.advance(999);
  t.false(await log.flushIfDue());
  clock.advance(1);
  t.true(await log.flushIfDue());
  t.is(counter.logSyncs() - start, 1);
  t.false(await log.flushIfDue(), 'nothing new to flush');
  clock.advance(5000);
  await log.append(makeBatch({ values: ['b'] }));
  t.is(counter.logSyncs() - start, 2, 'an append past flush.ms flushes itself');
  await log.close();
});

test('a failed fsync fails the append and the log refuses further appends', async (t) => {
  const dir = await tempDir(t);
  let fail = false;
  const sync: FileSync = async (file) => {
    if (fail) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
    await file.datasync();
  };
  const log = await PartitionLog.open({ dir, config: { ...defaultLogConfig, flushMessages: 1 }, clock: new ManualClock(0), fileSync: sync });
  await log.append(makeBatch({ values: ['ok'] }));
  fail = true;
  const error = await t.throwsAsync(log.append(makeBatch({ values: ['lost'] })));
  t.is(error?.name, 'LogStorageError');
  fail = false;
  await t.throwsAsync(log.append(makeBatch({ values: ['refused'] })), { name: 'LogStorageError' });
  await log.close();
  const reopened = await PartitionLog.open({ dir, clock: new ManualClock(0) });
  t.true(reopened.logEndOffset >= 1n);
  t.is((await reopened.append(makeBatch({ values: ['after reopen'] }))).baseOffset, reopened.logEndOffset - 1n);
  await reopened.close();
});
