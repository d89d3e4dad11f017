import { runWriterAndKill } from './helpers/kill-writer.js';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { encodeRecordBatch, readBatchHeader, verifyBatchCrc } from '@defter/protocol';
import { ManualClock } from '../src/clock.js';
import { InvalidRecordError } from '../src/errors.js';
import { defaultLogConfig, type LogConfig } from '../src/log-config.js';
import { PartitionLog, RECOVERY_POINT_CHECKPOINT_FILE } from '../src/partition-log.js';
import { producerSnapshotFileName } from '../src/producer-snapshot.js';
import { ProducerStateError } from '../src/producer-state.js';
import { CRASH_PRODUCER_ID, producerCrashBatch } from './helpers/producer-crash-batch.js';
import { dataBatch, markerBatch } from './helpers/producer-batches.js';
import { tempDir } from './helpers/temp-dir.js';

const smallSegments: LogConfig = { ...defaultLogConfig, segmentBytes: 1024, indexIntervalBytes: 256 };

const plain = (value: string): Buffer => encodeRecordBatch({ records: [{ value: Buffer.from(value), timestamp: 1000n }] });

/** Base offset and record count of every stored batch. */
async function storedBatches(log: PartitionLog): Promise<Array<[number, number, number]>> {
  const batches = await log.readBatches(log.logStartOffset, 1 << 30);
  return batches.map((bytes) => {
    const header = readBatchHeader(bytes);
    return [Number(header.baseOffset), header.recordsCount, header.baseSequence];
  });
}

async function producerError(t: import('ava').ExecutionContext, promise: Promise<unknown>): Promise<string> {
  const error = await t.throwsAsync(promise, { instanceOf: ProducerStateError });
  return (error as ProducerStateError).kafkaErrorName;
}

test('a retried batch is acknowledged with its original offsets and not written twice, also inside one group', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir });
  t.teardown(() => log.close());
  const first = await log.append(dataBatch({ producerId: 7n, producerEpoch: 0, baseSequence: 0, recordCount: 3 }));
  const second = await log.append(dataBatch({ producerId: 7n, producerEpoch: 0, baseSequence: 3, recordCount: 2 }));
  t.deepEqual([first.baseOffset, first.lastOffset, second.baseOffset, second.lastOffset], [0n, 2n, 3n, 4n]);
  t.is(first.duplicate, undefined);

  const retry = await log.append(dataBatch({ producerId: 7n, producerEpoch: 0, baseSequence: 0, recordCount: 3 }));
  t.deepEqual(retry, { baseOffset: 0n, lastOffset: 2n, maxTimestampMs: 1000n, logAppendTimeMs: -1n, recordCount: 3, duplicate: true });
  t.is(log.logEndOffset, 5n);

  // A batch and its retry arriving together: the group writes the first, answers the second from it.
  const [third, thirdRetry, fourth] = await Promise.all([
    log.append(dataBatch({ producerId: 7n, producerEpoch: 0, baseSequence: 5, recordCount: 1 })),
    log.append(dataBatch({ producerId: 7n, producerEpoch: 0, baseSequence: 5, recordCount: 1 })),
    log.append(dataBatch({ producerId: 7n, producerEpoch: 0, baseSequence: 6, recordCount: 1 })),
  ]);
  t.deepEqual([third.baseOffset, third.duplicate], [5n, undefined]);
  t.deepEqual([thirdRetry.baseOffset, thirdRetry.lastOffset, thirdRetry.duplicate], [5n, 5n, true]);
  t.deepEqual([fourth.baseOffset, fourth.duplicate], [6n, undefined]);
  t.deepEqual(await storedBatches(log), [
    [0, 3, 0],
    [3, 2, 3],
    [5, 1, 5],
    [6, 1, 6],
  ]);
});

