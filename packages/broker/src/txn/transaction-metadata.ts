import { ErrorCode } from '@defter/protocol';
import { KafkaError } from '../errors.js';
import { TopicPartitionSet } from './topic-partition-set.js';
import type { TopicPartitions, TxnPartition } from './topic-partition-set.js';
import type { TransactionLogValue } from './transaction-state-records.js';
import { isExpirationAllowed, isValidTransition, supportsEpochBump, transactionStateFromName } from './transaction-state.js';
import type { TransactionState, TransactionVersion } from './transaction-state.js';

/*
 * One transactional id's state machine at its transaction coordinator (Kafka's TransactionMetadata
 * plus the per-id decisions of its TransactionCoordinator), with no I/O: every call that changes
 * the state returns a *transition* (the complete next state) for the caller to persist in
 * `__transaction_state`; the caller then reports `completeTransition` (persisted) or
 * `abortTransition` (the write failed). While a transition is in flight the id answers
 * CONCURRENT_TRANSACTIONS, exactly like Kafka's pendingState.
 *
 * How it plugs in next session (TransactionCoordinator in packages/broker/src/txn/, one instance per
 * broker; `__transaction_state` is a compacted topic in the LogManager; ids map to its partitions
 * by `abs(hash(transactionalId)) % partitions` as in Kafka; coordinator epoch = that partition's leader epoch):
 *
 *   persist(id, transition) = ReplicaManager.append('__transaction_state', partitionFor(id),
 *       one batch { key: encodeTransactionLogKey(id), value: encodeTransactionLogValue(toLogValue(transition)) },
 *       acks=all) → on success metadata.completeTransition(t), on failure metadata.abortTransition(t).
 *
 *   InitProducerId (handler: transactionalId null → ProducerIdManager.generateProducerId(), epoch 0;
 *       '' → INVALID_REQUEST; !isValidTransactionTimeout → INVALID_TRANSACTION_TIMEOUT;
 *       unknown id → TransactionMetadata.create(id, await producerIds.allocate(), timeout, now)):
 *       prepareInitProducerId → reply: answer the error | append (fence=false): persist, then answer
 *       (transition.producerId, transition.producerEpoch) | append (fence=true, an Ongoing transaction
 *       was fenced and is being aborted): persist, then write abort markers (below), answer
 *       CONCURRENT_TRANSACTIONS so the client retries and gets the next epoch.
 *   AddPartitionsToTxn v0-3 (client), v4+ (brokers, KIP-890; verifyOnly → verifyPartitions, no write):
 *       prepareAddPartitions → reply | append: persist, answer NONE (per partition).
 *   AddOffsetsToTxn: prepareAddPartitions with [{ topic: '__consumer_offsets',
 *       partition: GroupCoordinator.partitionFor(groupId) }].
 *   TxnOffsetCommit: GroupCoordinator; with KIP-890 part 1 it first calls verifyPartitions for the
 *       offsets partition (TRANSACTION_ABORTABLE if the client never added it).
 *   Produce of a transactional batch (ReplicaManager, KIP-890 part 1): before the first batch of a
 *       (producer id, epoch) on a partition, verifyPartitions (clients < TV2) or prepareAddPartitions
 *       (TV2 clients, which no longer send AddPartitionsToTxn); refuse the batch on any error.
 *   EndTxn (clientTransactionVersion = transactionVersionForEndTxn(request version)):
 *       prepareEndTransaction → reply (retries of a finished end: NONE, or the error) | append:
 *       persist the PrepareCommit/PrepareAbort transition; then t2 = prepareComplete(now) and answer
 *       NONE with (t2.producerId, t2.producerEpoch) for EndTxn v5 (the client continues with that
 *       epoch; -1/-1 for older versions); then write markers; then persist t2.
 *   Markers (commit/abort), for every partition of the Prepare* transition: a control batch
 *       (producer id and epoch of the *Prepare* transition, coordinator epoch) appended by
 *       ReplicaManager/PartitionLog on that partition (in process, or WriteTxnMarkers to other
 *       brokers), which completes the producer's transaction in the partition's producer state and
 *       the LSO / aborted-transaction index; __consumer_offsets partitions also make the group's
 *       pending transactional offsets visible (commit) or drop them (abort). Each written
 *       partition: removePartition; all written: persist prepareComplete's transition. Retried
 *       until they succeed (never answered to a client).
 *   Timeouts: one coordinator tick (transaction.abort.timed.out.transaction.cleanup.interval.ms,
 *       10 s) calls prepareAbortOnTimeout(now) on every id; a transition → persist, markers, complete.
 *   Expiry: isExpired(now, transactional.id.expiration.ms) → prepareDead → persist a tombstone
 *       (null value) → drop the id from the cache.
 *   DescribeTransactions: describe() (undefined → TRANSACTIONAL_ID_NOT_FOUND);
 *   ListTransactions: parseStateFilters + matchesListFilter + listing().
 *   Loading (broker start, or becoming leader of a __transaction_state partition): replay the
 *       partition, last value per key wins, tombstones delete; fromLogValue for each (log and skip
 *       an InvalidTransactionLogValueError; undecodable records: DecodeError, same); every id left
 *       in PrepareCommit/PrepareAbort gets prepareComplete and its markers re-sent, so a restarted
 *       broker finishes every half-committed transaction.
 *   Client error codes: clientErrorCode(code, apiKey, version) (PRODUCER_FENCED for old clients).
 */

