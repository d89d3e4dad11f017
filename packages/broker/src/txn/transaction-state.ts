/**
 * The states of one transactional id at its coordinator, with Kafka's ids (the status byte of
 * `__transaction_state` values), Kafka's names (what DescribeTransactions and ListTransactions show)
 * and the transitions Kafka allows (`TransactionState.validPreviousStates`).
 *
 *   Empty ──AddPartitions──▶ Ongoing ──EndTxn(commit)──▶ PrepareCommit ──markers──▶ CompleteCommit
 *     ▲                        │  └────EndTxn(abort)/timeout──▶ PrepareAbort ──markers──▶ CompleteAbort
 *     └──InitProducerId── Complete* / Empty            (TV2: Empty/Complete* ──EndTxn(abort)──▶ PrepareAbort)
 *   PrepareEpochFence is only ever pending (an InitProducerId or a timeout fencing an Ongoing
 *   transaction, immediately followed by PrepareAbort); Dead is only pending (expiry, then a tombstone).
 */

export type TransactionState =
  | 'Empty'
  | 'Ongoing'
  | 'PrepareCommit'
  | 'PrepareAbort'
  | 'CompleteCommit'
  | 'CompleteAbort'
  | 'Dead'
  | 'PrepareEpochFence';

/** Every state, in the order of their ids (0..7). */
export const TRANSACTION_STATES: readonly TransactionState[] = [
  'Empty',
  'Ongoing',
  'PrepareCommit',
  'PrepareAbort',
  'CompleteCommit',
  'CompleteAbort',
  'Dead',
  'PrepareEpochFence',
];

/** The status byte Kafka writes for a state in `__transaction_state`. */
export function transactionStateId(state: TransactionState): number {
  return TRANSACTION_STATES.indexOf(state);
}

/** The state with this status byte, or undefined for a byte Kafka does not define. */
export function transactionStateFromId(id: number): TransactionState | undefined {
  return Number.isInteger(id) ? TRANSACTION_STATES[id] : undefined;
}

/** The state with this name (as DescribeTransactions spells it), or undefined. */
export function transactionStateFromName(name: string): TransactionState | undefined {
  return (TRANSACTION_STATES as readonly string[]).includes(name) ? (name as TransactionState) : undefined;
}

const VALID_PREVIOUS_STATES: Readonly<Record<TransactionState, readonly TransactionState[]>> = {
  Empty: ['Empty', 'CompleteCommit', 'CompleteAbort'],
  Ongoing: ['Ongoing', 'Empty', 'CompleteCommit', 'CompleteAbort'],
  PrepareCommit: ['Ongoing'],
  // Empty and Complete* only with transaction version 2 (an abort the client sends when unsure).
  PrepareAbort: ['Ongoing', 'PrepareEpochFence', 'Empty', 'CompleteCommit', 'CompleteAbort'],
  CompleteCommit: ['PrepareCommit'],
  CompleteAbort: ['PrepareAbort'],
  Dead: ['Empty', 'CompleteAbort', 'CompleteCommit'],
  PrepareEpochFence: ['Ongoing'],
};

/** Whether Kafka allows a transition from `from` to `to`. */
export function isValidTransition(from: TransactionState, to: TransactionState): boolean {
  return VALID_PREVIOUS_STATES[to].includes(from);
}

/** States in which an idle transactional id may expire (`transactional.id.expiration.ms`). */
export function isExpirationAllowed(state: TransactionState): boolean {
  return state === 'Empty' || state === 'CompleteCommit' || state === 'CompleteAbort';
}

/**
 * Kafka's `transaction.version` feature, per client: 0 and 1 are the classic protocol; 2 (KIP-890
 * part 2) bumps the producer epoch at every transaction end and lets the partition leaders add
 * partitions to the transaction. A client shows it speaks 2 by the request versions it sends.
 */
export type TransactionVersion = 0 | 1 | 2;

/** EndTxn v5+ comes from a client that speaks transaction version 2. */
export function transactionVersionForEndTxn(requestVersion: number): TransactionVersion {
  return requestVersion > 4 ? 2 : 0;
}

/** AddPartitionsToTxn v4+ (sent by brokers and by transaction-version-2 clients). */
export function transactionVersionForAddPartitionsToTxn(requestVersion: number): TransactionVersion {
  return requestVersion > 3 ? 2 : 0;
}

export function supportsEpochBump(version: TransactionVersion): boolean {
  return version >= 2;
}