test('non-idempotent batches (producer id -1, as kafkajs sends them) bypass the checks: identical batches are both written', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir });
  t.teardown(() => log.close());
  const a = await log.append(encodeRecordBatch({ producerId: -1n, producerEpoch: 0, baseSequence: 0, records: [{ value: Buffer.from('x'), timestamp: 1n }] }));
  const b = await log.append(encodeRecordBatch({ producerId: -1n, producerEpoch: 0, baseSequence: 0, records: [{ value: Buffer.from('x'), timestamp: 1n }] }));
  t.deepEqual([a.baseOffset, b.baseOffset, a.duplicate, b.duplicate], [0n, 1n, undefined, undefined]);
  t.is(log.producerState.producerCount, 0);
  t.is(log.lastStableOffset, 2n);
});

test('a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER and nothing is written; the appends around it go through', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir });
  t.teardown(() => log.close());
  await log.append(dataBatch({ producerId: 7n, producerEpoch: 0, baseSequence: 0, recordCount: 2 }));
  const sizeBefore = log.sizeBytes;
  const gap = log.append(dataBatch({ producerId: 7n, producerEpoch: 0, baseSequence: 5, recordCount: 1 }));
  const other = log.append(plain('other'));
  const next = log.append(dataBatch({ producerId: 7n, producerEpoch: 0, baseSequence: 2, recordCount: 1 }));
  t.is(await producerError(t, gap), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  t.is((await other).baseOffset, 2n);
  t.is((await next).baseOffset, 3n);
  t.is(log.logEndOffset, 4n);
  t.true(log.sizeBytes > sizeBefore);
  t.deepEqual(await storedBatches(log), [
    [0, 2, 0],
    [2, 1, -1],
    [3, 1, 2],
  ]);
  // A new epoch must start at sequence 0.
  t.is(await producerError(t, log.append(dataBatch({ producerId: 7n, producerEpoch: 1, baseSequence: 3, recordCount: 1 }))), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  t.is(log.logEndOffset, 4n);
});

test('an older producer epoch is INVALID_PRODUCER_EPOCH and nothing is written', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir });
  t.teardown(() => log.close());
  await log.append(dataBatch({ producerId: 9n, producerEpoch: 0, baseSequence: 0, recordCount: 1 }));
  await log.append(dataBatch({ producerId: 9n, producerEpoch: 1, baseSequence: 0, recordCount: 1 }));
  const zombie = log.append(dataBatch({ producerId: 9n, producerEpoch: 0, baseSequence: 1, recordCount: 1 }));
  const error = await t.throwsAsync(zombie, { instanceOf: ProducerStateError });
  t.is(error?.kafkaErrorName, 'INVALID_PRODUCER_EPOCH');
  t.is(log.logEndOffset, 2n);
  t.is(log.producerState.entry(9n)?.producerEpoch, 1);
});

