import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { computeBatchCrc, crc32c, patchBaseOffset } from '@defter/protocol';
import { ManualClock } from '../src/clock.js';
import { defaultLogConfig } from '../src/log-config.js';
import { RecordingLogger } from '../src/logger.js';
import {
  CorruptSnapshotError,
  decodeProducerSnapshot,
  encodeProducerSnapshot,
  parseProducerSnapshotFileName,
  producerSnapshotFileName,
  PRODUCER_SNAPSHOT_ENTRY_BYTES,
  type ProducerSnapshotEntry,
} from '../src/producer-snapshot.js';
import { ProducerStateManager, type CompletedTransaction } from '../src/producer-state.js';
import { Segment } from '../src/segment.js';
import { appended, dataBatch, markerBatch, MemoryLog } from './helpers/producer-batches.js';
import { EXPIRATION_MS, runWorkload, workloadArbitrary } from './helpers/producer-model.js';
import { tempDir } from './helpers/temp-dir.js';

const entryArbitrary: fc.Arbitrary<ProducerSnapshotEntry> = fc
  .record({
    producerId: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
    producerEpoch: fc.integer({ min: -1, max: 32767 }),
    lastSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    lastOffset: fc.bigInt({ min: -1n, max: 2n ** 62n }),
    offsetDelta: fc.integer({ min: 0, max: 1000 }),
    timestampMs: fc.bigInt({ min: -1n, max: 2n ** 50n }),
    coordinatorEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    currentTxnFirstOffset: fc.bigInt({ min: -1n, max: 2n ** 62n }),
  })
  .map((entry) => (entry.lastOffset < BigInt(entry.offsetDelta) ? { ...entry, offsetDelta: 0 } : entry));

/** What a snapshot keeps of each producer: everything but the batches before its last one. */
function snapshotView(psm: ProducerStateManager) {
  return [...psm.activeProducers()]
    .map((entry) => ({
      producerId: entry.producerId,
      epoch: entry.producerEpoch,
      last: entry.batches.at(-1),
      coordinatorEpoch: entry.coordinatorEpoch,
      lastTimestamp: entry.lastTimestamp,
      txnFirst: entry.currentTxnFirstOffset,
    }))
    .sort((a, b) => (a.producerId < b.producerId ? -1 : 1));
}

function fullView(psm: ProducerStateManager) {
  return [...psm.activeProducers()].map((entry) => ({ ...entry, batches: [...entry.batches] })).sort((a, b) => (a.producerId < b.producerId ? -1 : 1));
}

async function freshDir(root: string): Promise<string> {
  return mkdtemp(path.join(root, 'p-'));
}

test('file names: 20-digit offset and .snapshot; nothing else parses', (t) => {
  t.is(producerSnapshotFileName(42n), '00000000000000000042.snapshot');
  t.is(parseProducerSnapshotFileName('00000000000000000042.snapshot'), 42n);
  t.is(parseProducerSnapshotFileName('00000000000000000042.snapshot.tmp'), undefined);
  t.is(parseProducerSnapshotFileName('42.snapshot'), undefined);
  t.is(parseProducerSnapshotFileName('00000000000000000042.snapshot.deleted'), undefined);
});

test("the layout is Kafka's ProducerSnapshot v1: version, CRC-32C of the rest, count, 46-byte entries", (t) => {
  const entry: ProducerSnapshotEntry = {
    producerId: 0x0102030405060708n,
    producerEpoch: 3,
    lastSequence: 77,
    lastOffset: 1000n,
    offsetDelta: 4,
    timestampMs: 1_700_000_000_000n,
    coordinatorEpoch: 9,
    currentTxnFirstOffset: 990n,
  };
  const expected = Buffer.alloc(10 + 46);
  expected.writeInt16BE(1, 0);
  expected.writeInt32BE(1, 6);
  expected.writeBigInt64BE(entry.producerId, 10);
  expected.writeInt16BE(3, 18);
  expected.writeInt32BE(77, 20);
  expected.writeBigInt64BE(1000n, 24);
  expected.writeInt32BE(4, 32);
  expected.writeBigInt64BE(1_700_000_000_000n, 36);
  expected.writeInt32BE(9, 44);
  expected.writeBigInt64BE(990n, 48);
  expected.writeUInt32BE(crc32c(expected, 6, expected.length), 2);
  t.deepEqual(encodeProducerSnapshot([entry]), expected);
  t.deepEqual(decodeProducerSnapshot(expected), [entry]);
  t.is(encodeProducerSnapshot([]).length, 10);
});

