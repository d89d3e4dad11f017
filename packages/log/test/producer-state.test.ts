import test from 'ava';
import fc from 'fast-check';
import { encodeRecordBatch, errorByName, readBatchHeader } from '@defter/protocol';
import { ManualClock } from '../src/clock.js';
import {
  decrementSequence,
  incrementSequence,
  inSequence,
  ProducerStateError,
  ProducerStateManager,
  readEndTxnMarker,
  type AppendCheck,
  type AppendOrigin,
  type CompletedTransaction,
} from '../src/producer-state.js';
import { appended, dataBatch, markerBatch, MemoryLog } from './helpers/producer-batches.js';
import { EXPIRATION_MS, runWorkload, workloadArbitrary } from './helpers/producer-model.js';
import { tempDir } from './helpers/temp-dir.js';

const INT32_MAX = 2_147_483_647;
const PID = 7n;

/** A manager, an in-memory log and a clock, with shorthands that check then append like PartitionLog will. */
async function setup(t: Parameters<typeof tempDir>[0], producerIdExpirationMs?: number) {
  const clock = new ManualClock(1_000_000);
  const psm = await ProducerStateManager.open({ dir: await tempDir(t), clock, ...(producerIdExpirationMs === undefined ? {} : { producerIdExpirationMs }) });
  const log = new MemoryLog();
  const send = (bytes: Buffer, origin: AppendOrigin = 'client'): { check: AppendCheck; offset?: bigint; completed?: CompletedTransaction } => {
    const header = readBatchHeader(bytes);
    const isControl = (header.attributes & 0x20) !== 0;
    const marker = isControl ? readEndTxnMarker(bytes) : undefined;
    const check = psm.checkAppend(
      {
        producerId: header.producerId,
        producerEpoch: header.producerEpoch,
        baseSequence: header.baseSequence,
        lastOffsetDelta: header.lastOffsetDelta,
        isTransactional: (header.attributes & 0x10) !== 0,
        isControl,
      },
      origin,
      marker,
    );
    if (check !== 'ok') return { check };
    const entry = log.append(bytes);
    const completed = psm.recordAppend(appended(entry));
    return { check, offset: entry.header.baseOffset, ...(completed === undefined ? {} : { completed }) };
  };
  const data = (producerEpoch: number, baseSequence: number, recordCount = 1, transactional = false, producerId = PID) =>
    send(dataBatch({ producerId, producerEpoch, baseSequence, recordCount, transactional, timestampMs: BigInt(clock.nowMs()) }));
  const marker = (type: 'commit' | 'abort', producerEpoch: number, coordinatorEpoch = 0, producerId = PID) =>
    send(markerBatch({ producerId, producerEpoch, type, coordinatorEpoch, timestampMs: BigInt(clock.nowMs()) }), 'coordinator');
  return { psm, log, clock, send, data, marker };
}

function errorOf(check: AppendCheck): string | undefined {
  return typeof check === 'object' && 'error' in check ? check.error : undefined;
}

test('sequence arithmetic wraps at Int32.MAX', (t) => {
  t.is(incrementSequence(5, 3), 8);
  t.is(incrementSequence(INT32_MAX, 1), 0);
  t.is(incrementSequence(INT32_MAX - 1, 3), 1);
  t.is(decrementSequence(1, 3), INT32_MAX - 1);
  t.is(decrementSequence(8, 3), 5);
  t.true(inSequence(INT32_MAX, 0));
  t.true(inSequence(-1, 0));
  t.false(inSequence(INT32_MAX, 1));
  t.false(inSequence(3, 5));
});

test('a producer id below zero bypasses every check and keeps no state', async (t) => {
  const { psm, send } = await setup(t);
  for (let i = 0; i < 3; i++) {
    const result = send(dataBatch({ producerId: -1n, producerEpoch: -1, baseSequence: -1, recordCount: 2 }));
    t.is(result.check, 'ok');
  }
  t.is(psm.producerCount, 0);
  t.is(psm.mapEndOffset, 6n);
  t.is(psm.firstUnstableOffset(), undefined);
});