test('deduplication survives a reopen: the snapshot taken at close answers a retry; an expired producer is forgotten', async (t) => {
  const dir = await tempDir(t);
  // The batches carry timestamp 1000: the clock stays within producer.id.expiration.ms of it.
  const clock = new ManualClock(5000);
  const producerIdExpirationMs = 60_000;
  let log = await PartitionLog.open({ dir, config: smallSegments, clock, producerIdExpirationMs });
  let sequence = 0;
  const batches: Buffer[] = [];
  for (let i = 0; i < 40; i++) {
    const bytes = dataBatch({ producerId: 11n, producerEpoch: 0, baseSequence: sequence, recordCount: 2 });
    batches.push(Buffer.from(bytes));
    await log.append(bytes);
    sequence += 2;
  }
  t.true(log.segments().length > 2, 'the log rolled (each roll takes a snapshot)');
  await log.close();
  t.true((await readdir(dir)).includes(producerSnapshotFileName(80n)), 'a snapshot at the log end offset');

  log = await PartitionLog.open({ dir, config: smallSegments, clock, producerIdExpirationMs });
  const retry = await log.append(batches[39]!);
  t.deepEqual([retry.baseOffset, retry.lastOffset, retry.duplicate], [78n, 79n, true]);
  t.is(await producerError(t, log.append(dataBatch({ producerId: 11n, producerEpoch: 0, baseSequence: 82, recordCount: 1 }))), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  t.is((await log.append(dataBatch({ producerId: 11n, producerEpoch: 0, baseSequence: 80, recordCount: 1 }))).baseOffset, 80n);
  t.is(log.logEndOffset, 81n);
  await log.close();

  // Idle past producer.id.expiration.ms: the snapshot's entry is dropped on load, any sequence goes.
  clock.advance(producerIdExpirationMs);
  log = await PartitionLog.open({ dir, config: smallSegments, clock, producerIdExpirationMs });
  t.teardown(() => log.close());
  t.is(log.producerState.entry(11n), undefined);
  t.is((await log.append(dataBatch({ producerId: 11n, producerEpoch: 0, baseSequence: 500, recordCount: 1 }))).baseOffset, 81n);
});

test('without the snapshot at the end (an unclean stop), the replay of the log tail restores the last five batches', async (t) => {
  const dir = await tempDir(t);
  let log = await PartitionLog.open({ dir, config: smallSegments });
  const batches: Buffer[] = [];
  for (let i = 0; i < 30; i++) {
    const bytes = dataBatch({ producerId: 12n, producerEpoch: 0, baseSequence: i, recordCount: 1 });
    batches.push(Buffer.from(bytes));
    await log.append(bytes);
  }
  await log.close();
  // As after a crash: no snapshot at the log end, and no recovery point (every segment is recovered).
  await rm(path.join(dir, producerSnapshotFileName(30n)));
  await rm(path.join(dir, RECOVERY_POINT_CHECKPOINT_FILE));
  log = await PartitionLog.open({ dir, config: smallSegments });
  t.teardown(() => log.close());
  for (let i = 25; i < 30; i++) {
    const retry = await log.append(batches[i]!);
    t.deepEqual([retry.baseOffset, retry.duplicate], [BigInt(i), true], `batch ${i}`);
  }
  // Older than the last five: a sequence error, as Kafka (never written again).
  t.is(await producerError(t, log.append(batches[24]!)), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  t.is(log.logEndOffset, 30n);
});

const writerScript = fileURLToPath(new URL('./helpers/producer-crash-writer.ts', import.meta.url));

const runAndKill = (dir: string, acknowledgements: number, extraDelayMs: number) =>
  runWriterAndKill(writerScript, dir, acknowledgements, extraDelayMs);

test('an idempotent writer SIGKILLed at random moments: retries of its last batches after reopen are never written twice', async (t) => {
  t.timeout(60_000);
  const dir = await tempDir(t);
  const config: LogConfig = { ...defaultLogConfig, flushMessages: 1, segmentBytes: 2048, indexIntervalBytes: 256 };
  const rounds: Array<[number, number]> = [
    [120, 0],
    [60, 2],
    [200, 1],
    [30, 5],
  ];
  let retriedTotal = 0;
  for (const [acknowledgements, delayMs] of rounds) {
    const acked = await runAndKill(dir, acknowledgements, delayMs);
    const log = await PartitionLog.open({ dir, config });
    try {
      const written = Number(log.logEndOffset / 3n);
      t.is(log.logEndOffset, BigInt(written) * 3n, 'whole batches only');
      for (const [number, offset] of acked) {
        t.true(number < written, `acknowledged batch ${number} survived`);
        t.is(offset, BigInt(number) * 3n);
      }
      // The client retries what it may not have seen acknowledged: the last batches it sent.
      // A snapshot keeps a producer's last batch only (Kafka's format), so a retry from before
      // the snapshot the state was rebuilt from is refused as out of order; never written again.
      for (let n = Math.max(0, written - 5); n < written; n++) {
        try {
          const retry = await log.append(producerCrashBatch(n));
          t.deepEqual([retry.baseOffset, retry.lastOffset, retry.duplicate], [BigInt(n) * 3n, BigInt(n) * 3n + 2n, true], `retry of batch ${n}`);
          retriedTotal++;
        } catch (error) {
          t.true(n < written - 1, 'the last batch written is always recognised');
          t.is((error as ProducerStateError).kafkaErrorName, 'OUT_OF_ORDER_SEQUENCE_NUMBER', `retry of batch ${n}`);
        }
      }
      t.is(log.logEndOffset, BigInt(written) * 3n, 'retries wrote nothing');
      // Every batch once, in sequence order: batch n at offset 3n with sequence 3n, all valid.
      const batches = await log.readBatches(0n, 1 << 30);
      t.is(batches.length, written);
      batches.forEach((bytes, n) => {
        const header = readBatchHeader(bytes);
        if (header.baseOffset !== BigInt(n) * 3n || header.baseSequence !== 3 * n || header.producerId !== CRASH_PRODUCER_ID || !verifyBatchCrc(bytes)) {
          t.fail(`batch ${n}: offset ${header.baseOffset}, sequence ${header.baseSequence}`);
        }
      });
    } finally {
      await log.close();
    }
  }
  t.true(retriedTotal >= rounds.length, `${retriedTotal} retries answered as duplicates`);
});

test('the LSO stays below an open transaction, and comes back up at its commit marker once the HW passes it', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, highWatermarkFollowsLogEnd: false });
  t.teardown(() => log.close());
  await log.append(plain('a'));
  await log.append(plain('b'));
  log.updateHighWatermark(log.logEndOffset);
  t.is(log.lastStableOffset, 2n);
  const txn = await log.append(dataBatch({ producerId: 5n, producerEpoch: 0, baseSequence: 0, recordCount: 3, transactional: true }));
  t.is(txn.baseOffset, 2n);
  await log.append(plain('c'));
  log.updateHighWatermark(log.logEndOffset);
  t.is(log.highWatermark, 6n);
  t.is(log.lastStableOffset, 2n, 'held at the first offset of the open transaction');

  // Clients may not write markers; the coordinator's path may.
  await t.throwsAsync(log.append(markerBatch({ producerId: 5n, producerEpoch: 0, type: 'commit', coordinatorEpoch: 1 })), { instanceOf: InvalidRecordError });
  await t.throwsAsync(log.appendControlBatch(markerBatch({ producerId: 5n, producerEpoch: 0, type: 'commit', coordinatorEpoch: 1 }), { coordinatorEpoch: 2 }), {
    instanceOf: InvalidRecordError,
  });
  await t.throwsAsync(log.appendControlBatch(plain('not a marker')), { instanceOf: InvalidRecordError });
  t.is(log.logEndOffset, 6n);

  const marker = await log.appendControlBatch(markerBatch({ producerId: 5n, producerEpoch: 0, type: 'commit', coordinatorEpoch: 1 }), { coordinatorEpoch: 1 });
  t.is(marker.baseOffset, 6n);
  t.is(log.lastStableOffset, 2n, 'the marker is not under the HW yet');
  log.updateHighWatermark(7n);
  t.is(log.lastStableOffset, 7n);
  t.false(log.producerState.hasOngoingTransaction(5n));
  t.deepEqual(log.collectAbortedTransactions(0n, 7n), [], 'a commit is not listed');

  // A marker from an older coordinator is fenced.
  await log.append(dataBatch({ producerId: 5n, producerEpoch: 0, baseSequence: 3, recordCount: 1, transactional: true }));
  const fenced = log.appendControlBatch(markerBatch({ producerId: 5n, producerEpoch: 0, type: 'abort', coordinatorEpoch: 0 }));
  t.is(await producerError(t, fenced), 'TRANSACTION_COORDINATOR_FENCED');
  // A non-transactional write while its transaction is open.
  t.is(await producerError(t, log.append(dataBatch({ producerId: 5n, producerEpoch: 0, baseSequence: 4, recordCount: 1 }))), 'INVALID_TXN_STATE');
  log.updateHighWatermark(log.logEndOffset);
  t.is(log.lastStableOffset, 7n);
});