test('round trip of any entries; every single-byte change is detected', (t) => {
  fc.assert(
    fc.property(fc.array(entryArbitrary, { maxLength: 20 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (entries, at, flip) => {
      const bytes = encodeProducerSnapshot(entries);
      t.is(bytes.length, 10 + entries.length * PRODUCER_SNAPSHOT_ENTRY_BYTES);
      t.deepEqual(decodeProducerSnapshot(bytes), entries);
      const corrupt = Buffer.from(bytes);
      corrupt[at % corrupt.length] ^= flip;
      t.throws(() => decodeProducerSnapshot(corrupt), { instanceOf: CorruptSnapshotError });
      t.throws(() => decodeProducerSnapshot(bytes.subarray(0, bytes.length - 1 - (at % bytes.length))), { instanceOf: CorruptSnapshotError });
    }),
  );
});

test('hostile bytes only ever give CorruptSnapshotError, also with a valid CRC', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (raw, fixCrc) => {
      const bytes = Buffer.from(raw);
      if (fixCrc && bytes.length >= 10) {
        bytes.writeInt16BE(1, 0);
        bytes.writeUInt32BE(crc32c(bytes, 6, bytes.length), 2);
      }
      try {
        const entries = decodeProducerSnapshot(bytes);
        // Only a well-formed file decodes, and then it re-encodes to the same bytes.
        t.deepEqual(encodeProducerSnapshot(entries), bytes);
      } catch (error) {
        t.true(error instanceof CorruptSnapshotError, String(error));
      }
    }),
  );
});

test('takeSnapshot writes <offset>.snapshot atomically, once per offset; a reopened manager resumes from it', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(5000);
  const psm = await ProducerStateManager.open({ dir, clock });
  const log = new MemoryLog();
  for (const bytes of [
    dataBatch({ producerId: 1n, producerEpoch: 0, baseSequence: 0, recordCount: 3, timestampMs: 4000n }),
    dataBatch({ producerId: 2n, producerEpoch: 1, baseSequence: 10, recordCount: 1, transactional: true, timestampMs: 4500n }),
    dataBatch({ producerId: 1n, producerEpoch: 0, baseSequence: 3, recordCount: 2, timestampMs: 4600n }),
  ]) {
    psm.recordAppend(appended(log.append(bytes)));
  }
  t.is(await psm.takeSnapshot(), 6n);
  t.is(await psm.takeSnapshot(), undefined);
  t.deepEqual(await readdir(dir), ['00000000000000000006.snapshot']);

  await writeFile(path.join(dir, '00000000000000000009.snapshot.tmp'), 'torn');
  await writeFile(path.join(dir, 'unrelated.txt'), 'x');
  const reopened = await ProducerStateManager.open({ dir, clock });
  t.deepEqual(reopened.snapshots(), [6n]);
  t.deepEqual((await readdir(dir)).sort(), ['00000000000000000006.snapshot', 'unrelated.txt']);
  let replayed = false;
  await reopened.rebuild({
    logStartOffset: 0n,
    logEndOffset: 6n,
    batchesFrom: () => {
      replayed = true;
      return [];
    },
  });
  t.false(replayed);
  t.deepEqual(snapshotView(reopened), snapshotView(psm));
  t.is(reopened.firstUndecidedOffset(), 3n);
  t.is(reopened.mapEndOffset, 6n);
  // The last batch survives the snapshot, so its retry is still a duplicate.
  t.deepEqual(reopened.checkAppend({ producerId: 1n, producerEpoch: 0, baseSequence: 3, lastOffsetDelta: 1, isTransactional: false, isControl: false }), {
    duplicateOf: { firstOffset: 4n, lastOffset: 5n, maxTimestamp: 4600n },
  });
  t.is(reopened.checkAppend({ producerId: 1n, producerEpoch: 0, baseSequence: 5, lastOffsetDelta: 0, isTransactional: false, isControl: false }), 'ok');
  t.deepEqual(
    reopened.checkAppend({ producerId: 1n, producerEpoch: 0, baseSequence: 6, lastOffsetDelta: 0, isTransactional: false, isControl: false }),
    { error: 'OUT_OF_ORDER_SEQUENCE_NUMBER', message: 'out of order sequence for producer 1: 6 (incoming), 4 (current end sequence)' },
  );
});

