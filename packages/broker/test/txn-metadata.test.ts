import test from 'ava';
import { ApiKey, ErrorCode } from '@defter/protocol';
import { KafkaError } from '../src/errors.js';
import { clientErrorCode } from '../src/txn/client-error-codes.js';
import {
  InvalidTransactionLogValueError,
  isEpochExhausted,
  isValidTransactionTimeout,
  parseStateFilters,
  PRODUCER_EPOCH_MAX,
  toLogValue,
  TransactionMetadata,
} from '../src/txn/transaction-metadata.js';
import type { AddPartitionsDecision, EndTxnDecision, InitProducerIdDecision } from '../src/txn/transaction-metadata.js';
import { decodeTransactionLogValue, encodeTransactionLogValue } from '../src/txn/transaction-state-records.js';
import { isValidTransition, TRANSACTION_STATES, transactionVersionForAddPartitionsToTxn, transactionVersionForEndTxn } from '../src/txn/transaction-state.js';
import type { TransactionVersion } from '../src/txn/transaction-state.js';
import { contextAt, CountingIds, finishMarkers, PARTITION, persist, reach, TIMEOUT_MS } from './txn-support.js';
import type { Reached } from './txn-support.js';

const { NONE, INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE, INVALID_PRODUCER_ID_MAPPING, CONCURRENT_TRANSACTIONS, PRODUCER_FENCED, TRANSACTION_ABORTABLE } = ErrorCode;

/** A decision in one short line: `error 48`, `ok 1000/2` (EndTxn v5's producer id/epoch), `→ PrepareCommit 1000/0`. */
function outcome(decision: InitProducerIdDecision | AddPartitionsDecision | EndTxnDecision): string {
  if (decision.kind === 'append') {
    const fence = 'fence' in decision && decision.fence ? ' (fence)' : '';
    return `→ ${decision.transition.state} ${decision.transition.producerId}/${decision.transition.producerEpoch}${fence}`;
  }
  if (decision.errorCode !== NONE) return `error ${decision.errorCode}`;
  return 'producerId' in decision && decision.producerId >= 0n ? `ok ${decision.producerId}/${decision.producerEpoch}` : 'ok';
}

test('the transitions Kafka allows', (t) => {
  const allowed = TRANSACTION_STATES.flatMap((from) => TRANSACTION_STATES.filter((to) => isValidTransition(from, to)).map((to) => `${from}→${to}`));
  t.deepEqual(allowed, [
    'Empty→Empty',
    'Empty→Ongoing',
    'Empty→PrepareAbort',
    'Empty→Dead',
    'Ongoing→Ongoing',
    'Ongoing→PrepareCommit',
    'Ongoing→PrepareAbort',
    'Ongoing→PrepareEpochFence',
    'PrepareCommit→CompleteCommit',
    'PrepareAbort→CompleteAbort',
    'CompleteCommit→Empty',
    'CompleteCommit→Ongoing',
    'CompleteCommit→PrepareAbort',
    'CompleteCommit→Dead',
    'CompleteAbort→Empty',
    'CompleteAbort→Ongoing',
    'CompleteAbort→PrepareAbort',
    'CompleteAbort→Dead',
    'PrepareEpochFence→PrepareAbort',
  ]);
});

// ---------------------------------------------------------------------------------------------
// EndTxn, transaction versions 0/1: (state, commit|abort) → state | error, from Kafka's endTransactionWithTV1

const END_TV0: ReadonlyArray<[Reached, string, string]> = [
  ['Empty', 'error 48', 'error 48'],
  ['Ongoing', '→ PrepareCommit 1000/0', '→ PrepareAbort 1000/0'],
  ['PrepareCommit', 'error 51', 'error 48'],
  ['PrepareAbort', 'error 48', 'error 51'],
  ['CompleteCommit', 'ok', 'error 48'],
  ['CompleteAbort', 'error 48', 'ok'],
];

