import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ATTRIBUTE_DELETE_HORIZON,
  CompressionType,
  compressionOf,
  decodeRecordBatch,
  encodeControlBatch,
  encodeRecordBatch,
  isTransactional,
  isControl,
  readBatchHeader,
} from '@defter/protocol';
import { canJoinGroup, LogCleaner } from '../src/cleaner.js';
import { filterBatch } from '../src/cleaner/batch-filter.js';
import {
  CLEANER_CHECKPOINT_FILE,
  formatCleanerCheckpoint,
  parseCleanerCheckpoint,
  readCleanerCheckpoint,
  writeCleanerCheckpoint,
} from '../src/cleaner/checkpoint.js';
import { OffsetMap } from '../src/cleaner/offset-map.js';
import { ManualClock } from '../src/clock.js';
import type { LogConfig } from '../src/log-config.js';
import { defaultLogConfig } from '../src/log-config.js';
import { RecordingLogger } from '../src/logger.js';
import { PartitionLog } from '../src/partition-log.js';
import { appendAll, keyedWorkload, latestByKey, readLog, recordsOf } from './compaction-workload.js';

const START_MS = 1_700_000_000_000;
const compactedConfig: LogConfig = { ...defaultLogConfig, cleanupPolicy: ['compact'], segmentBytes: 4096, deleteRetentionMs: 500 };

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'defter-cleaner-'));
}

function mapOf(entries: Array<[string, bigint]>): OffsetMap {
  const map = new OffsetMap(100);
  for (const [key, offset] of entries) map.put(Buffer.from(key), offset);
  return map;
}

const b = (text: string): Buffer => Buffer.from(text);

test('filterBatch drops superseded records, keeps offsets, codec, producer fields and times, and stamps a delete horizon', (t) => {
  const stored = encodeRecordBatch({
    baseOffset: 100n,
    partitionLeaderEpoch: 4,
    compression: CompressionType.Gzip,
    producerId: 77n,
    producerEpoch: 2,
    baseSequence: 40,
    records: [
      { timestamp: 5_000n, key: b('a'), value: b('old a') },
      { timestamp: 5_010n, key: b('b'), value: null },
      { timestamp: 4_990n, key: b('c'), value: b('c3'), headers: [{ key: 'h', value: b('v') }] },
      { timestamp: 5_020n, key: null, value: b('no key') },
      { timestamp: 5_030n, key: b('d'), value: b('old d') },
    ],
  });
  const map = mapOf([
    ['a', 150n],
    ['b', 101n],
    ['c', 102n],
    ['d', 999n],
  ]);
  const context = { offsetMap: map, nowMs: 1_000_000, deleteRetentionMs: 500, aborted: false, lastBatchOfProducer: false };
  const outcome = filterBatch(decodeRecordBatch(stored), stored, context);
  if (outcome.kind !== 'rewrite') throw new Error(`expected a rewrite, got ${outcome.kind}`);
  t.is(outcome.recordsRemoved, 2);
  t.is(outcome.recordsRetained, 3);
  t.is(outcome.tombstoneHorizonMs, 1_000_500);
  const rewritten = decodeRecordBatch(outcome.bytes);
  t.is(rewritten.baseOffset, 100n);
  t.is(rewritten.lastOffsetDelta, 4, 'the batch keeps its last offset');
  t.is(rewritten.partitionLeaderEpoch, 4);
  t.is(rewritten.producerId, 77n);
  t.is(rewritten.producerEpoch, 2);
  t.is(rewritten.baseSequence, 40);
  t.is(compressionOf(rewritten.attributes), CompressionType.Gzip);
  t.is(rewritten.attributes & ATTRIBUTE_DELETE_HORIZON, ATTRIBUTE_DELETE_HORIZON);
  t.is(rewritten.baseTimestamp, 1_000_500n, 'KIP-534: the horizon lives in baseTimestamp');
  t.is(rewritten.maxTimestamp, 5_030n);
  t.deepEqual(
    rewritten.records.map((record) => [record.offsetDelta, rewritten.baseTimestamp + record.timestampDelta, record.key?.toString() ?? null, record.value?.toString() ?? null]),
    [
      [1, 5_010n, 'b', null],
      [2, 4_990n, 'c', 'c3'],
      [3, 5_020n, null, 'no key'],
    ],
  );
  t.deepEqual(rewritten.records[1]?.headers.map((header) => [header.key, header.value?.toString()]), [['h', 'v']]);

  // Before the horizon the batch is kept byte for byte; at the horizon the tombstone goes.
  const before = filterBatch(rewritten, outcome.bytes, { ...context, nowMs: 1_000_499 });
  t.is(before.kind, 'keep');
  t.is(before.kind === 'keep' ? before.bytes : undefined, outcome.bytes);
  const at = filterBatch(rewritten, outcome.bytes, { ...context, nowMs: 1_000_500 });
  if (at.kind !== 'rewrite') throw new Error(`expected a rewrite, got ${at.kind}`);
  const afterHorizon = decodeRecordBatch(at.bytes);
  t.deepEqual(
    afterHorizon.records.map((record) => [record.offsetDelta, afterHorizon.baseTimestamp + record.timestampDelta]),
    [
      [2, 4_990n],
      [3, 5_020n],
    ],
  );
  t.is(at.tombstoneHorizonMs, undefined);
  t.is(afterHorizon.lastOffsetDelta, 4);
});