test('rebuild from the whole log (no snapshot) reproduces the live state exactly, and reports each completed transaction', async (t) => {
  const root = await tempDir(t);
  await fc.assert(
    fc.asyncProperty(workloadArbitrary({ expiry: false }), async (ops) => {
      const clock = new ManualClock(1_000_000);
      const live = await ProducerStateManager.open({ dir: await freshDir(root), clock, producerIdExpirationMs: EXPIRATION_MS });
      const liveCompleted: CompletedTransaction[] = [];
      const { log, model } = await runWorkload(live, clock, ops, async (txn) => {
        liveCompleted.push(txn);
      });
      const rebuilt = await ProducerStateManager.open({ dir: await freshDir(root), clock, producerIdExpirationMs: EXPIRATION_MS });
      const replayCompleted: CompletedTransaction[] = [];
      await rebuilt.rebuild({
        logStartOffset: 0n,
        logEndOffset: log.nextOffset,
        batchesFrom: (offset) => log.from(offset),
        onCompletedTransaction: (txn) => {
          replayCompleted.push(txn);
        },
      });
      rebuilt.onHighWatermarkUpdated(model.highWatermark);
      t.deepEqual(fullView(rebuilt), fullView(live));
      t.deepEqual(replayCompleted, liveCompleted);
      t.is(rebuilt.firstUnstableOffset(), live.firstUnstableOffset());
      t.is(rebuilt.mapEndOffset, log.nextOffset);
      // rebuild ends with a snapshot at the log end (when the log is not empty).
      t.deepEqual(rebuilt.snapshots(), log.nextOffset > 0n ? [log.nextOffset] : []);
    }),
    { numRuns: 60 },
  );
});

test('rebuild from a mid-log snapshot plus the tail agrees with the live state; a corrupt latest snapshot is logged, deleted and replaced by the log', async (t) => {
  const root = await tempDir(t);
  let corruptedRuns = 0;
  await fc.assert(
    fc.asyncProperty(workloadArbitrary({ expiry: false, maxLength: 80 }), workloadArbitrary({ expiry: false, maxLength: 80 }), async (first, second) => {
      const clock = new ManualClock(1_000_000);
      const dir = await freshDir(root);
      const live = await ProducerStateManager.open({ dir, clock, producerIdExpirationMs: EXPIRATION_MS });
      // One workload, snapshotted half way (the model restarts, so the second half runs on a separate log).
      const { log } = await runWorkload(live, clock, first);
      const midOffset = await live.takeSnapshot();
      const combined = new MemoryLog();
      for (const batch of log.batches) combined.append(Buffer.from(batch.bytes));
      const second0 = await ProducerStateManager.open({ dir: await freshDir(root), clock, producerIdExpirationMs: EXPIRATION_MS });
      const { log: tail } = await runWorkload(second0, clock, second);
      // Producer ids of the second half are shifted so that they do not collide with the first half's.
      for (const batch of tail.batches) {
        const bytes = Buffer.from(batch.bytes);
        if (batch.header.producerId >= 0n) {
          bytes.writeBigInt64BE(batch.header.producerId + 100n, 43);
          bytes.writeUInt32BE(computeBatchCrc(bytes), 17);
        }
        live.recordAppend(appended(combined.append(bytes)));
      }
      await live.takeSnapshot();

      const rebuilt = await ProducerStateManager.open({ dir, clock, producerIdExpirationMs: EXPIRATION_MS });
      const froms: bigint[] = [];
      await rebuilt.rebuild({
        logStartOffset: 0n,
        logEndOffset: combined.nextOffset,
        batchesFrom: (offset) => {
          froms.push(offset);
          return combined.from(offset);
        },
      });
      t.deepEqual(froms, []);
      t.deepEqual(snapshotView(rebuilt), snapshotView(live));
      t.is(rebuilt.firstUndecidedOffset(), live.firstUndecidedOffset());

      // Corrupt the latest snapshot: the mid one (if any) is used and the tail replayed.
      const latest = rebuilt.latestSnapshotOffset();
      if (latest === undefined || latest === midOffset) return;
      const latestPath = rebuilt.snapshotPath(latest);
      const bytes = await readFile(latestPath);
      bytes[bytes.length - 1] ^= 0x5a;
      await writeFile(latestPath, bytes);
      corruptedRuns++;
      const logger = new RecordingLogger();
      const recovered = await ProducerStateManager.open({ dir, clock, logger, producerIdExpirationMs: EXPIRATION_MS });
      await recovered.rebuild({
        logStartOffset: 0n,
        logEndOffset: combined.nextOffset,
        batchesFrom: (offset) => {
          froms.push(offset);
          return combined.from(offset);
        },
      });
      t.deepEqual(froms, [midOffset ?? 0n]);
      t.true(logger.lines.some((line) => line.level === 'warn' && JSON.stringify(line.obj).includes(path.basename(latestPath)) && JSON.stringify(line.obj).includes('CRC')));
      t.deepEqual(snapshotView(recovered), snapshotView(live));
      t.is(recovered.firstUndecidedOffset(), live.firstUndecidedOffset());
    }),
    { numRuns: 40 },
  );
  t.true(corruptedRuns > 20, `only ${corruptedRuns} runs reached the corruption step`);
});

