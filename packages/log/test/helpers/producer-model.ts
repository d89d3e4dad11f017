import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ManualClock } from '../../src/clock.js';
import type { AppendCheck, CompletedTransaction, EndTxnMarker, ProducerStateManager } from '../../src/producer-state.js';
import { appended, dataBatch, markerBatch, MemoryLog } from './producer-batches.js';

/*
 * A plain model of producer state for property tests: it keeps every batch ever appended (the
 * window of 5 is derived), computes sequences with modular arithmetic, and the LSO by scanning.
 */

const INT32_MAX = 2_147_483_647;
interface ModelBatch {
  firstSeq: number;
  lastSeq: number;
  firstOffset: bigint;
  lastOffset: bigint;
  maxTimestamp: bigint;
}

interface ModelProducer {
  epoch: number;
  /** Every batch of the current epoch (the model never forgets; the window is derived). */
  history: ModelBatch[];
  coordinatorEpoch: number;
  lastTimestamp: bigint;
  txnFirst: bigint | undefined;
}

interface Sent {
  producer: number;
  epoch: number;
  baseSequence: number;
  records: number;
  transactional: boolean;
}

const SEQUENCE_SPACE = 2 ** 31;
export const EXPIRATION_MS = 10_000;

export type Op =
  | { kind: 'data'; producer: number; epochChoice: number; seqChoice: number; back: number; records: number; transactional: boolean; randomSeq: number }
  | { kind: 'marker'; producer: number; commit: boolean; epochChoice: number; coordinatorDelta: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'hw'; fraction: number };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('data' as const),
      producer: fc.integer({ min: 0, max: 2 }),
      epochChoice: fc.integer({ min: 0, max: 24 }),
      seqChoice: fc.integer({ min: 0, max: 9 }),
      back: fc.integer({ min: 0, max: 7 }),
      records: fc.integer({ min: 1, max: 4 }),
      transactional: fc.boolean(),
      randomSeq: fc.oneof(fc.constantFrom(0, 1, INT32_MAX - 2, INT32_MAX - 1, INT32_MAX), fc.integer({ min: 0, max: INT32_MAX })),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('marker' as const),
      producer: fc.integer({ min: 0, max: 2 }),
      commit: fc.boolean(),
      epochChoice: fc.integer({ min: 0, max: 9 }),
      coordinatorDelta: fc.integer({ min: -1, max: 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 2 * EXPIRATION_MS }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hw' as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }) },
);

export class Model {
  readonly producers = new Map<bigint, ModelProducer>();
  /** Completed transactions: first offset and marker offset. */
  readonly completed: Array<{ firstOffset: bigint; markerOffset: bigint }> = [];
  highWatermark = 0n;

  checkData(producerId: bigint, epoch: number, baseSequence: number, records: number, transactional: boolean): AppendCheck {
    const m = this.producers.get(producerId);
    if (m === undefined) return 'ok';
    const lastSeq = (baseSequence + records - 1) % SEQUENCE_SPACE;
    if (epoch === m.epoch) {
      const dup = m.history.slice(-5).find((b) => b.firstSeq === baseSequence && b.lastSeq === lastSeq);
      if (dup !== undefined) return { duplicateOf: { firstOffset: dup.firstOffset, lastOffset: dup.lastOffset, maxTimestamp: dup.maxTimestamp } };
    }
    if (epoch < m.epoch) return { error: 'INVALID_PRODUCER_EPOCH', message: '' };
    if (epoch !== m.epoch) {
      if (baseSequence !== 0) return { error: 'OUT_OF_ORDER_SEQUENCE_NUMBER', message: '' };
    } else {
      const last = m.history.at(-1);
      const expected = last === undefined ? 0 : (last.lastSeq + 1) % SEQUENCE_SPACE;
      if (baseSequence !== expected) return { error: 'OUT_OF_ORDER_SEQUENCE_NUMBER', message: '' };
    }
    if (m.txnFirst !== undefined && !transactional) return { error: 'INVALID_TXN_STATE', message: '' };
    return 'ok';
  }

  applyData(producerId: bigint, epoch: number, baseSequence: number, records: number, transactional: boolean, baseOffset: bigint, timestamp: bigint): void {
    let m = this.producers.get(producerId);
    if (m === undefined) {
      m = { epoch, history: [], coordinatorEpoch: -1, lastTimestamp: timestamp, txnFirst: undefined };
      this.producers.set(producerId, m);
    }
    if (m.epoch !== epoch) {
      m.epoch = epoch;
      m.history = [];
    }
    m.history.push({ firstSeq: baseSequence, lastSeq: (baseSequence + records - 1) % SEQUENCE_SPACE, firstOffset: baseOffset, lastOffset: baseOffset + BigInt(records - 1), maxTimestamp: timestamp });
    m.lastTimestamp = timestamp;
    if (transactional && m.txnFirst === undefined) m.txnFirst = baseOffset;
  }