test('filterBatch keeps an emptied batch only when it is its producer\'s last, and drops aborted records', (t) => {
  const stored = encodeRecordBatch({
    baseOffset: 10n,
    producerId: 5n,
    producerEpoch: 1,
    baseSequence: 7,
    records: [
      { timestamp: 1n, key: b('x'), value: b('1') },
      { timestamp: 2n, key: b('x'), value: b('2') },
    ],
  });
  const batch = decodeRecordBatch(stored);
  const superseded = { offsetMap: mapOf([['x', 50n]]), nowMs: 0, deleteRetentionMs: 0, aborted: false, lastBatchOfProducer: false };
  t.deepEqual(filterBatch(batch, stored, superseded), { kind: 'drop', recordsRemoved: 2 });
  const last = filterBatch(batch, stored, { ...superseded, lastBatchOfProducer: true });
  if (last.kind !== 'rewrite') throw new Error(`expected a rewrite, got ${last.kind}`);
  const header = readBatchHeader(last.bytes);
  t.is(header.recordsCount, 0);
  t.is(header.baseOffset, 10n);
  t.is(header.lastOffsetDelta, 1);
  t.is(header.baseSequence, 7);
  t.is(header.producerEpoch, 1);
  t.is(header.maxTimestamp, 2n);
  const latest = { ...superseded, offsetMap: mapOf([['x', 11n]]) };
  t.is(filterBatch(batch, stored, latest).kind, 'rewrite', 'the earlier x goes, the later stays');
  t.deepEqual(filterBatch(batch, stored, { ...latest, aborted: true }), { kind: 'drop', recordsRemoved: 2 });
});