test('truncation keeps snapshots in (logStartOffset, logEndOffset]; deleteSnapshotsBefore and truncateSnapshotsAbove', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(0);
  const psm = await ProducerStateManager.open({ dir, clock });
  const log = new MemoryLog();
  for (let i = 0; i < 6; i++) {
    psm.recordAppend(appended(log.append(dataBatch({ producerId: 1n, producerEpoch: 0, baseSequence: i * 2, recordCount: 2 }))));
    await psm.takeSnapshot();
  }
  t.deepEqual(psm.snapshots(), [2n, 4n, 6n, 8n, 10n, 12n]);
  await psm.truncateSnapshotsAbove(10n);
  await psm.deleteSnapshotsBefore(4n);
  t.deepEqual(psm.snapshots(), [4n, 6n, 8n, 10n]);
  t.deepEqual((await readdir(dir)).sort(), ['00000000000000000004.snapshot', '00000000000000000006.snapshot', '00000000000000000008.snapshot', '00000000000000000010.snapshot']);

  // The log was truncated to 7: the snapshot at 6 is the latest usable; 8 and 10 go, and 4 (= log start) too.
  await psm.truncateAndReload(4n, 7n);
  t.deepEqual(psm.snapshots(), [6n]);
  t.is(psm.mapEndOffset, 6n);
  t.is(psm.entry(1n)!.batches.at(-1)!.lastSequence, 5);
  await psm.replay(log.from(6n), 7n);
  t.is(psm.mapEndOffset, 7n);
  t.is(psm.entry(1n)!.batches.at(-1)!.lastSequence, 7);

  await psm.truncateFullyAndStartAt(20n);
  t.deepEqual(psm.snapshots(), []);
  t.deepEqual(await readdir(dir), []);
  t.is(psm.producerCount, 0);
  t.is(psm.mapEndOffset, 20n);
});

test('producers idle past producer.id.expiration.ms are not loaded from a snapshot, unless a transaction is open', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(10_000);
  const psm = await ProducerStateManager.open({ dir, clock, producerIdExpirationMs: 1000 });
  const log = new MemoryLog();
  psm.recordAppend(appended(log.append(dataBatch({ producerId: 1n, producerEpoch: 0, baseSequence: 0, recordCount: 1, timestampMs: 10_000n }))));
  psm.recordAppend(appended(log.append(dataBatch({ producerId: 2n, producerEpoch: 0, baseSequence: 0, recordCount: 1, transactional: true, timestampMs: 10_000n }))));
  psm.recordAppend(appended(log.append(dataBatch({ producerId: 3n, producerEpoch: 0, baseSequence: 0, recordCount: 1, timestampMs: 10_500n }))));
  await psm.takeSnapshot();
  clock.set(11_000);
  const reopened = await ProducerStateManager.open({ dir, clock, producerIdExpirationMs: 1000 });
  await reopened.rebuild({ logStartOffset: 0n, logEndOffset: 3n, batchesFrom: () => [] });
  t.deepEqual([...reopened.activeProducers()].map((e) => e.producerId).sort(), [2n, 3n]);
  t.is(reopened.firstUndecidedOffset(), 1n);
});