export const NO_PRODUCER_ID = -1n;
export const NO_PRODUCER_EPOCH = -1;
/** The highest int16 epoch. Never handed to a client: it is kept to fence the epoch below it. */
export const PRODUCER_EPOCH_MAX = 0x7fff;

/** `transaction.max.timeout.ms` default: the longest transaction timeout a client may ask for. */
export const TRANSACTION_MAX_TIMEOUT_MS_DEFAULT = 900_000;
/** `transactional.id.expiration.ms` default: an idle transactional id is forgotten after 7 days. */
export const TRANSACTIONAL_ID_EXPIRATION_MS_DEFAULT = 604_800_000;
/** `transaction.abort.timed.out.transaction.cleanup.interval.ms` default. */
export const ABORT_TIMED_OUT_TRANSACTIONS_INTERVAL_MS_DEFAULT = 10_000;

/** An epoch this high leaves no room to bump once more and still fence: the next one needs a new producer id. */
export function isEpochExhausted(producerEpoch: number): boolean {
  return producerEpoch >= PRODUCER_EPOCH_MAX - 1;
}

/** InitProducerId's timeout check: positive and at most `transaction.max.timeout.ms`. */
export function isValidTransactionTimeout(transactionTimeoutMs: number, transactionMaxTimeoutMs: number): boolean {
  return transactionTimeoutMs > 0 && transactionTimeoutMs <= transactionMaxTimeoutMs;
}

/** The complete state of a transactional id: what a transition proposes and what `__transaction_state` keeps. */
export interface TxnTransition {
  readonly producerId: bigint;
  /** The producer id before this state (differs from `producerId` after a rotation). */
  readonly previousProducerId: bigint;
  /** The id a completing transaction rotates to (its epochs are exhausted), or -1. */
  readonly nextProducerId: bigint;
  readonly producerEpoch: number;
  /** The epoch before the last bump, so that a retried bump is recognised; -1 when none may retry. In memory only. */
  readonly lastProducerEpoch: number;
  readonly transactionTimeoutMs: number;
  readonly state: TransactionState;
  readonly partitions: TopicPartitionSet;
  /** When the current transaction started (its first partition), -1 when none. */
  readonly startTimestampMs: number;
  readonly lastUpdateTimestampMs: number;
  readonly clientTransactionVersion: TransactionVersion;
}

/** Answer the client now, without writing anything. */
export interface TxnReply {
  readonly kind: 'reply';
  readonly errorCode: number;
}

/** Persist `transition`, then act on it (see the plan at the top of this file). */
export interface TxnAppend {
  readonly kind: 'append';
  readonly transition: TxnTransition;
}

export type InitProducerIdDecision = TxnReply | (TxnAppend & { readonly fence: boolean });
export type AddPartitionsDecision = TxnReply | TxnAppend;
/** A reply carries the producer id and epoch EndTxn v5 returns (-1 for older versions and errors). */
export type EndTxnDecision = (TxnReply & { readonly producerId: bigint; readonly producerEpoch: number }) | TxnAppend;

export interface PartitionVerification extends TxnPartition {
  readonly errorCode: number;
}

/** What the coordinator supplies to a call that may need it. */
export interface TxnContext {
  readonly nowMs: number;
  /** A fresh producer id (ProducerIdManager.generateProducerId); may throw a KafkaError (e.g. COORDINATOR_LOAD_IN_PROGRESS). */
  readonly allocateProducerId: () => bigint;
}

export interface InitProducerIdRequest {
  readonly transactionTimeoutMs: number;
  /** KIP-360: the producer id and epoch a client re-initialising after an error still holds. */
  readonly expected?: { readonly producerId: bigint; readonly producerEpoch: number } | undefined;
}