test('in-order batches are accepted, a gap is OUT_OF_ORDER_SEQUENCE_NUMBER', async (t) => {
  const { psm, data } = await setup(t);
  t.is(data(0, 0, 3).check, 'ok');
  t.is(data(0, 3, 2).check, 'ok');
  t.is(errorOf(data(0, 6, 1).check), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  t.is(errorOf(data(0, 4, 1).check), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  const entry = psm.entry(PID)!;
  t.is(entry.producerEpoch, 0);
  t.deepEqual(
    entry.batches.map((b) => [b.firstSequence, b.lastSequence, b.firstOffset, b.lastOffset]),
    [
      [0, 2, 0n, 2n],
      [3, 4, 3n, 4n],
    ],
  );
});

test('a retry of one of the last 5 batches is a duplicate with its original offsets; older retries are out of order', async (t) => {
  const { psm, data } = await setup(t);
  const offsets: bigint[] = [];
  for (let i = 0; i < 7; i++) offsets.push(data(0, i * 2, 2).offset!);
  for (let i = 2; i < 7; i++) {
    t.deepEqual(data(0, i * 2, 2).check, { duplicateOf: { firstOffset: offsets[i]!, lastOffset: offsets[i]! + 1n, maxTimestamp: 1_000_000n } });
  }
  t.is(errorOf(data(0, 2, 2).check), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  t.is(errorOf(data(0, 0, 2).check), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  // Same first sequence, different length: not a duplicate.
  t.is(errorOf(data(0, 12, 1).check), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  t.is(psm.mapEndOffset, 14n);
});

test('epochs: an old one is INVALID_PRODUCER_EPOCH, a new one must restart at sequence 0', async (t) => {
  const { psm, data } = await setup(t);
  t.is(data(3, 0, 1).check, 'ok');
  t.is(data(3, 1, 1).check, 'ok');
  t.is(errorOf(data(2, 2, 1).check), 'INVALID_PRODUCER_EPOCH');
  t.is(errorOf(data(4, 2, 1).check), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  t.is(data(4, 0, 1).check, 'ok');
  t.is(psm.entry(PID)!.batches.length, 1);
  // The old epoch's batches are gone: its retry is fenced, not a duplicate.
  t.is(errorOf(data(3, 1, 1).check), 'INVALID_PRODUCER_EPOCH');
  const error = new ProducerStateError({ error: 'INVALID_PRODUCER_EPOCH', message: 'fenced' });
  t.is(error.kafkaErrorName, 'INVALID_PRODUCER_EPOCH');
  t.is(errorByName(error.kafkaErrorName)?.code, 47);
  t.is(errorByName('OUT_OF_ORDER_SEQUENCE_NUMBER')?.code, 45);
});

test('a producer without state (new or expired) may start at any sequence, then must continue', async (t) => {
  const { psm, clock, data } = await setup(t, 60_000);
  t.is(data(0, 42, 2).check, 'ok');
  t.is(errorOf(data(0, 50, 1).check), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  t.is(data(0, 44, 1).check, 'ok');
  clock.advance(59_999);
  t.is(psm.removeExpiredProducers(), 0);
  clock.advance(1);
  t.is(psm.removeExpiredProducers(), 1);
  t.is(psm.entry(PID), undefined);
  t.is(data(0, 1000, 1).check, 'ok');
});

test('sequences wrap from Int32.MAX to 0, also inside one batch', async (t) => {
  const { psm, data } = await setup(t);
  t.is(data(0, INT32_MAX - 1, 2).check, 'ok');
  t.is(psm.entry(PID)!.batches[0]!.lastSequence, INT32_MAX);
  t.is(errorOf(data(0, 5, 1).check), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  t.is(data(0, 0, 1).check, 'ok');
  t.is(data(0, 1, 1).check, 'ok');
  const { psm: other, data: otherData } = await setup(t);
  t.is(otherData(0, INT32_MAX - 1, 4).check, 'ok');
  t.is(other.entry(PID)!.batches[0]!.lastSequence, 1);
  t.deepEqual(otherData(0, INT32_MAX - 1, 4).check, { duplicateOf: { firstOffset: 0n, lastOffset: 3n, maxTimestamp: 1_000_000n } });
  t.is(otherData(0, 2, 1).check, 'ok');
});

test('transactions: open ones hold the first unstable offset; markers complete them with the LSO for the index', async (t) => {
  const { psm, data, marker } = await setup(t);
  const A = 1n;
  const B = 2n;
  t.is(data(0, 0, 2, true, A).offset, 0n);
  t.is(data(0, 0, 1, false, 99n).offset, 2n);
  t.is(data(0, 0, 3, true, B).offset, 3n);
  t.is(data(0, 2, 1, true, A).offset, 6n);
  t.is(psm.firstUndecidedOffset(), 0n);
  t.is(psm.firstUnstableOffset(), 0n);
  t.is(psm.lastStableOffset(7n), 0n);
  t.true(psm.hasOngoingTransaction(A));
  t.is(errorOf(data(0, 3, 1, false, A).check), 'INVALID_TXN_STATE');

  const commitA = marker('commit', 0, 5, A);
  t.deepEqual(commitA.completed, { producerId: A, firstOffset: 0n, lastOffset: 7n, aborted: false, lastStableOffset: 3n });
  t.false(psm.hasOngoingTransaction(A));
  // The marker is not yet below the high watermark: the transaction still holds the LSO.
  t.is(psm.firstUnstableOffset(), 0n);
  psm.onHighWatermarkUpdated(7n);
  t.is(psm.firstUnstableOffset(), 0n);
  psm.onHighWatermarkUpdated(8n);
  t.is(psm.firstUnstableOffset(), 3n);
  t.is(psm.firstUndecidedOffset(), 3n);

  const abortB = marker('abort', 0, 5, B);
  t.deepEqual(abortB.completed, { producerId: B, firstOffset: 3n, lastOffset: 8n, aborted: true, lastStableOffset: 9n });
  psm.onHighWatermarkUpdated(9n);
  t.is(psm.firstUnstableOffset(), undefined);
  t.is(psm.lastStableOffset(9n), 9n);
  t.is(psm.lastStableOffset(9n, 20n), 20n);

  // A marker for a producer with no open transaction completes nothing.
  t.is(marker('commit', 0, 5, A).completed, undefined);
  t.is(data(0, 3, 1, false, A).check, 'ok');
});

test('markers: an old producer epoch is INVALID_PRODUCER_EPOCH, an old coordinator epoch TRANSACTION_COORDINATOR_FENCED', async (t) => {
  const { psm, data, marker } = await setup(t);
  t.is(data(2, 0, 1, true).check, 'ok');
  t.is(errorOf(marker('abort', 1, 0).check), 'INVALID_PRODUCER_EPOCH');
  t.is(marker('abort', 2, 4).check, 'ok');
  t.is(psm.entry(PID)!.coordinatorEpoch, 4);
  t.is(errorOf(marker('commit', 2, 3).check), 'TRANSACTION_COORDINATOR_FENCED');
  // A marker with a bumped epoch (KIP-890 part 2) clears the batches: the next one starts at 0.
  t.is(data(2, 1, 1, true).check, 'ok');
  t.is(marker('commit', 3, 4).check, 'ok');
  t.is(psm.entry(PID)!.producerEpoch, 3);
  t.is(psm.entry(PID)!.batches.length, 0);
  t.is(errorOf(data(3, 2, 1, true).check), 'OUT_OF_ORDER_SEQUENCE_NUMBER');
  t.is(data(3, 0, 1, true).check, 'ok');
});

test('origins: coordinator appends check epochs only, replication checks nothing', async (t) => {
  const { psm, send } = await setup(t);
  t.is(send(dataBatch({ producerId: PID, producerEpoch: 1, baseSequence: 0, recordCount: 1 })).check, 'ok');
  t.is(send(dataBatch({ producerId: PID, producerEpoch: 1, baseSequence: 40, recordCount: 1 }), 'coordinator').check, 'ok');
  t.is(errorOf(send(dataBatch({ producerId: PID, producerEpoch: 0, baseSequence: 41, recordCount: 1 }), 'coordinator').check), 'INVALID_PRODUCER_EPOCH');
  t.is(send(dataBatch({ producerId: PID, producerEpoch: 0, baseSequence: 7, recordCount: 1 }), 'replication').check, 'ok');
  // Replication follows what the leader wrote, even an epoch going back.
  t.is(psm.entry(PID)!.producerEpoch, 0);
  // A coordinator append is never answered as a duplicate (it has no sequences to compare).
  t.is(send(dataBatch({ producerId: PID, producerEpoch: 0, baseSequence: 7, recordCount: 1 }), 'coordinator').check, 'ok');
});

test('expiry keeps producers with an open transaction', async (t) => {
  const { psm, clock, data } = await setup(t, 1000);
  data(0, 0, 1, true, 1n);
  data(0, 0, 1, false, 2n);
  clock.advance(5000);
  t.is(psm.removeExpiredProducers(), 1);
  t.deepEqual([...psm.activeProducers()].map((e) => e.producerId), [1n]);
  t.is(psm.firstUnstableOffset(), 0n);
});

test('readEndTxnMarker reads commit and abort markers, null for an empty control batch', (t) => {
  t.deepEqual(readEndTxnMarker(markerBatch({ producerId: 1n, producerEpoch: 0, type: 'commit', coordinatorEpoch: 9 })), { type: 'commit', coordinatorEpoch: 9 });
  t.deepEqual(readEndTxnMarker(markerBatch({ producerId: 1n, producerEpoch: 0, type: 'abort', coordinatorEpoch: 0 })), { type: 'abort', coordinatorEpoch: 0 });
  t.is(readEndTxnMarker(encodeRecordBatch({ producerId: 1n, producerEpoch: 0, control: true, transactional: true, records: [] })), null);
  const corrupt = markerBatch({ producerId: 1n, producerEpoch: 0, type: 'abort', coordinatorEpoch: 0 });
  corrupt[corrupt.length - 1]! ^= 0xff;
  const error = t.throws(() => readEndTxnMarker(corrupt));
  t.is(error?.name, 'CorruptRecordError');
});

test('recordAppend of a control batch without its marker is a programmer error', async (t) => {
  const { psm } = await setup(t);
  t.throws(() => psm.recordAppend({ producerId: 1n, producerEpoch: 0, baseSequence: -1, lastOffsetDelta: 0, isTransactional: true, isControl: true, baseOffset: 0n, maxTimestamp: 0n }), {
    instanceOf: RangeError,
  });
});

test('random interleavings agree with the model (producers, epochs, retries, gaps, markers, expiry, HW)', async (t) => {
  const dir = await tempDir(t);
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(workloadArbitrary({ expiry: true }), async (ops) => {
      const clock = new ManualClock(1_000_000);
      const psm = await ProducerStateManager.open({ dir, clock, producerIdExpirationMs: EXPIRATION_MS });
      const { outcomes } = await runWorkload(psm, clock, ops);
      for (const [outcome, count] of outcomes) seen.set(outcome, (seen.get(outcome) ?? 0) + count);
    }),
    { numRuns: 300 },
  );
  // The workload reaches every outcome, so agreement means something.
  for (const outcome of ['ok', 'duplicate', 'OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'INVALID_TXN_STATE', 'TRANSACTION_COORDINATOR_FENCED', 'commit', 'abort', 'expired', 'wrapped']) {
    t.true((seen.get(outcome) ?? 0) > 0, `no ${outcome} in 300 runs`);
  }
});