for (const [state, onCommit, onAbort] of END_TV0) {
  test(`EndTxn v0-4 in ${state}: commit ${onCommit}, abort ${onAbort}; a wrong producer id or epoch is refused first`, (t) => {
    for (const [commit, expected] of [[true, onCommit], [false, onAbort]] as const) {
      const metadata = reach(state, 0);
      const epoch = metadata.producerEpoch;
      t.is(epoch, 0);
      const end = (producerId: bigint, producerEpoch: number) =>
        outcome(metadata.prepareEndTransaction({ producerId, producerEpoch, commit, clientTransactionVersion: 0 }, contextAt(10)));
      t.is(end(1001n, epoch), `error ${INVALID_PRODUCER_ID_MAPPING}`);
      t.is(end(1000n, epoch + 1), `error ${PRODUCER_FENCED}`);
      t.is(end(1000n, epoch - 1), `error ${PRODUCER_FENCED}`);
      t.is(end(1000n, epoch), expected, `${commit ? 'commit' : 'abort'} in ${state}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// EndTxn v5+ (transaction version 2): the epoch moves at every end. "retry" = the epoch just
// before the current one, "current" = the current epoch. From Kafka's endTransaction (TV2 table).

const END_TV2: ReadonlyArray<{ state: Reached; epoch: number; retry: [string, string]; current: [string, string] }> = [
  { state: 'Empty', epoch: 1, retry: ['error 90', 'error 90'], current: ['error 48', '→ PrepareAbort 1000/2'] },
  { state: 'Ongoing', epoch: 1, retry: ['error 90', 'error 90'], current: ['→ PrepareCommit 1000/2', '→ PrepareAbort 1000/2'] },
  { state: 'PrepareCommit', epoch: 2, retry: ['error 51', 'error 48'], current: ['error 90', 'error 90'] },
  { state: 'PrepareAbort', epoch: 2, retry: ['error 48', 'error 51'], current: ['error 90', 'error 90'] },
  { state: 'CompleteCommit', epoch: 2, retry: ['ok 1000/2', 'error 48'], current: ['error 48', '→ PrepareAbort 1000/3'] },
  { state: 'CompleteAbort', epoch: 2, retry: ['error 48', 'ok 1000/2'], current: ['error 48', '→ PrepareAbort 1000/3'] },
];

for (const { state, epoch, retry, current } of END_TV2) {
  test(`EndTxn v5 in ${state}: retry (commit ${retry[0]}, abort ${retry[1]}), current (commit ${current[0]}, abort ${current[1]})`, (t) => {
    for (const [producerEpoch, [onCommit, onAbort]] of [[epoch - 1, retry], [epoch, current]] as const) {
      for (const [commit, expected] of [[true, onCommit], [false, onAbort]] as const) {
        const metadata = reach(state, 2, 2);
        t.is(metadata.producerEpoch, epoch);
        const decision = metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch, commit, clientTransactionVersion: 2 }, contextAt(10));
        t.is(outcome(decision), expected, `${commit ? 'commit' : 'abort'} at epoch ${producerEpoch} in ${state}`);
        t.is(outcome(metadata.prepareEndTransaction({ producerId: 7n, producerEpoch, commit, clientTransactionVersion: 2 }, contextAt(10))), 'error 49');
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// AddPartitionsToTxn / AddOffsetsToTxn

const ADD: ReadonlyArray<[Reached, string, string]> = [
  // state, the partition already in the transaction, a new partition
  ['Empty', '→ Ongoing 1000/0', '→ Ongoing 1000/0'],
  ['Ongoing', 'ok', '→ Ongoing 1000/0'],
  ['PrepareCommit', 'error 51', 'error 51'],
  ['PrepareAbort', 'error 51', 'error 51'],
  ['CompleteCommit', '→ Ongoing 1000/0', '→ Ongoing 1000/0'],
  ['CompleteAbort', '→ Ongoing 1000/0', '→ Ongoing 1000/0'],
];

for (const [state, known, fresh] of ADD) {
  test(`AddPartitionsToTxn in ${state}: known partition ${known}, new partition ${fresh}`, (t) => {
    for (const [partition, expected] of [[PARTITION, known], [{ topic: 'orders', partition: 1 }, fresh]] as const) {
      const metadata = reach(state, 0);
      const add = (producerId: bigint, producerEpoch: number) =>
        outcome(metadata.prepareAddPartitions({ producerId, producerEpoch, partitions: [partition], clientTransactionVersion: 0 }, 50));
      t.is(add(1001n, 0), 'error 49');
      t.is(add(1000n, 1), 'error 90');
      t.is(add(1000n, 0), expected);
    }
  });
}

test('AddPartitions: the transaction starts at the first partition; later ones keep the start time and grow the set', (t) => {
  const metadata = reach('Empty');
  persist(metadata, metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: 0, partitions: [PARTITION], clientTransactionVersion: 0 }, 100));
  persist(metadata, metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: 0, partitions: [{ topic: 'audit', partition: 3 }], clientTransactionVersion: 0 }, 200));
  const snapshot = metadata.snapshot;
  t.is(snapshot.startTimestampMs, 100);
  t.is(snapshot.lastUpdateTimestampMs, 200);
  t.deepEqual(snapshot.partitions.toTopics(), [
    { topic: 'audit', partitions: [3] },
    { topic: 'orders', partitions: [0] },
  ]);
});

// ---------------------------------------------------------------------------------------------
// InitProducerId

const INIT: ReadonlyArray<[Reached, string]> = [
  ['Empty', '→ Empty 1000/1'],
  ['Ongoing', '→ PrepareAbort 1000/2 (fence)'],
  ['PrepareCommit', 'error 51'],
  ['PrepareAbort', 'error 51'],
  ['CompleteCommit', '→ Empty 1000/1'],
  ['CompleteAbort', '→ Empty 1000/1'],
];

for (const [state, expected] of INIT) {
  test(`InitProducerId in ${state}: ${expected}`, (t) => {
    const metadata = reach(state, 0);
    t.is(outcome(metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(10), 2)), expected);
  });
}

test('InitProducerId: the first one gives epoch 0; each later one bumps the epoch and fences the previous instance', (t) => {
  const metadata = TransactionMetadata.create('txn', 1000n, TIMEOUT_MS, 0);
  const first = persist(metadata, metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(1), 2));
  t.deepEqual([first.producerId, first.producerEpoch, first.state], [1000n, 0, 'Empty']);
  const second = persist(metadata, metadata.prepareInitProducerId({ transactionTimeoutMs: 30_000 }, contextAt(2), 2));
  t.deepEqual([second.producerId, second.producerEpoch, second.transactionTimeoutMs], [1000n, 1, 30_000]);
  // The first instance is fenced everywhere.
  t.is(outcome(metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: 0, partitions: [PARTITION], clientTransactionVersion: 0 }, 3)), 'error 90');
  t.is(outcome(metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: 0, commit: true, clientTransactionVersion: 0 }, contextAt(3))), 'error 90');
  t.is(outcome(metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS, expected: { producerId: 1000n, producerEpoch: 0 } }, contextAt(3), 2)), 'error 90');
});

test('InitProducerId with the producer id and epoch held (KIP-360): bump once, a retry gets the same epoch, anything else is fenced', (t) => {
  const metadata = reach('CompleteAbort', 0);
  t.is(metadata.producerEpoch, 0);
  const expected = { producerId: 1000n, producerEpoch: 0 };
  const bumped = persist(metadata, metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS, expected }, contextAt(10), 2));
  t.deepEqual([bumped.producerEpoch, bumped.lastProducerEpoch], [1, 0]);
  // The response was lost; the client retries with the same expectation.
  const retry = metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS, expected }, contextAt(11), 2);
  t.is(outcome(retry), '→ Empty 1000/1');
  persist(metadata, retry);
  t.is(outcome(metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS, expected: { producerId: 1000n, producerEpoch: 5 } }, contextAt(11), 2)), 'error 90');
  t.is(outcome(metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS, expected: { producerId: 999n, producerEpoch: 0 } }, contextAt(11), 2)), 'error 90');
});

test('InitProducerId when the epochs are exhausted: a new producer id at epoch 0; the old id may retry', (t) => {
  const metadata = TransactionMetadata.fromLogValue('txn', {
    ...toLogValue(reach('Empty').snapshot),
    producerEpoch: PRODUCER_EPOCH_MAX - 1,
  });
  t.true(isEpochExhausted(metadata.producerEpoch));
  const ids = new CountingIds();
  const rotated = persist(
    metadata,
    metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS, expected: { producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX - 1 } }, contextAt(5, ids), 2),
  );
  t.deepEqual([rotated.producerId, rotated.producerEpoch, rotated.previousProducerId, rotated.lastProducerEpoch], [5000n, 0, 1000n, PRODUCER_EPOCH_MAX - 1]);
  // The same request again (its answer was lost): the new id, not yet another one.
  const retry = metadata.prepareInitProducerId(
    { transactionTimeoutMs: TIMEOUT_MS, expected: { producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX - 1 } },
    contextAt(6, ids),
    2,
  );
  t.is(outcome(retry), '→ Empty 5000/0');
  t.is(ids.next, 5001n);
});

test('InitProducerId while a previous end is still completing, or with any write in flight: CONCURRENT_TRANSACTIONS', (t) => {
  const metadata = reach('PrepareCommit', 0);
  metadata.prepareComplete(10); // markers being written
  t.is(metadata.pendingState, 'CompleteCommit');
  t.is(outcome(metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(11), 2)), 'error 51');
  t.is(outcome(metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: 0, partitions: [PARTITION], clientTransactionVersion: 0 }, 11)), 'error 51');
  t.is(outcome(metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: 0, commit: true, clientTransactionVersion: 0 }, contextAt(11))), 'error 51');
  // A fenced producer learns that it is fenced before it learns about the concurrency.
  t.is(outcome(metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: 9, commit: true, clientTransactionVersion: 0 }, contextAt(11))), 'error 90');
});

test('InitProducerId fences an Ongoing transaction: in-memory bump at once, abort (one more bump with transaction version 2), then the retry gets a fresh epoch', (t) => {
  const metadata = reach('Ongoing', 0);
  const decision = metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(10), 2);
  t.is(outcome(decision), '→ PrepareAbort 1000/2 (fence)');
  // Already fenced in memory, before the write completes.
  t.is(metadata.producerEpoch, 1);
  t.is(outcome(metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: 0, commit: true, clientTransactionVersion: 0 }, contextAt(11))), 'error 90');
  persist(metadata, decision as InitProducerIdDecision);
  t.deepEqual(metadata.snapshot.partitions.toTopics(), [{ topic: 'orders', partitions: [0] }]);
  metadata.removePartition('orders', 0);
  const completed = finishMarkers(metadata, 12);
  t.deepEqual([completed.state, completed.producerEpoch], ['CompleteAbort', 2]);
  t.is(outcome(metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(13), 2)), '→ Empty 1000/3');
});

test('a fence whose write fails keeps the fence and does not bump again on the next attempt', (t) => {
  const metadata = reach('Ongoing', 0);
  const first = metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(10), 0);
  t.is(outcome(first), '→ PrepareAbort 1000/1 (fence)');
  if (first.kind !== 'append') throw new Error('unreachable');
  metadata.abortTransition(first.transition);
  t.is(metadata.state, 'Ongoing');
  t.is(metadata.producerEpoch, 1);
  t.is(outcome(metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: 0, partitions: [PARTITION], clientTransactionVersion: 0 }, 11)), 'error 90');
  t.is(outcome(metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(12), 0)), '→ PrepareAbort 1000/1 (fence)');
});

// ---------------------------------------------------------------------------------------------
// KAFKA-17754 and KIP-890

test('KAFKA-17754: a delayed EndTxn of the previous transaction never commits or aborts the next one (transaction version 2)', (t) => {
  const metadata = reach('Empty');
  const ctx = contextAt(10);
  persist(metadata, metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: 0, partitions: [PARTITION], clientTransactionVersion: 2 }, 10));
  // Transaction 1 ends with epoch 0; the client continues with epoch 1.
  const decision = metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: 0, commit: true, clientTransactionVersion: 2 }, ctx);
  persist(metadata, decision);
  const complete = finishMarkers(metadata, 11);
  t.deepEqual([complete.producerId, complete.producerEpoch], [1000n, 1]);
  // Transaction 2 (epoch 1) writes to another partition.
  persist(metadata, metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: 1, partitions: [{ topic: 'orders', partition: 1 }], clientTransactionVersion: 2 }, 12));
  const before = metadata.snapshot;
  // The first EndTxn, delayed on another connection, arrives again — as commit and as abort.
  for (const commit of [true, false]) {
    t.is(outcome(metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: 0, commit, clientTransactionVersion: 2 }, ctx)), 'error 90');
    t.is(outcome(metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: 0, partitions: [PARTITION], clientTransactionVersion: 2 }, 13)), 'error 90');
  }
  t.is(metadata.snapshot, before);
  t.is(metadata.pendingState, undefined);
  // Only the current epoch ends transaction 2.
  t.is(outcome(metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: 1, commit: true, clientTransactionVersion: 2 }, ctx)), '→ PrepareCommit 1000/2');
});

test('KIP-890 part 1: partitions are verified against the running transaction', (t) => {
  const metadata = reach('Ongoing');
  const verify = (producerId: bigint, producerEpoch: number) =>
    metadata.verifyPartitions({ producerId, producerEpoch, partitions: [PARTITION, { topic: 'orders', partition: 9 }] }).map((result) => result.errorCode);
  t.deepEqual(verify(1000n, 0), [NONE, TRANSACTION_ABORTABLE]);
  t.deepEqual(verify(1000n, 1), [PRODUCER_FENCED, PRODUCER_FENCED]);
  t.deepEqual(verify(2000n, 0), [INVALID_PRODUCER_ID_MAPPING, INVALID_PRODUCER_ID_MAPPING]);
  const ending = reach('PrepareCommit');
  t.deepEqual(ending.verifyPartitions({ producerId: 1000n, producerEpoch: 0, partitions: [PARTITION] }), [{ ...PARTITION, errorCode: CONCURRENT_TRANSACTIONS }]);
  t.is(metadata.pendingState, undefined);
});

test('EndTxn v5 when the epochs run out: the end moves the producer to a new id at epoch 0, and a retry is still recognised', (t) => {
  const ids = new CountingIds();
  const metadata = TransactionMetadata.fromLogValue('txn', { ...toLogValue(reach('Empty').snapshot), producerEpoch: PRODUCER_EPOCH_MAX - 1 });
  persist(metadata, metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX - 1, partitions: [PARTITION], clientTransactionVersion: 2 }, 5));
  const prepare = persist(
    metadata,
    metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX - 1, commit: true, clientTransactionVersion: 2 }, contextAt(6, ids)),
  );
  t.deepEqual([prepare.state, prepare.producerId, prepare.producerEpoch, prepare.nextProducerId], ['PrepareCommit', 1000n, PRODUCER_EPOCH_MAX, 5000n]);
  // The nextProducerId survives a restart through the record.
  t.is(decodeTransactionLogValue(encodeTransactionLogValue(toLogValue(prepare))).nextProducerId, 5000n);
  const complete = finishMarkers(metadata, 7);
  t.deepEqual([complete.state, complete.producerId, complete.producerEpoch, complete.previousProducerId], ['CompleteCommit', 5000n, 0, 1000n]);
  const retry = metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX - 1, commit: true, clientTransactionVersion: 2 }, contextAt(8, ids));
  t.is(outcome(retry), 'ok 5000/0');
  t.is(outcome(metadata.prepareAddPartitions({ producerId: 5000n, producerEpoch: 0, partitions: [PARTITION], clientTransactionVersion: 2 }, 9)), '→ Ongoing 5000/0');
});

test('an id whose first InitProducerId was never written is held by nobody: INVALID_PRODUCER_ID_MAPPING', (t) => {
  const metadata = TransactionMetadata.create('txn', 1000n, TIMEOUT_MS, 0);
  const init = metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(1), 2);
  if (init.kind !== 'append') throw new Error('unreachable');
  metadata.abortTransition(init.transition);
  t.is(outcome(metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: -1, partitions: [PARTITION], clientTransactionVersion: 0 }, 2)), 'error 49');
  for (const tv of [0, 2] as TransactionVersion[]) {
    t.is(outcome(metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: -1, commit: false, clientTransactionVersion: tv }, contextAt(2))), 'error 49');
  }
  t.deepEqual(metadata.verifyPartitions({ producerId: 1000n, producerEpoch: -1, partitions: [PARTITION] }).map((r) => r.errorCode), [INVALID_PRODUCER_ID_MAPPING]);
  // The retried InitProducerId still gives epoch 0.
  t.is(outcome(metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(3), 2)), '→ Empty 1000/0');
});

test('a client never holds the highest epoch: requests claiming it are fenced, even when it is the current epoch', (t) => {
  const metadata = reach('Ongoing');
  t.is(outcome(metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX, commit: true, clientTransactionVersion: 2 }, contextAt(5))), 'error 90');
  // A fence (server transaction version 0) at the last usable epoch leaves the id at the highest one.
  const fenced = TransactionMetadata.fromLogValue('txn', { ...toLogValue(reach('Empty').snapshot), producerEpoch: PRODUCER_EPOCH_MAX - 1 });
  persist(fenced, fenced.prepareAddPartitions({ producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX - 1, partitions: [PARTITION], clientTransactionVersion: 0 }, 0));
  persist(fenced, fenced.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(1), 0));
  finishMarkers(fenced, 2);
  t.is(fenced.producerEpoch, PRODUCER_EPOCH_MAX);
  t.is(outcome(fenced.prepareAddPartitions({ producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX, partitions: [PARTITION], clientTransactionVersion: 0 }, 3)), 'error 90');
  t.deepEqual(fenced.verifyPartitions({ producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX, partitions: [PARTITION] }).map((r) => r.errorCode), [PRODUCER_FENCED]);
  t.is(outcome(fenced.prepareEndTransaction({ producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX, commit: false, clientTransactionVersion: 0 }, contextAt(3))), 'error 90');
});

test('a fence whose write failed can be retried at the highest epoch without overflowing', (t) => {
  const metadata = TransactionMetadata.fromLogValue('txn', { ...toLogValue(reach('Empty').snapshot), producerEpoch: PRODUCER_EPOCH_MAX - 1 });
  persist(metadata, metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX - 1, partitions: [PARTITION], clientTransactionVersion: 0 }, 0));
  const first = metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(1), 2);
  t.is(outcome(first), `→ PrepareAbort 1000/${PRODUCER_EPOCH_MAX} (fence)`);
  if (first.kind !== 'append') throw new Error('unreachable');
  metadata.abortTransition(first.transition);
  t.is(outcome(metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(2), 2)), `→ PrepareAbort 1000/${PRODUCER_EPOCH_MAX} (fence)`);
});

test('producer id allocation failures become the client error (COORDINATOR_LOAD_IN_PROGRESS)', (t) => {
  const metadata = TransactionMetadata.fromLogValue('txn', { ...toLogValue(reach('Empty').snapshot), producerEpoch: PRODUCER_EPOCH_MAX - 1 });
  const failing = {
    nowMs: 5,
    allocateProducerId: (): bigint => {
      throw new KafkaError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, 'not yet');
    },
  };
  t.is(outcome(metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, failing, 2)), 'error 14');
  t.is(metadata.pendingState, undefined);
});

// ---------------------------------------------------------------------------------------------
// Timeouts, expiry, markers, admin views

test('transaction.timeout.ms: an Ongoing transaction past its timeout is fenced and aborted by the coordinator', (t) => {
  for (const [serverVersion, abortEpoch] of [[2, 2], [0, 1]] as const) {
    const metadata = reach('Empty');
    persist(metadata, metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: 0, partitions: [PARTITION], clientTransactionVersion: 0 }, 1_000));
    t.false(metadata.isTimedOut(1_000 + TIMEOUT_MS));
    t.is(metadata.prepareAbortOnTimeout(contextAt(1_000 + TIMEOUT_MS), serverVersion), undefined);
    const abort = metadata.prepareAbortOnTimeout(contextAt(1_001 + TIMEOUT_MS), serverVersion);
    t.deepEqual([abort?.state, abort?.producerEpoch], ['PrepareAbort', abortEpoch]);
    // While the abort is in flight nothing else is started, and the old producer is refused.
    t.is(metadata.prepareAbortOnTimeout(contextAt(2_000 + TIMEOUT_MS), serverVersion), undefined);
    t.is(outcome(metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: 0, commit: true, clientTransactionVersion: 0 }, contextAt(2_000 + TIMEOUT_MS))), 'error 90');
    metadata.completeTransition(abort!);
    finishMarkers(metadata, 2_001 + TIMEOUT_MS);
    t.is(metadata.state, 'CompleteAbort');
    for (const tv of [0, 2] as TransactionVersion[]) {
      t.is(outcome(metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: 0, commit: false, clientTransactionVersion: tv }, contextAt(3_000 + TIMEOUT_MS))), 'error 90');
    }
  }
});

test('a timed-out transaction at the last epoch is fenced with one bump (no overflow); the fenced producer cannot pass for a retry; the next init rotates', (t) => {
  const ids = new CountingIds();
  const metadata = TransactionMetadata.fromLogValue('txn', { ...toLogValue(reach('Empty').snapshot), producerEpoch: PRODUCER_EPOCH_MAX - 1 });
  persist(metadata, metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX - 1, partitions: [PARTITION], clientTransactionVersion: 2 }, 0));
  const abort = metadata.prepareAbortOnTimeout(contextAt(TIMEOUT_MS + 1, ids), 2)!;
  t.deepEqual([abort.producerEpoch, abort.nextProducerId, abort.clientTransactionVersion], [PRODUCER_EPOCH_MAX, -1n, 0]);
  metadata.completeTransition(abort);
  const complete = finishMarkers(metadata, TIMEOUT_MS + 2);
  t.deepEqual([complete.producerId, complete.producerEpoch], [1000n, PRODUCER_EPOCH_MAX]);
  for (const commit of [true, false]) {
    t.is(outcome(metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX - 1, commit, clientTransactionVersion: 2 }, contextAt(TIMEOUT_MS + 3, ids))), 'error 90');
  }
  t.is(outcome(metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS, expected: { producerId: 1000n, producerEpoch: PRODUCER_EPOCH_MAX - 1 } }, contextAt(TIMEOUT_MS + 4, ids), 2)), 'error 90');
  t.is(outcome(metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, contextAt(TIMEOUT_MS + 4, ids), 2)), '→ Empty 5000/0');
});

test('markers: partitions are removed as their markers are written, then the completion empties the set', (t) => {
  const metadata = reach('Ongoing');
  persist(metadata, metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: 0, partitions: [{ topic: 'audit', partition: 2 }], clientTransactionVersion: 0 }, 5));
  persist(metadata, metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: 0, commit: true, clientTransactionVersion: 0 }, contextAt(6)));
  metadata.removePartition('audit', 2);
  t.deepEqual(metadata.snapshot.partitions.toTopics(), [{ topic: 'orders', partitions: [0] }]);
  const complete = finishMarkers(metadata, 7);
  t.true(complete.partitions.isEmpty);
  t.throws(() => metadata.removePartition('orders', 0), { message: /marker was written in state CompleteCommit/ });
  t.throws(() => metadata.prepareComplete(8), { message: /cannot complete from CompleteCommit/ });
});

test('expiry: only idle ids in Empty/Complete* expire; while the tombstone is written the id is not described or listed', (t) => {
  const ongoing = reach('Ongoing');
  t.false(ongoing.isExpired(10 ** 12, 1_000));
  const metadata = reach('CompleteCommit');
  const lastUpdate = metadata.snapshot.lastUpdateTimestampMs;
  t.false(metadata.isExpired(lastUpdate + 999, 1_000));
  t.true(metadata.isExpired(lastUpdate + 1_000, 1_000));
  const filter = { states: null, producerIds: new Set<bigint>(), durationFilterMs: -1 };
  t.true(metadata.matchesListFilter(filter, 0));
  const dead = metadata.prepareDead();
  t.is(dead.state, 'Dead');
  t.is(metadata.describe(), undefined);
  t.false(metadata.matchesListFilter(filter, 0));
  t.throws(() => metadata.completeTransition(dead), { message: /removed, not completed/ });
  metadata.abortTransition(dead);
  t.is(metadata.describe()?.state, 'CompleteCommit');
});

test('DescribeTransactions and ListTransactions views', (t) => {
  const metadata = reach('Ongoing');
  t.deepEqual(metadata.describe(), {
    state: 'Ongoing',
    producerId: 1000n,
    producerEpoch: 0,
    transactionTimeoutMs: TIMEOUT_MS,
    transactionStartTimeMs: 2,
    topics: [{ topic: 'orders', partitions: [0] }],
  });
  const filter = (states: string[], producerIds: bigint[], durationFilterMs: number) =>
    metadata.matchesListFilter({ states: parseStateFilters(states).states, producerIds: new Set(producerIds), durationFilterMs }, 1_002);
  t.true(filter([], [], -1));
  t.true(filter(['Ongoing', 'Empty'], [1000n], -1));
  t.false(filter(['Empty'], [], -1));
  t.false(filter([], [7n], -1));
  t.true(filter([], [], 999)); // running 1000 ms: longer than 999
  t.false(filter([], [], 1_000));
  // Unknown state names are echoed back and match nothing (Kafka).
  t.deepEqual(parseStateFilters(['Ongoing', 'Running', 'PrepareCommit']), { states: new Set(['Ongoing', 'PrepareCommit']), unknownStateFilters: ['Running'] });
  t.deepEqual(parseStateFilters([]), { states: null, unknownStateFilters: [] });
  t.false(filter(['Running'], [], -1));
  t.deepEqual(metadata.listing(), { transactionalId: 'txn', producerId: 1000n, transactionState: 'Ongoing' });
});

test('transitions persist and load back through __transaction_state records', (t) => {
  const metadata = reach('PrepareCommit', 2, 2);
  const value = decodeTransactionLogValue(encodeTransactionLogValue(toLogValue(metadata.snapshot)));
  const loaded = TransactionMetadata.fromLogValue('txn', value);
  t.deepEqual(
    { ...loaded.snapshot, partitions: loaded.snapshot.partitions.toTopics() },
    { ...metadata.snapshot, lastProducerEpoch: -1, partitions: metadata.snapshot.partitions.toTopics() },
  );
  // A restarted coordinator completes what was prepared.
  const complete = finishMarkers(loaded, 100);
  t.deepEqual([complete.state, complete.producerEpoch], ['CompleteCommit', 2]);
});

test('stored values that Kafka never writes are refused when loading', (t) => {
  const stored = toLogValue(reach('Ongoing').snapshot);
  for (const bad of [
    { ...stored, state: 'Dead' as const },
    { ...stored, state: 'PrepareEpochFence' as const },
    { ...stored, producerEpoch: -1 },
    { ...stored, producerEpoch: -7 },
    { ...stored, producerId: -3n },
  ]) {
    t.throws(() => TransactionMetadata.fromLogValue('txn', bad), { instanceOf: InvalidTransactionLogValueError });
  }
  t.is(TransactionMetadata.fromLogValue('txn', stored).state, 'Ongoing');
});

test('transaction timeouts, transaction versions by request version, and error codes for old clients', (t) => {
  t.true(isValidTransactionTimeout(1, 900_000));
  t.true(isValidTransactionTimeout(900_000, 900_000));
  t.false(isValidTransactionTimeout(900_001, 900_000));
  t.false(isValidTransactionTimeout(0, 900_000));
  t.deepEqual([4, 5].map(transactionVersionForEndTxn), [0, 2]);
  t.deepEqual([3, 4].map(transactionVersionForAddPartitionsToTxn), [0, 2]);
  t.is(clientErrorCode(PRODUCER_FENCED, ApiKey.InitProducerId, 3), INVALID_PRODUCER_EPOCH);
  t.is(clientErrorCode(PRODUCER_FENCED, ApiKey.InitProducerId, 4), PRODUCER_FENCED);
  t.is(clientErrorCode(PRODUCER_FENCED, ApiKey.EndTxn, 1), INVALID_PRODUCER_EPOCH);
  t.is(clientErrorCode(PRODUCER_FENCED, ApiKey.AddPartitionsToTxn, 2), PRODUCER_FENCED);
  t.is(clientErrorCode(PRODUCER_FENCED, ApiKey.AddOffsetsToTxn, 0), INVALID_PRODUCER_EPOCH);
  t.is(clientErrorCode(INVALID_TXN_STATE, ApiKey.EndTxn, 0), INVALID_TXN_STATE);
});

test('programmer errors are assertions: completing a transition that is not in flight throws', (t) => {
  const metadata = reach('Ongoing');
  const other = reach('Ongoing');
  const decision = other.prepareEndTransaction({ producerId: 1000n, producerEpoch: 0, commit: true, clientTransactionVersion: 0 }, contextAt(5));
  if (decision.kind !== 'append') throw new Error('unreachable');
  t.throws(() => metadata.completeTransition(decision.transition), { message: /not in flight/ });
  t.throws(() => metadata.abortTransition(decision.transition), { message: /not in flight/ });
});