test('transactions: aborted records never supersede, committed ones do, open ones stay; idempotent producers keep their last batch', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const clock = new ManualClock(START_MS);
  const log = await PartitionLog.open({ dir, config: compactedConfig, clock });
  const ts = BigInt(START_MS);
  const plain = (key: string | null, value: string): Buffer => encodeRecordBatch({ records: [{ timestamp: ts, key: key === null ? null : b(key), value: b(value) }] });
  const txn = (producerId: bigint, key: string, value: string): Buffer =>
    encodeRecordBatch({ transactional: true, producerId, producerEpoch: 0, baseSequence: 0, records: [{ timestamp: ts, key: b(key), value: b(value) }] });
  const marker = (producerId: bigint, type: 'commit' | 'abort'): Buffer =>
    encodeControlBatch({ producerId, producerEpoch: 0, type, coordinatorEpoch: 3, timestamp: ts });
  const idempotent = (sequence: number, key: string, value: string): Buffer =>
    encodeRecordBatch({ producerId: 7n, producerEpoch: 0, baseSequence: sequence, records: [{ timestamp: ts, key: b(key), value: b(value) }] });

  const input = [
    plain('b', 'b0'), // 0
    plain('c', 'c0'), // 1
    txn(9n, 'b', 'b-aborted'), // 2
    marker(9n, 'abort'), // 3
    txn(10n, 'c', 'c1'), // 4
    marker(10n, 'commit'), // 5
    idempotent(0, 'd', 'd1'), // 6
    idempotent(1, 'd', 'd2'), // 7
    plain('d', 'd3'), // 8
    plain(null, 'no key'), // 9
    txn(11n, 'e', 'e-open'), // 10: its transaction is still open
    plain('e', 'e2'), // 11
    plain('e', 'e3'), // 12 (past the open transaction: kept as it is until a later pass)
  ];
  // Markers come from the transaction coordinator's path.
  for (const batch of input) await (isControl(readBatchHeader(batch).attributes) ? log.appendControlBatch(batch) : log.append(batch));
  await log.roll();
  const stats = await new LogCleaner({ clock }).clean(log, { force: true });
  t.is(stats?.nextFirstDirtyOffset, 10n, 'the pass stops at the first open transaction');
  const batches = await readLog(log);
  t.deepEqual(
    batches.map((batch) => [Number(batch.baseOffset), Number(batch.lastOffset), batch.control, batch.records.map((record) => record.value)]),
    [
      [0, 0, false, ['b0']],
      [2, 2, false, []], // aborted, but pid 9's last data batch: kept empty
      [3, 3, true, ['\u0000\u0000\u0000\u0000\u0000\u0003']],
      [4, 4, false, ['c1']],
      [5, 5, true, ['\u0000\u0000\u0000\u0000\u0000\u0003']],
      [7, 7, false, []], // pid 7's last batch, superseded by d3: kept empty for its sequence
      [8, 8, false, ['d3']],
      [9, 9, false, ['no key']],
      [10, 10, false, ['e-open']],
      [11, 11, false, ['e2']],
      [12, 12, false, ['e3']],
    ],
  );
  t.true(batches.filter((batch) => batch.baseOffset === 4n).every((batch) => isTransactional(batch.attributes)));
  await log.close();
});

test('the log stays readable while it is cleaned, and a checkpoint past the log end restarts cleaning', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const clock = new ManualClock(START_MS);
  const config: LogConfig = { ...compactedConfig, segmentBytes: 1024 };
  const log = await PartitionLog.open({ dir, config, clock });
  const appended = await appendAll(log, keyedWorkload({ batchCount: 400, keyCount: 20, deleteEvery: 1000, seed: 21 }), () => clock.nowMs());
  const oracle = latestByKey(appended);
  await writeCleanerCheckpoint(dir, { firstDirtyOffset: 1_000_000n, deleteHorizonMs: -1 });
  const logger = new RecordingLogger();
  const cleaning = new LogCleaner({ clock, logger }).clean(log);
  let done = false;
  void cleaning.finally(() => {
    done = true;
  });
  let reads = 0;
  const expected = [...oracle.entries()].map(([key, record]) => `${key}=${record.value}`).sort();
  while (!done) {
    // Fetch from the start, as a consumer would: whole batches in offset order, and every key's
    // latest value is visible at every moment of the pass.
    let offset = log.logStartOffset;
    let previous = -1n;
    const seen = new Map<string, string | null>();
    while (offset < log.logEndOffset) {
      const batchBuffers = await log.readBatches(offset, 64 * 1024);
      if (batchBuffers.length === 0) break;
      for (const bytes of batchBuffers) {
        const batch = decodeRecordBatch(bytes);
        if (batch.baseOffset <= previous) throw new Error(`batch ${batch.baseOffset} after ${previous}`);
        previous = batch.baseOffset + BigInt(batch.lastOffsetDelta);
        for (const record of batch.records) seen.set(record.key?.toString() ?? '', record.value?.toString() ?? null);
      }
      offset = previous + 1n;
    }
    t.deepEqual([...seen.entries()].map(([key, value]) => `${key}=${value}`).sort(), expected);
    reads++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const stats = await cleaning;
  t.true(reads > 0);
  t.is(stats?.firstDirtyOffset, 0n);
  t.true(logger.lines.some((line) => line.level === 'warn' && line.msg === 'cleaner checkpoint is past the log end; cleaning from the log start'));
  const latest = new Map(recordsOf(await readLog(log)).map((record) => [record.key, record.value]));
  t.deepEqual(
    [...latest.entries()].sort(),
    [...oracle.entries()].map(([key, record]) => [key, record.value]).sort(),
  );
  t.deepEqual(await readCleanerCheckpoint(dir), { firstDirtyOffset: stats?.nextFirstDirtyOffset ?? -1n, deleteHorizonMs: -1 });
  await log.close();
});

