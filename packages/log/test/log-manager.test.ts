import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompressionType } from '@defter/protocol';
import { ManualClock } from '../src/clock.js';
import { InvalidPartitionError, InvalidTopicError, LogClosedError } from '../src/errors.js';
import type { LogConfig } from '../src/log-config.js';
import { defaultLogConfig } from '../src/log-config.js';
import { LogManager, parseTopicPartitionDirName, validateTopicName } from '../src/log-manager.js';
import { RecordingLogger } from '../src/logger.js';
import { ManualScheduler } from '../src/scheduler.js';
import { appendAll, readLog, recordsOf, type BatchSpec } from './compaction-workload.js';

const START_MS = 1_700_000_000_000;

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'defter-manager-'));
}

function batchesOf(count: number, keyCount: number): BatchSpec[] {
  return Array.from({ length: count }, (_, index) => ({
    records: [{ key: `k${index % keyCount}`, value: `v${index}-${'x'.repeat(100)}` }],
    compression: CompressionType.None,
  }));
}

test('topic-partition directory names split at the last dash', (t) => {
  t.deepEqual(parseTopicPartitionDirName('my.topic-with-dash-12'), { topic: 'my.topic-with-dash', partition: 12 });
  t.deepEqual(parseTopicPartitionDirName('orders-0'), { topic: 'orders', partition: 0 });
  t.deepEqual(parseTopicPartitionDirName('__consumer_offsets-49'), { topic: '__consumer_offsets', partition: 49 });
  t.deepEqual(parseTopicPartitionDirName('a--3'), { topic: 'a-', partition: 3 });
  for (const name of ['orders', 'orders-', '-3', 'orders-x', 'orders-01', 'orders-+1', 'orders-2147483648', 'bad name-0', '..-0', 'orders-0.abc-delete']) {
    t.is(parseTopicPartitionDirName(name), undefined, name);
  }
  t.deepEqual(parseTopicPartitionDirName('orders-2147483647'), { topic: 'orders', partition: 2147483647 });
});

test('topic names are validated as Kafka does, with typed errors', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const manager = await LogManager.open({ dataDir: dir, scheduler: new ManualScheduler() });
  const cases: Array<[string, string]> = [
    ['', 'invalid topic name "": it is empty'],
    ['.', 'invalid topic name ".": it cannot be "." or ".."'],
    ['..', 'invalid topic name "..": it cannot be "." or ".."'],
    ['a'.repeat(250), `invalid topic name "${'a'.repeat(250)}": it is 250 characters long, the maximum is 249`],
    ['bad/name', 'invalid topic name "bad/name": it may contain only ASCII letters, digits, ".", "_" and "-"'],
    ['with space', 'invalid topic name "with space": it may contain only ASCII letters, digits, ".", "_" and "-"'],
    ['caf\u00e9', 'invalid topic name "caf\u00e9": it may contain only ASCII letters, digits, ".", "_" and "-"'],
  ];
  for (const [topic, message] of cases) {
    const error = await t.throwsAsync(manager.getOrCreateLog(topic, 0), { instanceOf: InvalidTopicError, message });
    t.is(error?.topic, topic);
    t.is(error?.kafkaErrorName, 'INVALID_TOPIC_EXCEPTION');
  }
  for (const partition of [-1, 1.5, 2 ** 31, Number.NaN]) {
    await t.throwsAsync(manager.getOrCreateLog('orders', partition), { instanceOf: InvalidPartitionError });
  }
  t.notThrows(() => validateTopicName('a'.repeat(249)));
  t.notThrows(() => validateTopicName('Valid.topic_name-1'));
  t.deepEqual(await fs.readdir(dir), ['.lock'], 'nothing was created for a refused name');
  await manager.close();
});