  checkMarker(producerId: bigint, epoch: number, coordinatorEpoch: number): AppendCheck {
    const m = this.producers.get(producerId);
    if (m === undefined) return 'ok';
    if (epoch < m.epoch) return { error: 'INVALID_PRODUCER_EPOCH', message: '' };
    if (m.coordinatorEpoch > coordinatorEpoch) return { error: 'TRANSACTION_COORDINATOR_FENCED', message: '' };
    return 'ok';
  }

  applyMarker(producerId: bigint, epoch: number, coordinatorEpoch: number, aborted: boolean, offset: bigint, timestamp: bigint): CompletedTransaction | undefined {
    let m = this.producers.get(producerId);
    if (m === undefined) {
      m = { epoch, history: [], coordinatorEpoch, lastTimestamp: timestamp, txnFirst: undefined };
      this.producers.set(producerId, m);
    }
    let completed: CompletedTransaction | undefined;
    if (m.txnFirst !== undefined) {
      const others = [...this.producers].filter(([id, p]) => id !== producerId && p.txnFirst !== undefined).map(([, p]) => p.txnFirst!);
      const lso = others.length === 0 ? offset + 1n : others.reduce((a, b) => (a < b ? a : b));
      completed = { producerId, firstOffset: m.txnFirst, lastOffset: offset, aborted, lastStableOffset: lso };
      this.completed.push({ firstOffset: m.txnFirst, markerOffset: offset });
    }
    if (m.epoch !== epoch) {
      m.epoch = epoch;
      m.history = [];
    }
    m.coordinatorEpoch = coordinatorEpoch;
    m.txnFirst = undefined;
    m.lastTimestamp = timestamp;
    return completed;
  }

  expire(nowMs: number): void {
    for (const [id, m] of this.producers) if (m.txnFirst === undefined && BigInt(nowMs) - m.lastTimestamp >= BigInt(EXPIRATION_MS)) this.producers.delete(id);
  }

  firstUnstableOffset(): bigint | undefined {
    const candidates = [
      ...[...this.producers.values()].flatMap((m) => (m.txnFirst === undefined ? [] : [m.txnFirst])),
      ...this.completed.filter((c) => c.markerOffset >= this.highWatermark).map((c) => c.firstOffset),
    ];
    return candidates.length === 0 ? undefined : candidates.reduce((a, b) => (a < b ? a : b));
  }
}

function errorName(check: AppendCheck): string {
  return typeof check === 'object' && 'error' in check ? check.error : String(check);
}

function withoutMessage(check: AppendCheck): AppendCheck {
  return typeof check === 'object' && 'error' in check ? { error: check.error, message: '' } : check;
}

/**
 * Runs `ops` against the manager and the model, asserting (throwing, so fast-check shrinks and
 * prints its seed) agreement after every step. Returns the log for replay tests.
 */
