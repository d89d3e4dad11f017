import { ErrorCode, errorByCode, isRetriableError } from '@defter/protocol';
import { GroupRebalancedError } from '../stream-log.js';

/** A request the broker answered with an error code: the code, Kafka's name for it, and what was being done. */
export class EmbeddedLogError extends Error {
  override readonly name: string = 'EmbeddedLogError';
  readonly errorName: string;
  readonly retriable: boolean;

  constructor(
    readonly code: number,
    action: string,
    detail?: string,
  ) {
    const info = errorByCode(code);
    const errorName = info?.name ?? `error code ${code}`;
    super(`${action} failed: ${errorName}${detail !== undefined ? ` (${detail})` : info !== undefined ? ` (${info.description})` : ''}`);
    this.errorName = errorName;
    this.retriable = isRetriableError(code);
  }
}

/** A newer producer with the same transactional id has started: this one can do nothing more. */
export class ProducerFencedError extends EmbeddedLogError {
  override readonly name = 'ProducerFencedError';
  constructor(code: number, transactionalId: string, action: string) {
    super(code, action, `the producer with transactional id "${transactionalId}" was fenced: a newer producer with the same transactional id has started`);
  }
}

/** The group has moved to a new generation without this member: its commit or transaction offsets are refused. */
export class RebalancedError extends GroupRebalancedError {
  override readonly name = 'RebalancedError';
  constructor(
    readonly code: number,
    groupId: string,
    action: string,
  ) {
    const errorName = errorByCode(code)?.name ?? `error code ${code}`;
    super(`${action} failed: ${errorName} (group "${groupId}" has rebalanced since this member's assignment; the records are delivered again after the rebalance)`);
  }
}

const FENCING_CODES: ReadonlySet<number> = new Set([ErrorCode.PRODUCER_FENCED, ErrorCode.INVALID_PRODUCER_EPOCH, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED]);
const REBALANCE_CODES: ReadonlySet<number> = new Set([
  ErrorCode.ILLEGAL_GENERATION,
  ErrorCode.UNKNOWN_MEMBER_ID,
  ErrorCode.REBALANCE_IN_PROGRESS,
  ErrorCode.FENCED_INSTANCE_ID,
]);

export function isFencingCode(code: number): boolean {
  return FENCING_CODES.has(code);
}

export function isRebalanceCode(code: number): boolean {
  return REBALANCE_CODES.has(code);
}

/** Errors a transactional request gets while the coordinator finishes earlier work: retried after a short wait. */
export function isTransactionRetryCode(code: number): boolean {
  return (
    code === ErrorCode.CONCURRENT_TRANSACTIONS ||
    code === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS ||
    code === ErrorCode.COORDINATOR_NOT_AVAILABLE ||
    code === ErrorCode.NOT_COORDINATOR
  );
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