test('creates, lists and reopens logs; removes -delete leftovers; skips what is not a log', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const clock = new ManualClock(START_MS);
  let manager = await LogManager.open({ dataDir: dir, clock, scheduler: new ManualScheduler(clock) });
  const [first, again] = await Promise.all([manager.getOrCreateLog('my.topic-with-dash', 12), manager.getOrCreateLog('my.topic-with-dash', 12)]);
  t.is(first, again, 'concurrent creations give one log');
  const orders = await manager.getOrCreateLog('orders', 0);
  await appendAll(first, batchesOf(5, 5), () => clock.nowMs());
  await appendAll(orders, batchesOf(3, 3), () => clock.nowMs());
  t.deepEqual(
    manager
      .logs()
      .map(({ topic, partition }) => `${topic}/${partition}`)
      .sort(),
    ['my.topic-with-dash/12', 'orders/0'],
  );
  t.is(manager.getLog('orders', 0), orders);
  t.is(manager.getLog('orders', 1), undefined);
  await manager.close();
  await t.throwsAsync(manager.getOrCreateLog('orders', 0), { instanceOf: LogClosedError });

  // A crash in the middle of a deletion, a stray directory and a stray file.
  const leftover = path.join(dir, 'orders-7.0123456789abcdef0123456789abcdef-delete');
  await fs.mkdir(leftover);
  await fs.writeFile(path.join(leftover, '00000000000000000000.log'), 'gone');
  await fs.mkdir(path.join(dir, 'not a log'));
  await fs.writeFile(path.join(dir, 'meta.properties'), 'version=1\n');

  const logger = new RecordingLogger();
  manager = await LogManager.open({ dataDir: dir, clock, logger, scheduler: new ManualScheduler(clock), openConcurrency: 1 });
  t.deepEqual(
    manager
      .logs()
      .map(({ topic, partition, log }) => `${topic}/${partition}@${log.logEndOffset}`)
      .sort(),
    ['my.topic-with-dash/12@5', 'orders/0@3'],
  );
  await t.throwsAsync(fs.access(leftover), { code: 'ENOENT' });
  t.true(logger.lines.some((line) => line.level === 'warn' && line.msg === 'skipping not a log: not a <topic>-<partition> directory'));
  await fs.access(path.join(dir, 'not a log'));
  const reopened = manager.getLog('orders', 0);
  if (reopened === undefined) throw new Error('orders-0 reopened');
  t.deepEqual(
    recordsOf(await readLog(reopened)).map((record) => record.value?.slice(0, 2)),
    ['v0', 'v1', 'v2'],
  );
  await manager.close();
});

test('deleteLog renames the directory away, then removes it; the log does not come back', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const clock = new ManualClock(START_MS);
  let manager = await LogManager.open({ dataDir: dir, clock, scheduler: new ManualScheduler(clock) });
  const log = await manager.getOrCreateLog('doomed', 3);
  await appendAll(log, batchesOf(4, 4), () => clock.nowMs());
  await manager.getOrCreateLog('kept', 0);
  t.true(await manager.deleteLog('doomed', 3));
  t.false(await manager.deleteLog('doomed', 3));
  t.is(manager.getLog('doomed', 3), undefined);
  t.true(log.isClosed);
  await t.throwsAsync(fs.access(path.join(dir, 'doomed-3')), { code: 'ENOENT' });
  await manager.close();
  t.deepEqual((await fs.readdir(dir)).sort(), ['kept-0'], 'the renamed directory is removed and the lock released');
  manager = await LogManager.open({ dataDir: dir, clock, scheduler: new ManualScheduler(clock) });
  t.deepEqual(
    manager.logs().map(({ topic }) => topic),
    ['kept'],
  );
  const recreated = await manager.getOrCreateLog('doomed', 3);
  t.is(recreated.logEndOffset, 0n, 'a recreated log starts empty');
  await manager.close();
});

