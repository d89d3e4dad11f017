import test from 'ava';
import fc from 'fast-check';
import { ErrorCode } from '@defter/protocol';
import { toLogValue, TransactionMetadata } from '../src/txn/transaction-metadata.js';
import type { ProducerIdAndEpoch, TxnTransition } from '../src/txn/transaction-metadata.js';
import { decodeTransactionLogValue, encodeTransactionLogValue } from '../src/txn/transaction-state-records.js';
import { isValidTransition } from '../src/txn/transaction-state.js';
import type { TransactionVersion } from '../src/txn/transaction-state.js';
import { CountingIds } from './txn-support.js';

/*
 * Random sequences of client calls (from current and stale producers), coordinator timeouts and
 * successful or failed writes of __transaction_state, driven the way the coordinator will drive
 * the state machine. After every step the invariants below must hold.
 */

const TIMEOUT_MS = 1_000;

type Op =
  | { readonly type: 'init'; readonly expectedPick: number | null }
  | { readonly type: 'add'; readonly pick: number; readonly stale: number; readonly partition: number; readonly tv: TransactionVersion }
  | { readonly type: 'end'; readonly pick: number; readonly stale: number; readonly commit: boolean; readonly tv: TransactionVersion }
  | { readonly type: 'tick'; readonly ms: number }
  | { readonly type: 'timeout' }
  | { readonly type: 'write'; readonly ok: boolean };

const tv = fc.constantFrom<TransactionVersion>(0, 2);
/** Mostly the newest producer (0), sometimes an older one. */
const pick = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(20) });
/** Mostly its own epoch, sometimes one or two below (a delayed request). */
const stale = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ type: fc.constant('init' as const), expectedPick: fc.option(pick, { nil: null }) }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('add' as const), pick, stale, partition: fc.nat(3), tv }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('end' as const), pick, stale, commit: fc.boolean(), tv }) },
  // Mostly short pauses; sometimes one past the transaction timeout.
  { weight: 2, arbitrary: fc.record({ type: fc.constant('tick' as const), ms: fc.oneof({ weight: 4, arbitrary: fc.nat(TIMEOUT_MS / 10) }, { weight: 1, arbitrary: fc.nat(2 * TIMEOUT_MS) }) }) },
  { weight: 1, arbitrary: fc.constant({ type: 'timeout' as const }) },
  // Writes are frequent: most calls wait for one; a few fail.
  { weight: 5, arbitrary: fc.record({ type: fc.constant('write' as const), ok: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }) },
);
/** Every run starts with an initialised producer. */
const opsArb = fc.array(opArb, { maxLength: 150, size: 'max' }).map((ops): Op[] => [{ type: 'init', expectedPick: null }, { type: 'write', ok: true }, ...ops]);

interface InFlight {
  readonly transition: TxnTransition;
  readonly after: 'init' | 'add' | 'end' | 'fence' | 'complete';
}

/** Where a run starts: a new transactional id, or one loaded a few epochs before exhaustion (so that producer ids rotate). */
type Start = 'new' | 'near-last-epoch';

