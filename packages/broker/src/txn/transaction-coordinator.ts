import { setTimeout as delay } from 'node:timers/promises';
import { ErrorCode } from '@defter/protocol';
import type { Clock } from '@defter/log';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import { errorCodeOf, errorMessageOf } from '../errors.js';
import { OFFSETS_TOPIC } from '../group/offset-store.js';
import { intervalTicker, type Ticker } from '../replica/delayed-operations.js';
import type { TxnMarkerParams } from '../replica/replica-manager.js';
import type { ProducerIdManager } from './producer-id-manager.js';
import type { TxnPartition } from './topic-partition-set.js';
import { TRANSACTION_STATE_TOPIC, type TransactionStateLog } from './transaction-state-log.js';
import type { TransactionVersion } from './transaction-state.js';
import {
  InvalidTransactionLogValueError,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  TransactionMetadata,
  isValidTransactionTimeout,
  parseStateFilters,
  toLogValue,
  type TransactionDescription,
  type TransactionListing,
  type TxnContext,
  type TxnTransition,
} from './transaction-metadata.js';
import type { PartitionInTransaction, TransactionVerifier } from './transaction-verifier.js';

/*
 * The transaction coordinator of this node (every transactional id is coordinated here): the
 * request side of KIP-98/KIP-447 over `TransactionMetadata` (the per-id state machine, no I/O),
 * `TransactionStateLog` (`__transaction_state`) and the partitions' logs (markers).
 *
 * A transaction ends in two writes: PrepareCommit/PrepareAbort is persisted (from then on the
 * outcome is decided, and the client is answered), the markers are written to every partition of
 * the transaction, and CompleteCommit/CompleteAbort is persisted. Marker writing and the final
 * write retry until they succeed; a broker restarted in between finds the Prepare* state in
 * `__transaction_state` and finishes the job (`open`).
 */

/** The coordinator epoch markers carry: one node, one coordinator, no elections. */
export const COORDINATOR_EPOCH = 0;
/** Wait between attempts to write a marker or a completion that failed. */
export const MARKER_RETRY_BACKOFF_MS_DEFAULT = 100;
/**
 * How long a request for an id whose previous transaction is still being completed waits for it
 * before answering CONCURRENT_TRANSACTIONS. Clients back off far longer than the markers take
 * (kafkajs ~300 ms), so answering at once would slow back-to-back transactions to a crawl.
 */
export const COMPLETION_WAIT_MS_DEFAULT = 1_000;
/**
 * The transaction version this server runs its own decisions with (timeouts, fences). Clients
 * that speak version 2 (EndTxn v5) get its per-transaction epoch bumps; the server does not
 * advertise the `transaction.version` feature (Produce v12 is not served), so the clients of
 * today (kafkajs, librdkafka, Java < 4) run version 0.
 */
const SERVER_TRANSACTION_VERSION: TransactionVersion = 0;

/** One commit or abort marker for one partition, as the replica manager writes it. */
export type TxnMarker = TxnMarkerParams;

/** Writes markers into partitions (the replica manager); resolves with an error code. */
export interface TransactionMarkerWriter {
  writeTxnMarker(marker: TxnMarker): Promise<number>;
}

/** The group coordinator's side of transactional offsets (KIP-98's TxnOffsetCommit). */
export interface TransactionalOffsets {
  /** The `__consumer_offsets` partition a group's offsets live in. */
  partitionFor(groupId: string): number;
  ensureTopic(): Promise<void>;
  /** After the marker landed in that `__consumer_offsets` partition: make the producer's pending offsets visible (commit) or drop them. */
  completeTransaction(offsetsPartition: number, producerId: bigint, commit: boolean): void | Promise<void>;
}

export interface TransactionCoordinatorOptions {
  config: BrokerConfig;
  clock: Clock;
  logger: Logger;
  stateLog: TransactionStateLog;
  producerIds: ProducerIdManager;
  markers: TransactionMarkerWriter;
  offsets: TransactionalOffsets;
  /** The periodic checks' timer (tests drive it by hand). */
  ticker?: Ticker;
  markerRetryBackoffMs?: number;
  completionWaitMs?: number;
}