test('runMaintenance applies retention to delete topics and compaction to compacted topics; the scheduler runs the same', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const clock = new ManualClock(START_MS);
  const scheduler = new ManualScheduler(clock);
  const deleteConfig: LogConfig = { ...defaultLogConfig, segmentBytes: 1024, retentionMs: 60_000, fileDeleteDelayMs: 0 };
  const compactConfig: LogConfig = { ...defaultLogConfig, segmentBytes: 1024, cleanupPolicy: ['compact'], retentionMs: 60_000 };
  const configs = new Map<string, LogConfig>([
    ['events', deleteConfig],
    ['table', compactConfig],
  ]);
  let manager = await LogManager.open({
    dataDir: dir,
    clock,
    scheduler,
    configForTopic: (topic) => configs.get(topic),
    retentionCheckIntervalMs: 1_000,
    cleanerIntervalMs: 500,
    flushCheckIntervalMs: 1_000_000,
  });
  t.deepEqual(scheduler.names(), ['log-retention', 'log-cleaner', 'log-flush', 'producer-id-expiration']);
  const events = await manager.getOrCreateLog('events', 0);
  const table = await manager.getOrCreateLog('table', 0);
  t.is(events.config, deleteConfig);
  await appendAll(events, batchesOf(30, 30), () => clock.nowMs());
  await appendAll(table, batchesOf(30, 3), () => clock.nowMs());
  const eventSegments = events.segments().length;
  t.true(eventSegments > 3);

  const nothingYet = await manager.runMaintenance();
  t.is(nothingYet.segmentsDeleted, 0);
  t.deepEqual(nothingYet.failures, []);
  t.is(nothingYet.cleaned.length, 1, 'the compacted log was dirty');
  t.is(nothingYet.cleaned[0]?.topic, 'table');
  const tableRecords = recordsOf(await readLog(table));
  const activeBase = table.segments()[table.segments().length - 1]!.baseOffset;
  const cleanedKeys = tableRecords.filter((record) => record.offset < activeBase).map((record) => record.key);
  t.is(new Set(cleanedKeys).size, cleanedKeys.length, 'below the active segment each key appears once');
  const lastValue = new Map(tableRecords.map((record) => [record.key, record.value?.slice(0, 3)]));
  t.deepEqual([...lastValue.entries()].sort(), [
    ['k0', 'v27'],
    ['k1', 'v28'],
    ['k2', 'v29'],
  ]);

  const tableDir = path.join(dir, 'table-0');
  t.true((await fs.readdir(tableDir)).some((name) => name.endsWith('.deleted')), 'replaced segments wait file.delete.delay.ms');
  clock.advance(60_001);
  const afterRetention = await manager.runMaintenance();
  t.false((await fs.readdir(tableDir)).some((name) => name.endsWith('.deleted')), 'then retention removes them, compacted log or not');
  t.is(afterRetention.segmentsDeleted, eventSegments, 'every segment expired (the active one is rolled first, as Kafka)');
  t.is(events.logStartOffset, 30n);
  t.true(table.segments().length > 0 && table.logStartOffset === 0n, 'compact-only topics are not subject to time retention');

  // The scheduled tasks do the same work when due.
  await appendAll(events, batchesOf(30, 30), () => clock.nowMs());
  clock.advance(60_001);
  t.deepEqual(await scheduler.runDue(), ['log-cleaner', 'log-retention']);
  t.is(events.logStartOffset, 60n);
  t.deepEqual(scheduler.failures, []);

  // updateConfig switches a log to compaction.
  t.true(manager.updateConfig('events', 0, { ...deleteConfig, cleanupPolicy: ['compact'] }));
  t.false(manager.updateConfig('events', 9, deleteConfig));
  t.deepEqual(events.config.cleanupPolicy, ['compact']);
  await manager.close();
  t.deepEqual(scheduler.names(), [], 'close cancels the scheduled tasks');

  // Logs found on disk open with their topic's config.
  manager = await LogManager.open({ dataDir: dir, clock, scheduler: new ManualScheduler(clock), configForTopic: (topic) => configs.get(topic) });
  t.is(manager.getLog('table', 0)?.config, compactConfig);
  await manager.close();
});

test('runFlush fsyncs the logs whose flush.ms has passed with unflushed appends', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const clock = new ManualClock(START_MS);
  const manager = await LogManager.open({
    dataDir: dir,
    clock,
    scheduler: new ManualScheduler(clock),
    defaultConfig: { ...defaultLogConfig, flushMs: 1_000 },
  });
  const busy = await manager.getOrCreateLog('busy', 0);
  await manager.getOrCreateLog('idle', 0);
  await appendAll(busy, batchesOf(2, 2), () => clock.nowMs());
  t.is(await manager.runFlush(), 0, 'not due yet');
  clock.advance(1_000);
  t.is(await manager.runFlush(), 1, 'only the log with unflushed appends');
  t.is(busy.recoveryPointOffset, 2n);
  t.is(await manager.runFlush(), 0);
  await manager.close();
});