test('the cleaner checkpoint round-trips and rejects what it did not write', async (t) => {
  const checkpoint = { firstDirtyOffset: 9_007_199_254_740_993n, deleteHorizonMs: 1_700_000_123_456 };
  t.is(formatCleanerCheckpoint(checkpoint), '0\n9007199254740993\n1700000123456\n');
  t.deepEqual(parseCleanerCheckpoint(formatCleanerCheckpoint(checkpoint)), checkpoint);
  t.deepEqual(parseCleanerCheckpoint('0\n12\n-1\n'), { firstDirtyOffset: 12n, deleteHorizonMs: -1 });
  for (const garbage of ['', '1\n12\n-1\n', '0\n-12\n-1\n', '0\nabc\n-1\n', '0\n12\n', '0\n99999999999999999999\n-1\n']) {
    t.is(parseCleanerCheckpoint(garbage), undefined, JSON.stringify(garbage));
  }
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  t.is(await readCleanerCheckpoint(dir), undefined);
  await writeCleanerCheckpoint(dir, checkpoint);
  t.deepEqual(await readCleanerCheckpoint(dir), checkpoint);
  t.deepEqual(await fs.readdir(dir), [CLEANER_CHECKPOINT_FILE], 'no temporary file is left');
});

test('canJoinGroup: a cleaned segment takes the next segment while its copy fits segmentBytes and int32 offsets', (t) => {
  const config = { segmentBytes: 1200, segmentIndexBytes: 10 * 1024 * 1024, indexIntervalBytes: 4096 };
  const group = [{ baseOffset: 100n }];
  const segment = (sizeBytes: number, nextOffset = 200n) => ({ sizeBytes, nextOffset });
  t.true(canJoinGroup([], 5000, segment(5000), config), 'an empty group takes anything');
  t.true(canJoinGroup(group, 700, segment(500), config));
  t.false(canJoinGroup(group, 701, segment(500), config));
  t.true(canJoinGroup(group, 0, segment(5000), config), 'nothing kept yet: size does not matter');
  t.true(canJoinGroup(group, 10, segment(10, 100n + 2n ** 31n), config));
  t.false(canJoinGroup(group, 10, segment(10, 101n + 2n ** 31n), config), 'offsets relative to the group base must fit an int32');
  t.false(canJoinGroup(group, 0, segment(10, 101n + 2n ** 31n), config));
  t.false(canJoinGroup(group, 100, segment(100), { segmentBytes: 1200, segmentIndexBytes: 24, indexIntervalBytes: 61 }), 'the index would overflow');
});

test('the offset map keeps the latest offset per exact key and reports its bound', (t) => {
  const map = new OffsetMap(2);
  map.put(b('k'), 5n);
  map.put(b('k'), 3n);
  map.put(Buffer.from([0xff, 0x00]), 9n);
  t.is(map.get(b('k')), 5n);
  t.is(map.get(Buffer.from([0xff, 0x00])), 9n);
  t.is(map.get(Buffer.from([0xff])), undefined);
  t.is(map.size, 2);
  t.is(map.latestOffset, 9n);
  t.false(map.hasRoomFor(1));
  t.throws(() => new OffsetMap(0), { instanceOf: RangeError });
});