export interface InitProducerIdParams {
  readonly transactionalId: string | null;
  readonly transactionTimeoutMs: number;
  /** KIP-360 (v3+): the producer id and epoch the client holds, -1/-1 when none. */
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

export interface ProducerIdResult {
  readonly errorCode: number;
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

export interface AddPartitionsParams {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly partitions: readonly TxnPartition[];
  readonly clientTransactionVersion: TransactionVersion;
}

export interface EndTxnParams {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly commit: boolean;
  readonly clientTransactionVersion: TransactionVersion;
}

export interface ListTransactionsParams {
  readonly stateFilters: readonly string[];
  readonly producerIdFilters: readonly bigint[];
  /** -1: none. */
  readonly durationFilterMs: number;
}

const failed = (errorCode: number): ProducerIdResult => ({ errorCode, producerId: NO_PRODUCER_ID, producerEpoch: NO_PRODUCER_EPOCH });

export class TransactionCoordinator implements TransactionVerifier {
  private readonly transactions = new Map<string, TransactionMetadata>();
  /** Markers and completions under way, awaited by close(). */
  private readonly completions = new Set<Promise<void>>();
  /** The completion under way per transactional id (markers, then CompleteCommit/CompleteAbort). */
  private readonly completing = new Map<string, Promise<void>>();
  private readonly stopTicks: Array<() => void> = [];
  private readonly markerRetryBackoffMs: number;
  private readonly completionWaitMs: number;
  private closed = false;

  private constructor(private readonly options: TransactionCoordinatorOptions) {
    this.markerRetryBackoffMs = options.markerRetryBackoffMs ?? MARKER_RETRY_BACKOFF_MS_DEFAULT;
    this.completionWaitMs = options.completionWaitMs ?? COMPLETION_WAIT_MS_DEFAULT;
  }

  /**
   * Loads every transactional id from `__transaction_state`, finishes the transactions a previous
   * run left in PrepareCommit/PrepareAbort (in the background: markers, then completion), and
   * starts the periodic abort of timed-out transactions and expiry of idle ids.
   */
  static async open(options: TransactionCoordinatorOptions): Promise<TransactionCoordinator> {
    const coordinator = new TransactionCoordinator(options);
    await coordinator.load();
    const { config } = options;
    coordinator.every(config.transactionAbortTimedOutTransactionCleanupIntervalMs, () => coordinator.abortTimedOutTransactions());
    coordinator.every(config.transactionRemoveExpiredTransactionCleanupIntervalMs, () => coordinator.expireTransactionalIds());
    return coordinator;
  }

  /** A periodic check; a run still going when the next tick comes is not doubled. */
  private every(intervalMs: number, check: () => Promise<unknown>): void {
    const ticker = this.options.ticker ?? intervalTicker;
    let running = false;
    const stop = ticker.start(intervalMs, () => {
      if (running) return;
      running = true;
      check()
        .catch((error: unknown) => this.options.logger.error({ err: error }, 'a periodic transaction check failed'))
        .finally(() => {
          running = false;
        });
    });
    this.stopTicks.push(stop);
  }

  private async load(): Promise<void> {
    const { stateLog, logger } = this.options;
    const states = await stateLog.load();
    let finishing = 0;
    for (const [transactionalId, value] of states) {
      let metadata: TransactionMetadata;
      try {
        metadata = TransactionMetadata.fromLogValue(transactionalId, value);
      } catch (error) {
        if (!(error instanceof InvalidTransactionLogValueError)) throw error;
        logger.warn({ transactionalId, reason: error.message }, 'skipping an invalid transaction state');
        continue;
      }
      this.transactions.set(transactionalId, metadata);
      if (metadata.state === 'PrepareCommit' || metadata.state === 'PrepareAbort') {
        finishing++;
        this.finish(metadata);
      }
    }
    if (states.size > 0) logger.info({ transactionalIds: this.transactions.size, finishing }, 'loaded transaction state');
  }

  // ---- InitProducerId -------------------------------------------------------------------