export interface ProducerIdAndEpoch {
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

export interface AddPartitionsRequest extends ProducerIdAndEpoch {
  readonly partitions: Iterable<TxnPartition>;
  readonly clientTransactionVersion: TransactionVersion;
}

export interface EndTxnRequest extends ProducerIdAndEpoch {
  readonly commit: boolean;
  readonly clientTransactionVersion: TransactionVersion;
}

/** DescribeTransactions' view of one id. */
export interface TransactionDescription {
  readonly state: TransactionState;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly transactionTimeoutMs: number;
  readonly transactionStartTimeMs: number;
  readonly topics: TopicPartitions[];
}

/** ListTransactions' filters, already parsed (see `parseStateFilters`). */
export interface ListTransactionsFilter {
  /** null: no state filter. Otherwise only these (empty when every name given was unknown: nothing matches). */
  readonly states: ReadonlySet<TransactionState> | null;
  /** Empty: no producer id filter. */
  readonly producerIds: ReadonlySet<bigint>;
  /** Only transactions running longer than this; -1 for no filter. */
  readonly durationFilterMs: number;
}

/** One row of ListTransactions. */
export interface TransactionListing {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly transactionState: TransactionState;
}

/**
 * ListTransactions' state filters: the names Kafka knows become states; the others are echoed
 * back in the response's unknownStateFilters (and match nothing, as in Kafka).
 */
export function parseStateFilters(names: readonly string[]): { states: Set<TransactionState> | null; unknownStateFilters: string[] } {
  if (names.length === 0) return { states: null, unknownStateFilters: [] };
  const states = new Set<TransactionState>();
  const unknownStateFilters: string[] = [];
  for (const name of names) {
    const state = transactionStateFromName(name);
    if (state === undefined) unknownStateFilters.push(name);
    else states.add(state);
  }
  return { states, unknownStateFilters };
}

/** A stored value that cannot describe a real transaction (corrupt or hostile log contents). */
export class InvalidTransactionLogValueError extends Error {
  override readonly name = 'InvalidTransactionLogValueError';
}

const reply = (errorCode: number): TxnReply => ({ kind: 'reply', errorCode });
const endReply = (errorCode: number, producerId = NO_PRODUCER_ID, producerEpoch = NO_PRODUCER_EPOCH): EndTxnDecision => ({
  kind: 'reply',
  errorCode,
  producerId,
  producerEpoch,
});

export class TransactionMetadata {
  private current: TxnTransition;
  private pending: TxnTransition | undefined;
  /** The pending transition fences an Ongoing transaction (InitProducerId or timeout). */
  private pendingIsFence = false;
  /** A fencing bump was applied in memory but its write failed: the next fence must not bump again (Kafka's hasFailedEpochFence). */
  private failedEpochFence = false;

  private constructor(
    readonly transactionalId: string,
    initial: TxnTransition,
  ) {
    this.current = initial;
  }

  /** A transactional id seen for the first time: state Empty, no epoch yet (the first InitProducerId gives 0). */
  static create(transactionalId: string, producerId: bigint, transactionTimeoutMs: number, nowMs: number): TransactionMetadata {
    return new TransactionMetadata(transactionalId, {
      producerId,
      previousProducerId: NO_PRODUCER_ID,
      nextProducerId: NO_PRODUCER_ID,
      producerEpoch: NO_PRODUCER_EPOCH,
      lastProducerEpoch: NO_PRODUCER_EPOCH,
      transactionTimeoutMs,
      state: 'Empty',
      partitions: TopicPartitionSet.EMPTY,
      startTimestampMs: -1,
      lastUpdateTimestampMs: nowMs,
      clientTransactionVersion: 0,
    });
  }

  /**
   * The state of an id as loaded from `__transaction_state`. Throws InvalidTransactionLogValueError
   * for a value Kafka never writes (a transient state, an impossible epoch or producer id): the
   * loader logs it and skips the record rather than run a state machine on it.
   */
  static fromLogValue(transactionalId: string, value: TransactionLogValue): TransactionMetadata {
    if (value.state === 'Dead' || value.state === 'PrepareEpochFence') {
      throw new InvalidTransactionLogValueError(`transactional id ${transactionalId}: state ${value.state} is never persisted`);
    }
    if (value.producerId < 0n || value.producerEpoch < NO_PRODUCER_EPOCH || (value.producerEpoch === NO_PRODUCER_EPOCH && value.state !== 'Empty')) {
      throw new InvalidTransactionLogValueError(`transactional id ${transactionalId}: producer (${value.producerId}, ${value.producerEpoch}) in state ${value.state}`);
    }
    return new TransactionMetadata(transactionalId, {
      producerId: value.producerId,
      previousProducerId: value.previousProducerId,
      nextProducerId: value.nextProducerId,
      producerEpoch: value.producerEpoch,
      lastProducerEpoch: NO_PRODUCER_EPOCH,
      transactionTimeoutMs: value.transactionTimeoutMs,
      state: value.state,
      partitions: value.state === 'Empty' ? TopicPartitionSet.EMPTY : TopicPartitionSet.fromTopics(value.partitions),
      startTimestampMs: value.startTimestampMs,
      lastUpdateTimestampMs: value.lastUpdateTimestampMs,
      clientTransactionVersion: value.clientTransactionVersion >= 2 ? 2 : value.clientTransactionVersion === 1 ? 1 : 0,
    });
  }

