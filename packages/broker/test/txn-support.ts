import { TransactionMetadata } from '../src/txn/transaction-metadata.js';
import type { TxnContext, TxnTransition } from '../src/txn/transaction-metadata.js';
import type { TransactionVersion } from '../src/txn/transaction-state.js';

/** Producer ids handed out in order from 5000, like a ProducerIdManager. */
export class CountingIds {
  next = 5000n;
  allocate = (): bigint => this.next++;
}

export function contextAt(nowMs: number, ids = new CountingIds()): TxnContext {
  return { nowMs, allocateProducerId: ids.allocate };
}

export const PARTITION = { topic: 'orders', partition: 0 };
export const TIMEOUT_MS = 60_000;

/** Persists an append decision (asserting it is one) and returns its transition. */
export function persist(metadata: TransactionMetadata, decision: { kind: string; transition?: TxnTransition }): TxnTransition {
  if (decision.kind !== 'append' || decision.transition === undefined) throw new Error(`expected an append, got ${JSON.stringify(decision, jsonBigInt)}`);
  metadata.completeTransition(decision.transition);
  return decision.transition;
}

/** Runs prepareComplete and persists it (the markers are written). */
export function finishMarkers(metadata: TransactionMetadata, nowMs: number): TxnTransition {
  const complete = metadata.prepareComplete(nowMs);
  metadata.completeTransition(complete);
  return complete;
}

export function jsonBigInt(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}

export type Reached = 'Empty' | 'Ongoing' | 'PrepareCommit' | 'PrepareAbort' | 'CompleteCommit' | 'CompleteAbort';

/**
 * A metadata brought to `state` through the real calls only (InitProducerId, AddPartitions,
 * EndTxn at `tv`, markers), by a producer `(1000, epoch)`; for states after an end the epoch is
 * whatever the protocol made it.
 */
export function reach(state: Reached, tv: TransactionVersion = 0, initialisations = 1): TransactionMetadata {
  const metadata = TransactionMetadata.create('txn', 1000n, TIMEOUT_MS, 0);
  const context = contextAt(1);
  for (let i = 0; i < initialisations; i++) persist(metadata, metadata.prepareInitProducerId({ transactionTimeoutMs: TIMEOUT_MS }, context, 2));
  if (state === 'Empty') return metadata;
  persist(metadata, metadata.prepareAddPartitions({ producerId: 1000n, producerEpoch: metadata.producerEpoch, partitions: [PARTITION], clientTransactionVersion: tv }, 2));
  if (state === 'Ongoing') return metadata;
  const commit = state === 'PrepareCommit' || state === 'CompleteCommit';
  persist(metadata, metadata.prepareEndTransaction({ producerId: 1000n, producerEpoch: metadata.producerEpoch, commit, clientTransactionVersion: tv }, contextAt(3)));
  if (state === 'PrepareCommit' || state === 'PrepareAbort') return metadata;
  finishMarkers(metadata, 4);
  return metadata;
}