  /**
   * A producer id and epoch: a fresh id for an idempotent producer (no transactional id); for a
   * transactional one, its id with the epoch bumped, which fences every older instance (an
   * Ongoing transaction of theirs is aborted first: CONCURRENT_TRANSACTIONS until it is).
   */
  async initProducerId(params: InitProducerIdParams): Promise<ProducerIdResult> {
    const { transactionalId } = params;
    if (this.closed) return failed(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    try {
      if (transactionalId === null) {
        return { errorCode: ErrorCode.NONE, producerId: this.options.producerIds.generateProducerId(), producerEpoch: 0 };
      }
      if (transactionalId === '') return failed(ErrorCode.INVALID_REQUEST);
      if (!isValidTransactionTimeout(params.transactionTimeoutMs, this.options.config.transactionMaxTimeoutMs)) {
        return failed(ErrorCode.INVALID_TRANSACTION_TIMEOUT);
      }
      await this.awaitCompletion(transactionalId);
      let metadata = this.transactions.get(transactionalId);
      if (metadata === undefined) {
        await this.options.stateLog.ensureTopic();
        const producerId = await this.options.producerIds.allocate();
        // Another request for the same id may have created it meanwhile.
        metadata = this.transactions.get(transactionalId);
        if (metadata === undefined) {
          metadata = TransactionMetadata.create(transactionalId, producerId, params.transactionTimeoutMs, this.options.clock.nowMs());
          this.transactions.set(transactionalId, metadata);
        }
      }
      const expected = params.producerId === NO_PRODUCER_ID ? undefined : { producerId: params.producerId, producerEpoch: params.producerEpoch };
      const decision = metadata.prepareInitProducerId(
        { transactionTimeoutMs: params.transactionTimeoutMs, expected },
        this.txnContext(),
        SERVER_TRANSACTION_VERSION,
      );
      if (decision.kind === 'reply') return failed(decision.errorCode);
      const errorCode = await this.persist(metadata, decision.transition);
      if (errorCode !== ErrorCode.NONE) return failed(errorCode);
      if (decision.fence) {
        this.finish(metadata);
        return failed(ErrorCode.CONCURRENT_TRANSACTIONS);
      }
      return { errorCode: ErrorCode.NONE, producerId: decision.transition.producerId, producerEpoch: decision.transition.producerEpoch };
    } catch (error) {
      return failed(this.codeFor(error, 'InitProducerId', transactionalId));
    }
  }

  // ---- AddPartitionsToTxn / AddOffsetsToTxn ---------------------------------------------

  /** Adds partitions to the producer's transaction (starting one); the caller has checked that they exist. */
  async addPartitions(params: AddPartitionsParams): Promise<number> {
    if (this.closed) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    await this.awaitCompletion(params.transactionalId);
    const metadata = this.transactions.get(params.transactionalId);
    if (metadata === undefined) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    try {
      const decision = metadata.prepareAddPartitions(params, this.options.clock.nowMs());
      if (decision.kind === 'reply') return decision.errorCode;
      return await this.persist(metadata, decision.transition);
    } catch (error) {
      return this.codeFor(error, 'AddPartitionsToTxn', params.transactionalId);
    }
  }

  /** AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction. */
  async addOffsets(params: Omit<AddPartitionsParams, 'partitions'> & { readonly groupId: string }): Promise<number> {
    try {
      await this.options.offsets.ensureTopic();
    } catch (error) {
      return this.codeFor(error, 'AddOffsetsToTxn', params.transactionalId);
    }
    const partition = this.options.offsets.partitionFor(params.groupId);
    return this.addPartitions({ ...params, partitions: [{ topic: OFFSETS_TOPIC, partition }] });
  }

  /** KIP-890 part 1: whether a partition is in the producer's running transaction (records and offsets are refused otherwise). */
  verifyPartition(request: PartitionInTransaction): number {
    if (this.closed) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const metadata = this.transactions.get(request.transactionalId);
    if (metadata === undefined) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    const [verification] = metadata.verifyPartitions({ ...request, partitions: [{ topic: request.topic, partition: request.partition }] });
    if (verification!.errorCode !== ErrorCode.NONE) return verification!.errorCode;
    // An end is being written: a record accepted now could land after the partition's marker and
    // open a transaction that nobody ends. The client retries into its next transaction.
    const pending = metadata.pendingState;
    if (pending === 'PrepareCommit' || pending === 'PrepareAbort') return ErrorCode.CONCURRENT_TRANSACTIONS;
    return ErrorCode.NONE;
  }

  // ---- EndTxn ---------------------------------------------------------------------------

  /**
   * Commits or aborts the producer's transaction: answers once the decision (PrepareCommit /
   * PrepareAbort) is persisted; markers and the completion follow in the background. The producer
   * id and epoch are what EndTxn v5 returns (the bumped epoch under transaction version 2).
   */
  async endTransaction(params: EndTxnParams): Promise<ProducerIdResult> {
    if (this.closed) return failed(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    await this.awaitCompletion(params.transactionalId);
    const metadata = this.transactions.get(params.transactionalId);
    if (metadata === undefined) return failed(ErrorCode.INVALID_PRODUCER_ID_MAPPING);
    try {
      const decision = metadata.prepareEndTransaction(params, this.txnContext());
      if (decision.kind === 'reply') return { errorCode: decision.errorCode, producerId: decision.producerId, producerEpoch: decision.producerEpoch };
      const errorCode = await this.persist(metadata, decision.transition);
      if (errorCode !== ErrorCode.NONE) return failed(errorCode);
      const completion = this.finish(metadata);
      return { errorCode: ErrorCode.NONE, producerId: completion.producerId, producerEpoch: completion.producerEpoch };
    } catch (error) {
      return failed(this.codeFor(error, 'EndTxn', params.transactionalId));
    }
  }

  // ---- admin ----------------------------------------------------------------------------

  /** DescribeTransactions: undefined for an id this coordinator does not know (TRANSACTIONAL_ID_NOT_FOUND). */
  describe(transactionalId: string): TransactionDescription | undefined {
    return this.transactions.get(transactionalId)?.describe();
  }

  /** ListTransactions: the ids matching every filter given, and the state filters no state is called. */
  list(params: ListTransactionsParams): { transactions: TransactionListing[]; unknownStateFilters: string[] } {
    const { states, unknownStateFilters } = parseStateFilters(params.stateFilters);
    const filter = { states, producerIds: new Set(params.producerIdFilters), durationFilterMs: params.durationFilterMs };
    const nowMs = this.options.clock.nowMs();
    const transactions: TransactionListing[] = [];
    for (const metadata of this.transactions.values()) {
      if (metadata.matchesListFilter(filter, nowMs)) transactions.push(metadata.listing());
    }
    return { transactions, unknownStateFilters };
  }

  /** Transactional ids known, for metrics and tests. */
  get size(): number {
    return this.transactions.size;
  }

  // ---- periodic checks ------------------------------------------------------------------

  /** Aborts every Ongoing transaction older than its timeout (fencing its producer). */
  async abortTimedOutTransactions(): Promise<number> {
    if (this.closed) return 0;
    let aborted = 0;
    const context = this.txnContext();
    for (const metadata of [...this.transactions.values()]) {
      const transition = metadata.prepareAbortOnTimeout(context, SERVER_TRANSACTION_VERSION);
      if (transition === undefined) continue;
      this.options.logger.info({ transactionalId: metadata.transactionalId, producerId: String(transition.producerId) }, 'aborting a timed-out transaction');
      if ((await this.persist(metadata, transition)) === ErrorCode.NONE) {
        this.finish(metadata);
        aborted++;
      }
    }
    return aborted;
  }

  /** Forgets ids idle longer than transactional.id.expiration.ms (a tombstone in `__transaction_state`). */
  async expireTransactionalIds(): Promise<number> {
    if (this.closed) return 0;
    let expired = 0;
    const nowMs = this.options.clock.nowMs();
    for (const metadata of [...this.transactions.values()]) {
      if (!metadata.isExpired(nowMs, this.options.config.transactionalIdExpirationMs)) continue;
      const transition = metadata.prepareDead();
      try {
        await this.options.stateLog.write(metadata.transactionalId, null);
        this.transactions.delete(metadata.transactionalId);
        expired++;
      } catch (error) {
        metadata.abortTransition(transition);
        this.codeFor(error, 'expiring a transactional id', metadata.transactionalId);
      }
    }
    if (expired > 0) this.options.logger.info({ expired }, 'expired idle transactional ids');
    return expired;
  }

  // ---- lifecycle ------------------------------------------------------------------------

  /** Stops the periodic checks and waits for marker writes under way (a restart finishes the rest). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of this.stopTicks) stop();
    await Promise.allSettled([...this.completions]);
  }

  /** Waits until every transaction being ended has its markers and completion written (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.completions.size > 0) await Promise.allSettled([...this.completions]);
  }

  // ---- helpers --------------------------------------------------------------------------

  /** Waits (bounded) for the id's previous transaction to be completed; past the bound the state machine answers CONCURRENT_TRANSACTIONS. */
  private async awaitCompletion(transactionalId: string): Promise<void> {
    const completion = this.completing.get(transactionalId);
    if (completion === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.completionWaitMs);
    });
    await Promise.race([completion, bound]);
    clearTimeout(timer);
  }