  get state(): TransactionState {
    return this.current.state;
  }

  get producerId(): bigint {
    return this.current.producerId;
  }

  get producerEpoch(): number {
    return this.current.producerEpoch;
  }

  /** The whole current state (immutable). */
  get snapshot(): TxnTransition {
    return this.current;
  }

  /** The state of the transition being written, if any. */
  get pendingState(): TransactionState | undefined {
    return this.pending?.state;
  }

  // ---------------------------------------------------------------------------------------------
  // InitProducerId

  prepareInitProducerId(request: InitProducerIdRequest, context: TxnContext, serverTransactionVersion: TransactionVersion): InitProducerIdDecision {
    const { expected } = request;
    if (this.pending !== undefined) return reply(ErrorCode.CONCURRENT_TRANSACTIONS);
    if (expected !== undefined && !this.isValidExpectedProducerId(expected)) return reply(ErrorCode.PRODUCER_FENCED);
    const now = this.current;
    switch (now.state) {
      case 'PrepareCommit':
      case 'PrepareAbort':
        return reply(ErrorCode.CONCURRENT_TRANSACTIONS);
      case 'Ongoing':
        // Fence the running producer and abort its transaction; the caller answers
        // CONCURRENT_TRANSACTIONS and the client's retry gets the epoch after.
        return { kind: 'append', transition: this.prepareFenceAndAbort(context, serverTransactionVersion), fence: true };
      case 'Empty':
      case 'CompleteCommit':
      case 'CompleteAbort':
        break;
      case 'Dead':
      case 'PrepareEpochFence':
        throw new Error(`transactional id ${this.transactionalId} is in state ${now.state}, which is never persisted`);
    }

    if (isEpochExhausted(now.producerEpoch) && (expected === undefined || expected.producerEpoch === now.producerEpoch)) {
      return this.withAllocation(() => {
        const producerId = context.allocateProducerId();
        return {
          kind: 'append',
          fence: false,
          transition: this.begin({
            ...this.idleTransition(request.transactionTimeoutMs, context.nowMs),
            producerId,
            producerEpoch: 0,
            lastProducerEpoch: expected === undefined ? NO_PRODUCER_EPOCH : now.producerEpoch,
          }),
        };
      });
    }

    let producerEpoch: number;
    let lastProducerEpoch: number;
    if (expected === undefined) {
      producerEpoch = now.producerEpoch + 1;
      lastProducerEpoch = NO_PRODUCER_EPOCH;
    } else if (now.producerEpoch === NO_PRODUCER_EPOCH || expected.producerEpoch === now.producerEpoch) {
      // The producer continues after an error, and no other instance has initialised since.
      producerEpoch = now.producerEpoch + 1;
      lastProducerEpoch = now.producerEpoch;
    } else if (expected.producerEpoch === now.lastProducerEpoch) {
      // A retry of a bump this producer already got: the same epoch again.
      producerEpoch = now.producerEpoch;
      lastProducerEpoch = now.lastProducerEpoch;
    } else {
      return reply(ErrorCode.PRODUCER_FENCED);
    }
    return {
      kind: 'append',
      fence: false,
      transition: this.begin({ ...this.idleTransition(request.transactionTimeoutMs, context.nowMs), producerEpoch, lastProducerEpoch }),
    };
  }

  /**
   * KIP-360: a client may name the producer id it holds when it is the current one, when this id
   * has no epoch yet, or when it is the id just rotated away from with its last (exhausted) epoch.
   */
  private isValidExpectedProducerId(expected: ProducerIdAndEpoch): boolean {
    const now = this.current;
    return (
      now.producerEpoch === NO_PRODUCER_EPOCH ||
      expected.producerId === now.producerId ||
      (expected.producerId === now.previousProducerId && isEpochExhausted(expected.producerEpoch))
    );
  }