test('an oversized or truncated snapshot file is ignored with a warning and the log replayed', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(0);
  const log = new MemoryLog();
  const psm = await ProducerStateManager.open({ dir, clock });
  for (let i = 0; i < 3; i++) psm.recordAppend(appended(log.append(dataBatch({ producerId: 5n, producerEpoch: 0, baseSequence: i, recordCount: 1 }))));
  psm.recordAppend(appended(log.append(markerBatch({ producerId: 5n, producerEpoch: 0, type: 'abort', coordinatorEpoch: 1 }))));
  await psm.takeSnapshot();
  const snapshotPath = psm.snapshotPath(4n);
  const logger = new RecordingLogger();
  const small = await ProducerStateManager.open({ dir, clock, logger, snapshotBytesMax: 20 });
  await small.rebuild({ logStartOffset: 0n, logEndOffset: 4n, batchesFrom: (offset) => log.from(offset) });
  t.true(logger.lines.some((line) => line.level === 'warn' && JSON.stringify(line.obj).includes('more than the 20 allowed')));
  t.deepEqual(fullView(small), fullView(psm));
  // rebuild wrote a fresh snapshot; now cut it short.
  const bytes = await readFile(snapshotPath);
  await writeFile(snapshotPath, bytes.subarray(0, bytes.length - 3));
  const logger2 = new RecordingLogger();
  const again = await ProducerStateManager.open({ dir, clock, logger: logger2 });
  await again.rebuild({ logStartOffset: 0n, logEndOffset: 4n, batchesFrom: (offset) => log.from(offset) });
  t.is(logger2.lines.filter((line) => line.level === 'warn').length, 1);
  t.deepEqual(fullView(again), fullView(psm));
});

test('rebuild replays a real segment through Segment.batches()', async (t) => {
  const dir = await tempDir(t);
  const clock = new ManualClock(0);
  const segment = await Segment.create(dir, 0n, { config: defaultLogConfig, clock });
  t.teardown(() => segment.close());
  const live = await ProducerStateManager.open({ dir, clock });
  const batches = [
    dataBatch({ producerId: 1n, producerEpoch: 0, baseSequence: 0, recordCount: 2, transactional: true }),
    dataBatch({ producerId: 2n, producerEpoch: 0, baseSequence: 0, recordCount: 1 }),
    markerBatch({ producerId: 1n, producerEpoch: 0, type: 'abort', coordinatorEpoch: 3 }),
    dataBatch({ producerId: 1n, producerEpoch: 0, baseSequence: 2, recordCount: 1, transactional: true }),
  ];
  const memory = new MemoryLog();
  for (const bytes of batches) {
    patchBaseOffset(bytes, segment.nextOffset);
    await segment.append(bytes);
    live.recordAppend(appended(memory.append(Buffer.from(bytes))));
  }
  const rebuilt = await ProducerStateManager.open({ dir, clock });
  const completed: CompletedTransaction[] = [];
  await rebuilt.rebuild({ logStartOffset: 0n, logEndOffset: segment.nextOffset, batchesFrom: () => segment.batches(), onCompletedTransaction: (txn) => void completed.push(txn) });
  t.deepEqual(completed, [{ producerId: 1n, firstOffset: 0n, lastOffset: 3n, aborted: true, lastStableOffset: 4n }]);
  t.deepEqual(fullView(rebuilt), fullView(live));
  t.is(rebuilt.firstUndecidedOffset(), 4n);
  t.deepEqual(await readdir(dir).then((names) => names.filter((name) => name.endsWith('.snapshot'))), ['00000000000000000005.snapshot']);
});

test('a failed snapshot fsync leaves no snapshot behind and can be retried', async (t) => {
  const dir = await tempDir(t);
  let syncs = 0;
  let failNext = true;
  const psm = await ProducerStateManager.open({
    dir,
    clock: new ManualClock(0),
    fileSync: async (file) => {
      syncs++;
      if (failNext) {
        failNext = false;
        throw new Error('injected fsync failure');
      }
      await file.sync();
    },
  });
  psm.recordAppend(appended(new MemoryLog().append(dataBatch({ producerId: 1n, producerEpoch: 0, baseSequence: 0, recordCount: 1 }))));
  await t.throwsAsync(psm.takeSnapshot(), { message: 'injected fsync failure' });
  t.deepEqual(psm.snapshots(), []);
  t.deepEqual(await readdir(dir), ['00000000000000000001.snapshot.tmp']);
  t.is(await psm.takeSnapshot(), 1n);
  t.is(syncs, 2);
  t.deepEqual(await readdir(dir), ['00000000000000000001.snapshot']);
  t.deepEqual((await ProducerStateManager.open({ dir })).snapshots(), [1n]);
});