  private txnContext(): TxnContext {
    return { nowMs: this.options.clock.nowMs(), allocateProducerId: () => this.options.producerIds.generateProducerId() };
  }

  /** Writes a transition; the id's state moves on only once it is in the log. */
  private async persist(metadata: TransactionMetadata, transition: TxnTransition): Promise<number> {
    try {
      await this.options.stateLog.write(metadata.transactionalId, toLogValue(transition));
    } catch (error) {
      metadata.abortTransition(transition);
      const code = this.codeFor(error, `persisting ${transition.state}`, metadata.transactionalId);
      // The client retries against a coordinator that can write again.
      return code === ErrorCode.UNKNOWN_SERVER_ERROR || code === ErrorCode.KAFKA_STORAGE_ERROR ? ErrorCode.COORDINATOR_NOT_AVAILABLE : code;
    }
    metadata.completeTransition(transition);
    return ErrorCode.NONE;
  }

  /**
   * The second half of a transaction's end, for an id whose Prepare* state is persisted: the
   * completion (CompleteCommit/CompleteAbort, pending until written) is returned at once; markers
   * go to every partition, then the completion is persisted, each retried until it succeeds.
   */
  private finish(metadata: TransactionMetadata): TxnTransition {
    const prepared = metadata.snapshot;
    const completion = metadata.prepareComplete(this.options.clock.nowMs());
    const commit = prepared.state === 'PrepareCommit';
    const task = (async () => {
      const written = await Promise.all(
        [...prepared.partitions].map(async ({ topic, partition }) => {
          const done = await this.retrying(`writing a ${commit ? 'commit' : 'abort'} marker to ${topic}-${partition}`, metadata, () =>
            this.writeMarker({ topic, partition, producerId: prepared.producerId, producerEpoch: prepared.producerEpoch, coordinatorEpoch: COORDINATOR_EPOCH, commit }),
          );
          if (done) metadata.removePartition(topic, partition);
          return done;
        }),
      );
      // Stopped before every marker landed: the persisted Prepare* state makes the next start finish it.
      if (!written.every(Boolean)) return;
      const persisted = await this.retrying(`persisting ${completion.state}`, metadata, () => this.options.stateLog.write(metadata.transactionalId, toLogValue(completion)));
      if (persisted) metadata.completeTransition(completion);
    })();
    const tracked = task.catch((error: unknown) => {
      this.options.logger.error({ err: error, transactionalId: metadata.transactionalId }, 'ending a transaction failed');
    });
    this.completions.add(tracked);
    this.completing.set(metadata.transactionalId, tracked);
    void tracked.then(() => {
      this.completions.delete(tracked);
      if (this.completing.get(metadata.transactionalId) === tracked) this.completing.delete(metadata.transactionalId);
    });
    return completion;
  }