function run(
  ops: readonly Op[],
  serverTransactionVersion: TransactionVersion,
  start: Start = 'new',
  wrap: (metadata: TransactionMetadata) => TransactionMetadata = (m) => m,
): void {
  const ids = new CountingIds();
  let nowMs = 0;
  const initial =
    start === 'new'
      ? TransactionMetadata.create('txn', ids.allocate(), TIMEOUT_MS, nowMs)
      : TransactionMetadata.fromLogValue('txn', {
          producerId: ids.allocate(),
          previousProducerId: -1n,
          nextProducerId: -1n,
          producerEpoch: 0x7fff - 8,
          transactionTimeoutMs: TIMEOUT_MS,
          state: 'Empty',
          partitions: [],
          lastUpdateTimestampMs: nowMs,
          startTimestampMs: -1,
          clientTransactionVersion: 0,
        });
  const metadata = wrap(initial);
  const context = () => ({ nowMs, allocateProducerId: ids.allocate });
  /** Every (producer id, epoch) a client was given, in order. */
  const issued: ProducerIdAndEpoch[] = [];
  /** The newest epoch given for each producer id. */
  const newestIssued = new Map<bigint, number>();
  /** The producer that added the running transaction's partitions. */
  let transactionOwner: ProducerIdAndEpoch | undefined;
  let inFlight: InFlight | undefined;
  let last = metadata.snapshot;
  let maxProducerId = metadata.producerId;

  const issue = (producer: ProducerIdAndEpoch) => {
    issued.push(producer);
    newestIssued.set(producer.producerId, Math.max(newestIssued.get(producer.producerId) ?? -1, producer.producerEpoch));
  };
  const pickProducer = (pick: number, stale: number): ProducerIdAndEpoch => {
    const base = issued.length === 0 ? { producerId: metadata.producerId, producerEpoch: 0 } : issued[issued.length - 1 - (pick % issued.length)]!;
    return { producerId: base.producerId, producerEpoch: base.producerEpoch - stale };
  };
  const check = (condition: boolean, what: string) => {
    if (!condition) throw new Error(`${what} — state ${JSON.stringify(metadata.snapshot, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
  };
  /** A stale producer (older than the newest epoch of its id, or an id no longer current) must not change anything. */
  const checkStale = (producer: ProducerIdAndEpoch, appended: boolean, errorCode: number, isEnd: boolean, clientTv: TransactionVersion) => {
    const newest = newestIssued.get(producer.producerId);
    const idGone = producer.producerId !== metadata.producerId;
    if (newest !== undefined && producer.producerEpoch < newest) {
      check(!appended, `epoch ${producer.producerEpoch} older than ${newest} changed the state`);
      if (errorCode === ErrorCode.NONE) {
        // Only a version-2 EndTxn retry of the end that issued the newest epoch may answer NONE.
        check(isEnd && clientTv === 2 && producer.producerEpoch === newest - 1, `stale epoch ${producer.producerEpoch} succeeded`);
      }
    }
    if (idGone) check(!appended, `producer id ${producer.producerId}, no longer current, changed the state`);
  };

  for (const op of ops) {
    switch (op.type) {
      case 'init': {
        const expected = op.expectedPick === null || issued.length === 0 ? undefined : issued[issued.length - 1 - (op.expectedPick % issued.length)];
        const decision = metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS, expected }, context(), serverTransactionVersion);
        if (decision.kind === 'append') {
          check(inFlight === undefined, 'an append while a write is in flight');
          inFlight = { transition: decision.transition, after: decision.fence ? 'fence' : 'init' };
        }
        break;
      }
      case 'add': {
        const producer = pickProducer(op.pick, op.stale);
        const decision = metadata.prepareAddPartitions({ ...producer, partitions: [{ topic: 't', partition: op.partition }], clientTransactionVersion: op.tv }, nowMs);
        checkStale(producer, decision.kind === 'append', decision.kind === 'reply' ? decision.errorCode : 0, false, op.tv);
        if (decision.kind === 'append') {
          check(inFlight === undefined, 'an append while a write is in flight');
          inFlight = { transition: decision.transition, after: 'add' };
          transactionOwner = producer;
        }
        break;
      }
      case 'end': {
        const producer = pickProducer(op.pick, op.stale);
        const stateBefore = metadata.state;
        const decision = metadata.prepareEndTransaction({ ...producer, commit: op.commit, clientTransactionVersion: op.tv }, context());
        checkStale(producer, decision.kind === 'append', decision.kind === 'reply' ? decision.errorCode : 0, true, op.tv);
        if (decision.kind === 'append') {
          check(inFlight === undefined, 'an append while a write is in flight');
          if (stateBefore === 'Ongoing') {
            // KAFKA-17754: only the producer epoch that added the partitions ends the transaction.
            check(
              transactionOwner !== undefined && transactionOwner.producerId === producer.producerId && transactionOwner.producerEpoch === producer.producerEpoch,
              `EndTxn (${producer.producerId}, ${producer.producerEpoch}) ended a transaction of (${transactionOwner?.producerId}, ${transactionOwner?.producerEpoch})`,
            );
          } else {
            check(op.tv === 2 && !op.commit && producer.producerEpoch === last.producerEpoch, `EndTxn from ${stateBefore} that is not a version-2 abort at the current epoch`);
          }
          inFlight = { transition: decision.transition, after: 'end' };
        }
        break;
      }
      case 'tick':
        nowMs += op.ms;
        break;
      case 'timeout': {
        const transition = metadata.prepareAbortOnTimeout(context(), serverTransactionVersion);
        if (transition !== undefined) {
          check(inFlight === undefined, 'a timeout abort while a write is in flight');
          inFlight = { transition, after: 'fence' };
        }
        break;
      }
      case 'write': {
        if (inFlight === undefined) break;
        const { transition, after } = inFlight;
        inFlight = undefined;
        if (!op.ok) {
          metadata.abortTransition(transition);
          // Marker completion is retried by the coordinator until it is written.
          if (after === 'complete') inFlight = { transition: metadata.prepareComplete(nowMs), after: 'complete' };
          break;
        }
        const before = metadata.snapshot;
        metadata.completeTransition(transition);
        check(isValidTransition(before.state, transition.state), `${before.state} → ${transition.state}`);
        check(
          !(before.state === 'CompleteCommit' || before.state === 'CompleteAbort') || ['Empty', 'Ongoing', 'PrepareAbort'].includes(transition.state),
          `left ${before.state} for ${transition.state}`,
        );
        const value = toLogValue(transition);
        check(JSON.stringify(decodeTransactionLogValue(encodeTransactionLogValue(value)), bigints) === JSON.stringify(value, bigints), 'record round trip');
        if (after === 'init') issue(transition);
        if (after === 'end' || after === 'fence') {
          const complete = metadata.prepareComplete(nowMs);
          if (after === 'end' && transition.clientTransactionVersion === 2) issue(complete);
          inFlight = { transition: complete, after: 'complete' };
        }
        if (transition.state !== 'Ongoing') transactionOwner = undefined;
        break;
      }
    }

    // Invariants after every step.
    const now = metadata.snapshot;
    check(now.state !== 'Dead' && now.state !== 'PrepareEpochFence', 'a transient state became current');
    if (now.producerId === last.producerId) {
      check(now.producerEpoch >= last.producerEpoch, `epoch went back from ${last.producerEpoch} to ${now.producerEpoch}`);
    } else {
      check(now.producerId > maxProducerId && now.producerEpoch === 0, `producer id ${now.producerId} at epoch ${now.producerEpoch} is not fresh`);
      maxProducerId = now.producerId;
    }
    check(now.producerEpoch <= 0x7fff, 'epoch overflow');
    if (now.state === 'Empty') check(now.partitions.isEmpty && now.startTimestampMs === -1, 'Empty with a transaction');
    if (now.state === 'CompleteCommit' || now.state === 'CompleteAbort') check(now.partitions.isEmpty, 'Complete with partitions');
    check((metadata.pendingState === undefined) === (inFlight === undefined), 'pending state and in-flight write disagree');
    last = now;
  }
}

function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}

test('random call sequences keep the invariants: epochs monotonic, fenced epochs never succeed, only the owning epoch ends a transaction (property)', (t) => {
  fc.assert(
    fc.property(opsArb, fc.constantFrom<TransactionVersion>(0, 2), fc.constantFrom<Start>('new', 'near-last-epoch'), (ops, serverTransactionVersion, start) => {
      run(ops, serverTransactionVersion, start);
    }),
    { numRuns: 1_500 },
  );
  t.pass();
});

/** A state machine with Kafka's pre-4.0 hole: EndTxn does not check which epoch asks. */
function ignoringEndTxnEpoch(metadata: TransactionMetadata): TransactionMetadata {
  return new Proxy(metadata, {
    get(target, property, receiver) {
      if (property !== 'prepareEndTransaction') return Reflect.get(target, property, receiver) as unknown;
      return (request: Parameters<TransactionMetadata['prepareEndTransaction']>[0], context: Parameters<TransactionMetadata['prepareEndTransaction']>[1]) =>
        target.prepareEndTransaction({ ...request, producerId: target.producerId, producerEpoch: target.producerEpoch }, context);
    },
  });
}

const DELAYED_END: readonly Op[] = [
  { type: 'init', expectedPick: null },
  { type: 'write', ok: true },
  { type: 'add', pick: 0, stale: 0, partition: 0, tv: 2 },
  { type: 'write', ok: true },
  { type: 'end', pick: 0, stale: 0, commit: true, tv: 2 },
  { type: 'write', ok: true },
  { type: 'write', ok: true },
  // Transaction 2, by the epoch the end issued.
  { type: 'add', pick: 0, stale: 0, partition: 1, tv: 2 },
  { type: 'write', ok: true },
  // The first EndTxn again, delayed (the producer before the newest).
  { type: 'end', pick: 1, stale: 0, commit: true, tv: 2 },
];

test('the model catches a state machine with the KAFKA-17754 hole, and passes the real one on the same sequence', (t) => {
  t.notThrows(() => run(DELAYED_END, 2));
  t.throws(() => run(DELAYED_END, 2, 'new', ignoringEndTxnEpoch), { message: /changed the state/ });
  const found = fc.check(
    fc.property(opsArb, (ops) => {
      run(ops, 2, 'new', ignoringEndTxnEpoch);
    }),
    { numRuns: 1_500, seed: 17754 },
  );
  t.true(found.failed, 'random sequences find the hole too');
});
