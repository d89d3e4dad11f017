import { ErrorCode } from '@defter/protocol';

/*
 * What a Produce response says when a transactional batch fails KIP-890 part 1's check ("is this
 * partition in the producer's ongoing transaction?"). Kafka translates the coordinator's answer
 * before a producer sees it (AddPartitionsToTxnManager, then ReplicaManager.appendRecords), because
 * clients know only the produce errors:
 * - PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH (what producers handle on produce);
 * - TRANSACTION_ABORTABLE becomes INVALID_TXN_STATE for Produce below v12 (all we serve);
 * - INVALID_TXN_STATE carries "Partition was not added to the transaction";
 * - "could not verify" answers (the coordinator moving, loading, busy, unreachable:
 *   NETWORK_EXCEPTION, COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
 *   and CONCURRENT_TRANSACTIONS for clients before transaction version 2) become
 *   NOT_ENOUGH_REPLICAS, a retriable error that does not make the client refresh its metadata.
 */

export interface VerificationRefusal {
  readonly code: number;
  readonly message: string;
}

const RETRIABLE_AS_NOT_ENOUGH_REPLICAS: ReadonlyMap<number, string> = new Map([
  [ErrorCode.NETWORK_EXCEPTION, 'NETWORK_EXCEPTION'],
  [ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, 'COORDINATOR_LOAD_IN_PROGRESS'],
  [ErrorCode.COORDINATOR_NOT_AVAILABLE, 'COORDINATOR_NOT_AVAILABLE'],
  [ErrorCode.NOT_COORDINATOR, 'NOT_COORDINATOR'],
  [ErrorCode.CONCURRENT_TRANSACTIONS, 'CONCURRENT_TRANSACTIONS'],
]);

/** The Produce error for the verifier's answer `code`; undefined when it is NONE (the batch may be written). */
export function verificationRefusal(code: number): VerificationRefusal | undefined {
  if (code === ErrorCode.NONE) return undefined;
  const underlying = RETRIABLE_AS_NOT_ENOUGH_REPLICAS.get(code);
  if (underlying !== undefined) {
    return { code: ErrorCode.NOT_ENOUGH_REPLICAS, message: `Unable to verify the partition has been added to the transaction. Underlying error: ${underlying}` };
  }
  if (code === ErrorCode.PRODUCER_FENCED) return { code: ErrorCode.INVALID_PRODUCER_EPOCH, message: 'the producer was fenced by a newer epoch of its transactional id' };
  if (code === ErrorCode.INVALID_TXN_STATE || code === ErrorCode.TRANSACTION_ABORTABLE) {
    return { code: ErrorCode.INVALID_TXN_STATE, message: 'Partition was not added to the transaction' };
  }
  return { code, message: `the transaction coordinator refused the partition (error ${code})` };
}