test('aborted transactions are listed from the segments\u2019 .txnindex, after a reopen, after recovery, and truncation removes them', async (t) => {
  const dir = await tempDir(t);
  let log = await PartitionLog.open({ dir, config: smallSegments });
  const txn = (producerId: bigint, baseSequence: number): Buffer => dataBatch({ producerId, producerEpoch: 0, baseSequence, recordCount: 2, transactional: true });
  const end = (producerId: bigint, type: 'commit' | 'abort'): Buffer => markerBatch({ producerId, producerEpoch: 0, type, coordinatorEpoch: 0 });
  await log.append(txn(1n, 0)); // 0-1
  await log.append(txn(2n, 0)); // 2-3
  await log.appendControlBatch(end(1n, 'abort')); // 4
  for (let i = 0; i < 20; i++) await log.append(plain(`filler-${i}-${'y'.repeat(40)}`)); // 5-24
  await log.appendControlBatch(end(2n, 'commit')); // 25
  await log.append(txn(3n, 0)); // 26-27
  await log.appendControlBatch(end(3n, 'abort')); // 28
  t.true(log.segments().length > 2);
  const expected = [
    { producerId: 1n, firstOffset: 0n },
    { producerId: 3n, firstOffset: 26n },
  ];
  t.deepEqual(log.collectAbortedTransactions(0n, log.logEndOffset), expected);
  t.deepEqual(log.collectAbortedTransactions(5n, log.logEndOffset), [{ producerId: 3n, firstOffset: 26n }], 'from a fetch offset past the first');
  t.deepEqual(log.collectAbortedTransactions(0n, 2n), [{ producerId: 1n, firstOffset: 0n }]);
  t.is(log.segments()[0]!.txnIndex.entry(0).lastStableOffset, 2n, 'the LSO after the abort: pid 2 was still open');
  t.is(log.lastStableOffset, 29n);
  await log.close();
  t.true((await readdir(dir)).some((name) => name.endsWith('.txnindex')));

  log = await PartitionLog.open({ dir, config: smallSegments });
  t.deepEqual(log.collectAbortedTransactions(0n, log.logEndOffset), expected, 'after a clean reopen');
  await log.close();

  // An unclean stop: no recovery point and no snapshot, so every segment is recovered, its
  // .txnindex emptied and refilled by the replay.
  for (const name of await readdir(dir)) if (name.endsWith('.snapshot')) await rm(path.join(dir, name));
  await rm(path.join(dir, RECOVERY_POINT_CHECKPOINT_FILE));
  log = await PartitionLog.open({ dir, config: smallSegments });
  t.deepEqual(log.collectAbortedTransactions(0n, log.logEndOffset), expected, 'after recovery');
  t.is(log.lastStableOffset, 29n);

  // Truncation below the second abort marker: its transaction is open again and no longer listed.
  await log.truncateTo(28n);
  t.deepEqual(log.collectAbortedTransactions(0n, log.logEndOffset), [{ producerId: 1n, firstOffset: 0n }]);
  t.true(log.producerState.hasOngoingTransaction(3n));
  t.is(log.lastStableOffset, 26n);
  // And a retry of a truncated batch is written again (its sequence is gone from the state).
  await log.truncateTo(26n);
  t.false(log.producerState.hasOngoingTransaction(3n));
  t.is(log.lastStableOffset, 26n);
  const again = await log.append(txn(3n, 0));
  t.deepEqual([again.baseOffset, again.duplicate], [26n, undefined]);
  await log.close();
});

test('DeleteRecords drops the snapshots of deleted segments and forgets completed transactions below the log start', async (t) => {
  const dir = await tempDir(t);
  const log = await PartitionLog.open({ dir, config: smallSegments });
  t.teardown(() => log.close());
  for (let i = 0; i < 30; i++) await log.append(dataBatch({ producerId: 13n, producerEpoch: 0, baseSequence: i, recordCount: 1 }));
  const snapshotsBefore = [...log.producerState.snapshots()];
  t.true(snapshotsBefore.length >= 2);
  const secondBase = log.segments()[2]!.baseOffset;
  await log.deleteRecordsBefore(secondBase);
  t.is(log.logStartOffset, secondBase);
  t.true(log.producerState.snapshots().every((offset) => offset >= secondBase));
  const files = await readdir(dir);
  for (const offset of snapshotsBefore) t.is(files.includes(producerSnapshotFileName(offset)), offset >= secondBase, `snapshot ${offset}`);
  // The producer itself is still known: its next batch continues the sequence.
  const next = await log.append(dataBatch({ producerId: 13n, producerEpoch: 0, baseSequence: 30, recordCount: 1 }));
  t.is(next.baseOffset, 30n);
});