  private async writeMarker(marker: TxnMarker): Promise<void> {
    const errorCode = await this.options.markers.writeTxnMarker(marker);
    // A partition deleted meanwhile has nothing left to end.
    if (errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) return;
    if (errorCode !== ErrorCode.NONE) throw Object.assign(new Error(`the marker was refused with error ${errorCode}`), { code: errorCode });
    if (marker.topic === OFFSETS_TOPIC) await this.options.offsets.completeTransaction(marker.partition, marker.producerId, marker.commit);
  }

  /** Runs `step` until it succeeds (true) or the coordinator closes (false); a restart takes over from the persisted state. */
  private async retrying(what: string, metadata: TransactionMetadata, step: () => Promise<void>): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      if (this.closed) return false;
      try {
        await step();
        return true;
      } catch (error) {
        if (this.closed) return false;
        const log = attempt === 1 || attempt % 100 === 0 ? 'warn' : 'debug';
        this.options.logger[log]({ transactionalId: metadata.transactionalId, attempt, reason: errorMessageOf(error) }, `${what} failed; retrying`);
        await delay(this.markerRetryBackoffMs);
        if (this.closed) return false;
      }
    }
  }

  /** The error code of a failure; unexpected ones are logged. */
  private codeFor(error: unknown, operation: string, transactionalId: string | null): number {
    const code = errorCodeOf(error);
    if (code === ErrorCode.UNKNOWN_SERVER_ERROR || code === ErrorCode.KAFKA_STORAGE_ERROR) {
      this.options.logger.error({ err: error, transactionalId, topic: TRANSACTION_STATE_TOPIC }, `${operation} failed`);
    }
    return code;
  }
}