export async function runWorkload(
  psm: ProducerStateManager,
  clock: ManualClock,
  ops: readonly Op[],
  onCompleted?: (txn: CompletedTransaction) => Promise<void>,
): Promise<{ log: MemoryLog; model: Model; outcomes: Map<string, number> }> {
  const outcomes = new Map<string, number>();
  const count = (outcome: string): void => {
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  };
  const model = new Model();
  const log = new MemoryLog();
  const sent: Sent[] = [];
  for (const [step, op] of ops.entries()) {
    const where = `step ${step}: ${JSON.stringify(op)}`;
    if (op.kind === 'advance') {
      clock.advance(op.ms);
      if (psm.removeExpiredProducers() > 0) count('expired');
      model.expire(clock.nowMs());
    } else if (op.kind === 'hw') {
      const hw = model.highWatermark + BigInt(Math.floor(Number(log.nextOffset - model.highWatermark) * op.fraction));
      model.highWatermark = hw;
      psm.onHighWatermarkUpdated(hw);
    } else if (op.kind === 'data') {
      const producerId = BigInt(op.producer);
      const m = model.producers.get(producerId);
      const epochNow = m?.epoch ?? 0;
      let epoch = op.epochChoice <= 21 ? epochNow : op.epochChoice <= 23 ? epochNow + 1 : Math.max(0, epochNow - 1);
      const last = m?.history.at(-1);
      let baseSequence = op.seqChoice <= 4 ? (last === undefined ? (m === undefined ? op.randomSeq : 0) : (last.lastSeq + 1) % SEQUENCE_SPACE) : op.seqChoice === 7 ? ((last?.lastSeq ?? 0) + 2) % SEQUENCE_SPACE : op.seqChoice === 8 ? 0 : op.randomSeq;
      if (epoch !== epochNow && op.seqChoice <= 4) baseSequence = 0;
      let records = op.records;
      let transactional = op.transactional;
      const retried = op.seqChoice === 5 || op.seqChoice === 6 ? sent.filter((s) => s.producer === op.producer).at(-1 - op.back) : undefined;
      if (retried !== undefined) {
        ({ epoch, baseSequence, records, transactional } = retried);
      }
      const timestamp = BigInt(clock.nowMs());
      const bytes = dataBatch({ producerId, producerEpoch: epoch, baseSequence, recordCount: records, transactional, timestampMs: timestamp });
      const info = { producerId, producerEpoch: epoch, baseSequence, lastOffsetDelta: records - 1, isTransactional: transactional, isControl: false };
      const expected = model.checkData(producerId, epoch, baseSequence, records, transactional);
      const actual = psm.checkAppend(info, 'client');
      assert.deepEqual(withoutMessage(actual), expected, where);
      count(actual === 'ok' ? 'ok' : 'duplicateOf' in actual ? 'duplicate' : actual.error);
      if (actual === 'ok' && baseSequence + records - 1 > INT32_MAX) count('wrapped');
      if (actual === 'ok') {
        const entry = log.append(bytes);
        assert.equal(psm.recordAppend(appended(entry)), undefined, where);
        model.applyData(producerId, epoch, baseSequence, records, transactional, entry.header.baseOffset, timestamp);
        sent.push({ producer: op.producer, epoch, baseSequence, records, transactional });
      }
    } else {
      const producerId = BigInt(op.producer);
      const m = model.producers.get(producerId);
      const epochNow = m?.epoch ?? 0;
      const epoch = op.epochChoice <= 7 ? epochNow : op.epochChoice === 8 ? epochNow + 1 : Math.max(0, epochNow - 1);
      const coordinatorEpoch = Math.max(0, (m?.coordinatorEpoch ?? 0) + op.coordinatorDelta);
      const marker: EndTxnMarker = { type: op.commit ? 'commit' : 'abort', coordinatorEpoch };
      const timestamp = BigInt(clock.nowMs());
      const bytes = markerBatch({ producerId, producerEpoch: epoch, type: marker.type, coordinatorEpoch, timestampMs: timestamp });
      const info = { producerId, producerEpoch: epoch, baseSequence: -1, lastOffsetDelta: 0, isTransactional: true, isControl: true };
      const expected = model.checkMarker(producerId, epoch, coordinatorEpoch);
      const actual = psm.checkAppend(info, 'coordinator', marker);
      assert.deepEqual(withoutMessage(actual), expected, where);
      if (actual !== 'ok') count(errorName(actual));
      if (actual === 'ok') {
        const entry = log.append(bytes);
        const completed = psm.recordAppend(appended(entry));
        assert.deepEqual(completed, model.applyMarker(producerId, epoch, coordinatorEpoch, !op.commit, entry.header.baseOffset, timestamp), where);
        if (completed !== undefined) count(completed.aborted ? 'abort' : 'commit');
        if (completed !== undefined && onCompleted !== undefined) await onCompleted(completed);
      }
    }
    assert.equal(psm.firstUnstableOffset(), model.firstUnstableOffset(), where);
    assert.equal(psm.mapEndOffset, log.nextOffset, where);
    assert.equal(psm.producerCount, model.producers.size, where);
    for (const [producerId, m] of model.producers) {
      const entry = psm.entry(producerId);
      assert.deepEqual(
        entry && {
          epoch: entry.producerEpoch,
          batches: entry.batches.map((b) => ({ firstSeq: b.firstSequence, lastSeq: b.lastSequence, firstOffset: b.firstOffset, lastOffset: b.lastOffset, maxTimestamp: b.maxTimestamp })),
          coordinatorEpoch: entry.coordinatorEpoch,
          lastTimestamp: entry.lastTimestamp,
          txnFirst: entry.currentTxnFirstOffset,
        },
        { epoch: m.epoch, batches: m.history.slice(-5), coordinatorEpoch: m.coordinatorEpoch, lastTimestamp: m.lastTimestamp, txnFirst: m.txnFirst },
        where,
      );
    }
  }
  return { log, model, outcomes };
}

export const workloadArbitrary = (options: { expiry: boolean; maxLength?: number }) =>
  fc.array(
    options.expiry ? opArbitrary : opArbitrary.filter((op) => op.kind !== 'advance'),
    { minLength: 10, maxLength: options.maxLength ?? 150, size: 'max' },
  );