  private idleTransition(transactionTimeoutMs: number, nowMs: number): TxnTransition {
    return {
      ...this.current,
      state: 'Empty',
      transactionTimeoutMs,
      partitions: TopicPartitionSet.EMPTY,
      startTimestampMs: -1,
      lastUpdateTimestampMs: nowMs,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // AddPartitionsToTxn / AddOffsetsToTxn, and KIP-890 part 1 verification

  /**
   * Whether this id is held by `producerId`. An id whose first InitProducerId was never persisted
   * has no epoch and is held by nobody (Kafka would fail an assertion on such a request).
   */
  private isMappedTo(producerId: bigint): boolean {
    return this.current.producerEpoch !== NO_PRODUCER_EPOCH && this.current.producerId === producerId;
  }

  prepareAddPartitions(request: AddPartitionsRequest, nowMs: number): AddPartitionsDecision {
    const now = this.current;
    if (!this.isMappedTo(request.producerId)) return reply(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    // The highest epoch is never handed out (see PRODUCER_EPOCH_MAX): whoever claims it is fenced.
    if (now.producerEpoch !== request.producerEpoch || request.producerEpoch >= PRODUCER_EPOCH_MAX) return reply(ErrorCode.PRODUCER_FENCED);
    if (this.pending !== undefined) return reply(ErrorCode.CONCURRENT_TRANSACTIONS);
    if (now.state === 'PrepareCommit' || now.state === 'PrepareAbort') return reply(ErrorCode.CONCURRENT_TRANSACTIONS);
    const partitions = [...request.partitions];
    if (now.state === 'Ongoing' && now.partitions.containsAll(partitions)) return reply(ErrorCode.NONE);
    const starting = now.state === 'Empty' || now.state === 'CompleteCommit' || now.state === 'CompleteAbort';
    return {
      kind: 'append',
      transition: this.begin({
        ...now,
        state: 'Ongoing',
        partitions: now.partitions.with(partitions),
        startTimestampMs: starting ? nowMs : now.startTimestampMs,
        lastUpdateTimestampMs: nowMs,
        clientTransactionVersion: request.clientTransactionVersion,
      }),
    };
  }

  /**
   * Whether each partition is part of the running transaction of this producer (KIP-890 part 1:
   * a partition leader asks before accepting transactional records or offsets). Writes nothing.
   */
  verifyPartitions(request: ProducerIdAndEpoch & { readonly partitions: Iterable<TxnPartition> }): PartitionVerification[] {
    const now = this.current;
    let errorCode: number | undefined;
    if (!this.isMappedTo(request.producerId)) errorCode = ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    else if (now.producerEpoch !== request.producerEpoch || request.producerEpoch >= PRODUCER_EPOCH_MAX) errorCode = ErrorCode.PRODUCER_FENCED;
    else if (now.state === 'PrepareCommit' || now.state === 'PrepareAbort') errorCode = ErrorCode.CONCURRENT_TRANSACTIONS;
    return [...request.partitions].map(({ topic, partition }) => ({
      topic,
      partition,
      errorCode: errorCode ?? (now.partitions.has(topic, partition) ? ErrorCode.NONE : ErrorCode.TRANSACTION_ABORTABLE),
    }));
  }

  // ---------------------------------------------------------------------------------------------
  // EndTxn

  prepareEndTransaction(request: EndTxnRequest, context: TxnContext): EndTxnDecision {
    // No client is ever given the highest epoch (it is kept for fencing), so one claiming it is a zombie or a liar.
    if (request.producerEpoch >= PRODUCER_EPOCH_MAX) {
      return this.isMappedTo(request.producerId) ? endReply(ErrorCode.PRODUCER_FENCED) : endReply(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    }
    return supportsEpochBump(request.clientTransactionVersion) ? this.endTransactionBumping(request, context) : this.endTransactionClassic(request, context);
  }

  /** Transaction versions 0 and 1: the epoch stays; a retry is recognised by the state alone. */
  private endTransactionClassic(request: EndTxnRequest, context: TxnContext): EndTxnDecision {
    const now = this.current;
    if (!this.isMappedTo(request.producerId)) return endReply(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    if (now.producerEpoch !== request.producerEpoch) return endReply(ErrorCode.PRODUCER_FENCED);
    if (this.pending !== undefined) return endReply(ErrorCode.CONCURRENT_TRANSACTIONS);
    switch (now.state) {
      case 'Ongoing':
        return {
          kind: 'append',
          transition: this.begin({
            ...now,
            state: request.commit ? 'PrepareCommit' : 'PrepareAbort',
            nextProducerId: NO_PRODUCER_ID,
            lastUpdateTimestampMs: context.nowMs,
            clientTransactionVersion: request.clientTransactionVersion,
          }),
        };
      case 'CompleteCommit':
        return endReply(request.commit ? ErrorCode.NONE : ErrorCode.INVALID_TXN_STATE);
      case 'CompleteAbort':
        return endReply(request.commit ? ErrorCode.INVALID_TXN_STATE : ErrorCode.NONE);
      case 'PrepareCommit':
        return endReply(request.commit ? ErrorCode.CONCURRENT_TRANSACTIONS : ErrorCode.INVALID_TXN_STATE);
      case 'PrepareAbort':
        return endReply(request.commit ? ErrorCode.INVALID_TXN_STATE : ErrorCode.CONCURRENT_TRANSACTIONS);
      case 'Empty':
        return endReply(ErrorCode.INVALID_TXN_STATE);
      case 'Dead':
      case 'PrepareEpochFence':
        throw new Error(`transactional id ${this.transactionalId} is in state ${now.state}, which is never persisted`);
    }
  }

  /**
   * Transaction version 2 (KIP-890 part 2): every end bumps the epoch, so each transaction has its
   * own epoch and a delayed EndTxn of an earlier transaction (KAFKA-17754) carries an epoch that
   * can only match as a retry of that earlier end — never the running transaction.
   *
   *                  | Abort          | Commit
   *                  | retry | current| retry | current      retry = the epoch just before the current one
   *   Empty          | FENCED| bump   | FENCED| INVALID_TXN_STATE
   *   CompleteAbort  | NONE  | bump   | ITS   | ITS
   *   CompleteCommit | ITS   | bump   | NONE  | ITS
   */
  private endTransactionBumping(request: EndTxnRequest, context: TxnContext): EndTxnDecision {
    const now = this.current;
    // The end of the previous transaction rotated the producer id; this is its retry.
    const retryOnOverflow = now.previousProducerId === request.producerId && request.producerEpoch === PRODUCER_EPOCH_MAX - 1 && now.producerEpoch === 0;
    // defter: the epoch just above the request's is a retry only if a version-2 end made it (the
    // version is persisted with the state); after a fence that bumped once it is a fenced producer.
    const retryOnEpochBump = supportsEpochBump(now.clientTransactionVersion) && now.producerEpoch === request.producerEpoch + 1;
    const isRetry = retryOnEpochBump || retryOnOverflow;
    let validEpoch: boolean;
    switch (now.state) {
      case 'PrepareCommit':
      case 'PrepareAbort':
        validEpoch = retryOnEpochBump;
        break;
      case 'CompleteCommit':
      case 'CompleteAbort':
        validEpoch = isRetry || request.producerEpoch === now.producerEpoch;
        break;
      default:
        validEpoch = request.producerEpoch === now.producerEpoch;
    }
    if (!this.isMappedTo(request.producerId) && !retryOnOverflow) return endReply(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    if (!validEpoch) return endReply(ErrorCode.PRODUCER_FENCED);
    if (this.pending !== undefined) return endReply(ErrorCode.CONCURRENT_TRANSACTIONS);

    const end = (state: 'PrepareCommit' | 'PrepareAbort', noPartitionAdded: boolean): EndTxnDecision =>
      this.withAllocation(() => {
        const nextProducerId = isEpochExhausted(now.producerEpoch) ? context.allocateProducerId() : NO_PRODUCER_ID;
        return {
          kind: 'append',
          transition: this.begin({
            ...now,
            state,
            producerEpoch: now.producerEpoch + 1,
            lastProducerEpoch: now.producerEpoch,
            nextProducerId,
            startTimestampMs: noPartitionAdded ? context.nowMs : now.startTimestampMs,
            lastUpdateTimestampMs: context.nowMs,
            clientTransactionVersion: request.clientTransactionVersion,
          }),
        };
      }, (errorCode) => endReply(errorCode));
    const invalidState = endReply(ErrorCode.INVALID_TXN_STATE);

    switch (now.state) {
      case 'Ongoing':
        return end(request.commit ? 'PrepareCommit' : 'PrepareAbort', false);
      case 'CompleteCommit':
        if (request.commit) return isRetry ? endReply(ErrorCode.NONE, now.producerId, now.producerEpoch) : invalidState;
        return isRetry ? invalidState : end('PrepareAbort', true);
      case 'CompleteAbort':
        if (request.commit) return invalidState;
        return isRetry ? endReply(ErrorCode.NONE, now.producerId, now.producerEpoch) : end('PrepareAbort', true);
      case 'PrepareCommit':
        return request.commit ? endReply(ErrorCode.CONCURRENT_TRANSACTIONS) : invalidState;
      case 'PrepareAbort':
        return request.commit ? invalidState : endReply(ErrorCode.CONCURRENT_TRANSACTIONS);
      case 'Empty':
        return request.commit ? invalidState : end('PrepareAbort', true);
      case 'Dead':
      case 'PrepareEpochFence':
        throw new Error(`transactional id ${this.transactionalId} is in state ${now.state}, which is never persisted`);
    }
  }

  /**
   * After a PrepareCommit/PrepareAbort is persisted: the transition to CompleteCommit/CompleteAbort,
   * pending until the markers are written (new requests get CONCURRENT_TRANSACTIONS meanwhile).
   * Its producer id and epoch are what EndTxn v5 answers (a new producer id when the epochs ran out).
   */
  prepareComplete(nowMs: number): TxnTransition {
    const now = this.current;
    if (this.pending !== undefined || (now.state !== 'PrepareCommit' && now.state !== 'PrepareAbort')) {
      throw new Error(`transactional id ${this.transactionalId}: cannot complete from ${now.state} (pending ${this.pending?.state ?? 'none'})`);
    }
    this.failedEpochFence = false;
    const rotate = supportsEpochBump(now.clientTransactionVersion) && now.nextProducerId !== NO_PRODUCER_ID;
    return this.begin({
      ...now,
      state: now.state === 'PrepareCommit' ? 'CompleteCommit' : 'CompleteAbort',
      producerId: rotate ? now.nextProducerId : now.producerId,
      producerEpoch: rotate ? 0 : now.producerEpoch,
      nextProducerId: NO_PRODUCER_ID,
      partitions: TopicPartitionSet.EMPTY,
      lastUpdateTimestampMs: nowMs,
    });
  }

  /** A marker for this partition is written: the partition no longer waits (only in Prepare*). */
  removePartition(topic: string, partition: number): void {
    const now = this.current;
    if (now.state !== 'PrepareCommit' && now.state !== 'PrepareAbort') {
      throw new Error(`transactional id ${this.transactionalId}: a marker was written in state ${now.state}`);
    }
    this.current = { ...now, partitions: now.partitions.without(topic, partition) };
  }

  // ---------------------------------------------------------------------------------------------
  // Timeouts and expiry

  /** An Ongoing transaction older than its timeout (`transaction.timeout.ms`), with nothing in flight. */
  isTimedOut(nowMs: number): boolean {
    const now = this.current;
    return this.pending === undefined && now.state === 'Ongoing' && now.startTimestampMs + now.transactionTimeoutMs < nowMs;
  }

  /**
   * The coordinator's abort of a timed-out transaction: fences the producer (its epoch is refused
   * from now on, even if the write fails) and returns the PrepareAbort transition to persist, or
   * undefined when the transaction has not timed out (or a transition is in flight).
   */
  prepareAbortOnTimeout(context: TxnContext, serverTransactionVersion: TransactionVersion): TxnTransition | undefined {
    if (!this.isTimedOut(context.nowMs)) return undefined;
    return this.prepareFenceAndAbort(context, serverTransactionVersion);
  }

  /** Idle longer than `transactional.id.expiration.ms` in a state that allows it, nothing in flight. */
  isExpired(nowMs: number, transactionalIdExpirationMs: number): boolean {
    return this.pending === undefined && isExpirationAllowed(this.current.state) && this.current.lastUpdateTimestampMs <= nowMs - transactionalIdExpirationMs;
  }

  /** The expiry of this id: persist a tombstone, then drop the id (do not `completeTransition` it). */
  prepareDead(): TxnTransition {
    return this.begin({ ...this.current, state: 'Dead', partitions: TopicPartitionSet.EMPTY });
  }

  /**
   * Fences the current producer of an Ongoing transaction and prepares its abort. As in Kafka the
   * bump is applied in memory at once (lastProducerEpoch -1: nobody may claim a retry), and with
   * transaction version 2 the abort bumps once more, so the fenced epoch is never one below the
   * final one (which a version-2 EndTxn would take for a retry). defter: when that second bump
   * would pass the highest epoch (Kafka would overflow), the abort is written as version 0 (one
   * bump); the client's next InitProducerId then moves to a new producer id.
   */
  private prepareFenceAndAbort(context: TxnContext, serverTransactionVersion: TransactionVersion): TxnTransition {
    const now = this.current;
    if (now.state !== 'Ongoing' || this.pending !== undefined) throw new Error(`transactional id ${this.transactionalId}: cannot fence in ${now.state}`);
    // A retry of a failed fence does not bump again (so it works even at the highest epoch).
    const fencedEpoch = this.failedEpochFence ? now.producerEpoch : now.producerEpoch + 1;
    if (fencedEpoch > PRODUCER_EPOCH_MAX) throw new Error(`transactional id ${this.transactionalId}: epoch ${now.producerEpoch} cannot be fenced`);
    const bumping = supportsEpochBump(serverTransactionVersion) && fencedEpoch < PRODUCER_EPOCH_MAX;
    this.current = { ...now, producerEpoch: fencedEpoch, lastProducerEpoch: NO_PRODUCER_EPOCH };
    const transition = this.begin({
      ...this.current,
      state: 'PrepareAbort',
      producerEpoch: bumping ? fencedEpoch + 1 : fencedEpoch,
      lastProducerEpoch: bumping ? fencedEpoch : NO_PRODUCER_EPOCH,
      nextProducerId: NO_PRODUCER_ID,
      lastUpdateTimestampMs: context.nowMs,
      clientTransactionVersion: bumping ? serverTransactionVersion : 0,
    });
    this.pendingIsFence = true;
    return transition;
  }

  // ---------------------------------------------------------------------------------------------
  // Persisting transitions

  /** Records `transition` as in flight; every prepare goes through here. */
  private begin(transition: TxnTransition): TxnTransition {
    if (this.pending !== undefined) throw new Error(`transactional id ${this.transactionalId}: a transition to ${this.pending.state} is already in flight`);
    if (!isValidTransition(this.current.state, transition.state)) {
      throw new Error(`transactional id ${this.transactionalId}: ${this.current.state} → ${transition.state} is not a valid transition`);
    }
    if (transition.producerId < 0n) throw new Error(`transactional id ${this.transactionalId}: producer id ${transition.producerId}`);
    if (transition.state !== 'Dead' && (transition.producerEpoch < 0 || transition.producerEpoch > PRODUCER_EPOCH_MAX)) {
      throw new Error(`transactional id ${this.transactionalId}: producer epoch ${transition.producerEpoch}`);
    }
    const complete: TxnTransition = { ...transition, previousProducerId: this.current.producerId };
    this.pending = complete;
    this.pendingIsFence = false;
    return complete;
  }

  /** `transition` (the one in flight) is persisted: it becomes the current state. */
  completeTransition(transition: TxnTransition): void {
    if (this.pending !== transition) throw new Error(`transactional id ${this.transactionalId}: completing a transition that is not in flight`);
    if (transition.state === 'Dead') throw new Error(`transactional id ${this.transactionalId}: an expired id is removed, not completed`);
    this.assertEpochMove(transition);
    this.current = transition;
    this.pending = undefined;
    this.pendingIsFence = false;
  }

  /** Writing `transition` failed: nothing changes, except that a fence already applied stays (and is not repeated). */
  abortTransition(transition: TxnTransition): void {
    if (this.pending !== transition) throw new Error(`transactional id ${this.transactionalId}: aborting a transition that is not in flight`);
    if (this.pendingIsFence) this.failedEpochFence = true;
    this.pending = undefined;
    this.pendingIsFence = false;
  }

  /** Kafka's completeTransitionTo checks: an epoch moves by one bump at most, or restarts at 0 with a new producer id. */
  private assertEpochMove(transition: TxnTransition): void {
    const now = this.current;
    const sameProducer = transition.producerId === now.producerId;
    const ok = sameProducer
      ? transition.producerEpoch === now.producerEpoch || transition.producerEpoch === now.producerEpoch + 1
      : transition.producerEpoch === 0;
    if (!ok) {
      throw new Error(
        `transactional id ${this.transactionalId}: (${now.producerId}, ${now.producerEpoch}) → (${transition.producerId}, ${transition.producerEpoch}) is not a valid epoch move`,
      );
    }
  }

  /** Runs a step that may allocate a producer id; an allocation failure becomes the client's error. */
  private withAllocation<T>(step: () => T, onError: (errorCode: number) => T = (errorCode) => reply(errorCode) as T): T {
    try {
      return step();
    } catch (error) {
      if (error instanceof KafkaError) return onError(error.code);
      throw error;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Admin views

  /** DescribeTransactions' answer; undefined while the id is being expired (TRANSACTIONAL_ID_NOT_FOUND). */
  describe(): TransactionDescription | undefined {
    if (this.pending?.state === 'Dead') return undefined;
    const now = this.current;
    return {
      state: now.state,
      producerId: now.producerId,
      producerEpoch: now.producerEpoch,
      transactionTimeoutMs: now.transactionTimeoutMs,
      transactionStartTimeMs: now.startTimestampMs,
      topics: now.partitions.toTopics(),
    };
  }

  /** One row of ListTransactions. */
  listing(): TransactionListing {
    return { transactionalId: this.transactionalId, producerId: this.current.producerId, transactionState: this.current.state };
  }

  /** Whether ListTransactions with `filter` lists this id (never while it is being expired). */
  matchesListFilter(filter: ListTransactionsFilter, nowMs: number): boolean {
    const now = this.current;
    if (this.pending?.state === 'Dead') return false;
    if (filter.producerIds.size > 0 && !filter.producerIds.has(now.producerId)) return false;
    if (filter.states !== null && !filter.states.has(now.state)) return false;
    if (filter.durationFilterMs >= 0 && nowMs - now.startTimestampMs <= filter.durationFilterMs) return false;
    return true;
  }
}

/** The value to persist for a transition. */
export function toLogValue(transition: TxnTransition): TransactionLogValue {
  return {
    producerId: transition.producerId,
    previousProducerId: transition.previousProducerId,
    nextProducerId: transition.nextProducerId,
    producerEpoch: transition.producerEpoch,
    transactionTimeoutMs: transition.transactionTimeoutMs,
    state: transition.state,
    partitions: transition.state === 'Empty' ? [] : transition.partitions.toTopics(),
    lastUpdateTimestampMs: transition.lastUpdateTimestampMs,
    startTimestampMs: transition.startTimestampMs,
    clientTransactionVersion: transition.clientTransactionVersion,
  };
}
