import {
  BATCH_OFFSET_ATTRIBUTES,
  BATCH_OFFSET_PRODUCER_EPOCH,
  BATCH_OFFSET_PRODUCER_ID,
  DECOMPRESSED_BYTES_MAX_DEFAULT,
  ErrorCode,
  encodeControlBatch,
  isTransactional,
} from '@defter/protocol';
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, type Clock, type LogManager, type PartitionLog } from '@defter/log';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import { KafkaError, errorCodeOf, errorMessageOf } from '../errors.js';
import type { MetadataStore } from '../metadata/metadata-store.js';
import type { TransactionVerifier } from '../txn/transaction-verifier.js';
import { DelayedFetch, type WatchedPartition } from './delayed-fetch.js';
import { DelayedOperations, type Ticker } from './delayed-operations.js';
import { batchToAppend, carriesTransactionalBatch } from './produce-records.js';
import { readRanges } from './read-ranges.js';
import { verificationRefusal } from './transaction-verification.js';

/*
 * The replica manager of a single node: every partition's leader (and only replica) is here, so
 * the ISR is this node and acks=all is satisfied once the local append (and the fsync the topic's
 * flush policy asks for) is done. It turns produce, fetch, list-offsets and delete-records into
 * operations on the `PartitionLog`s, and keeps waiting fetches in a bounded purgatory that
 * appends wake up.
 *
 * Idempotence and transactions: each `PartitionLog` keeps its producers' state and refuses or
 * deduplicates batches itself (its `ProducerStateError`s carry the Kafka error name); a retry of
 * one of a producer's last 5 batches is answered NONE with the original offsets, as Kafka 3.x/4.x
 * brokers do (clients handle that, not DUPLICATE_SEQUENCE_NUMBER). Here, in front of the log:
 * a transactional batch needs the request's transactional id, and, when it would open a
 * transaction on the partition, the transaction coordinator's word that the partition was added
 * to that transaction (KIP-890 part 1, `TransactionVerifier`). Markers come in through
 * `writeTxnMarker`. read_committed fetches and ListOffsets stop at the last stable offset, and
 * fetches list the aborted transactions of what they return.
 */

/** Fetch isolation levels, as the wire carries them. */
export const IsolationLevel = Object.freeze({ READ_UNCOMMITTED: 0, READ_COMMITTED: 1 } as const);

/** ListOffsets' special timestamps beyond latest (-1) and earliest (-2). */
export const MAX_TIMESTAMP = -3n;
export const EARLIEST_LOCAL_TIMESTAMP = -4n;

/** The leader epoch this node reports (no leader elections on one node). */
export const LEADER_EPOCH = 0;

/** How late past its maxWaitMs a waiting fetch may be answered: the purgatory's shared tick. */
export const FETCH_WAIT_TICK_MS_DEFAULT = 10;
/** Most fetches waiting at once; a fetch beyond that is answered at once with what there is. */
export const FETCH_WAITING_MAX_DEFAULT = 10_000;

export interface ReplicaManagerOptions {
  logManager: LogManager;
  metadata: MetadataStore;
  config: BrokerConfig;
  clock: Clock;
  logger: Logger;
  /** The purgatory's timer (tests drive it by hand). */
  ticker?: Ticker;
  fetchWaitTickMs?: number;
  fetchWaitingMax?: number;
}

export interface ProducePartition {
  readonly topic: string;
  readonly partition: number;
  readonly records: Buffer | null;
}

export interface AppendRecordsParams {
  readonly acks: number;
  readonly produceVersion: number;
  /** The Produce request's transactional id (null when it has none, and before Produce v3). */
  readonly transactionalId: string | null;
  readonly partitions: readonly ProducePartition[];
}

export interface PartitionAppendResult {
  errorCode: number;
  errorMessage: string | null;
  /** -1 on error. */
  baseOffset: bigint;
  /** The broker time stamped under LogAppendTime; -1 under CreateTime or on error. */
  logAppendTimeMs: bigint;
  /** -1 on error. */
  logStartOffset: bigint;
}

export interface FetchPartition {
  readonly topic: string;
  readonly partition: number;
  readonly fetchOffset: bigint;
  readonly partitionMaxBytes: number;
}

export interface FetchParams {
  readonly maxWaitMs: number;
  readonly minBytes: number;
  /** The request's byte limit (capped by fetch.max.bytes here). */
  readonly maxBytes: number;
  readonly isolationLevel: number;
  readonly partitions: readonly FetchPartition[];
}

export interface FetchPartitionResult {
  errorCode: number;
  /** -1 on error, as Kafka. */
  highWatermark: bigint;
  lastStableOffset: bigint;
  logStartOffset: bigint;
  /** Under read_committed the aborted transactions overlapping the records returned; null under read_uncommitted. */
  abortedTransactions: Array<{ producerId: bigint; firstOffset: bigint }> | null;
  /** Whole stored batches, exactly as on disk; empty when none. */
  records: Buffer;
}

export interface ListOffsetParams {
  readonly topic: string;
  readonly partition: number;
  /** A timestamp (ms), or -1 latest, -2 earliest, -3 max timestamp, -4 earliest local. */
  readonly timestamp: bigint;
  readonly isolationLevel: number;
}

export interface ListOffsetResult {
  errorCode: number;
  /** -1 when no record has a timestamp at or after the one asked for. */
  offset: bigint;
  timestampMs: bigint;
  leaderEpoch: number;
}

export interface LegacyOffsetsResult {
  errorCode: number;
  offsets: bigint[];
}

/** A commit or abort marker the transaction coordinator writes to one partition (WriteTxnMarkers). */
export interface TxnMarkerParams {
  readonly topic: string;
  readonly partition: number;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly coordinatorEpoch: number;
  readonly commit: boolean;
}

/** One producer of a partition, as DescribeProducers lists it. */
export interface ProducerDescription {
  producerId: bigint;
  producerEpoch: number;
  /** -1 when the producer has no batch in this epoch. */
  lastSequence: number;
  lastTimestamp: bigint;
  /** -1 before the producer's first marker. */
  coordinatorEpoch: number;
  /** First offset of its open transaction; -1 when none is open. */
  currentTxnStartOffset: bigint;
}

export interface DescribeProducersResult {
  errorCode: number;
  errorMessage: string | null;
  activeProducers: ProducerDescription[];
}

export interface DeleteRecordsResult {
  errorCode: number;
  /** The new log start offset; -1 on error. */
  lowWatermark: bigint;
}

const EMPTY_RECORDS = Buffer.alloc(0);
const NO_OFFSET = -1n;
const NO_TIMESTAMP = -1n;
const PRODUCER_EPOCH_MAX = 32_767;
const INT32_MAX = 2_147_483_647;
const INT32_MIN = -2_147_483_648;

export class ReplicaManager {
  private readonly logManager: LogManager;
  private readonly metadata: MetadataStore;
  private readonly config: BrokerConfig;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /**
   * Waiting fetches; events are the byte counts appended to a partition. read_uncommitted fetches
   * watch `partitionKey`, read_committed ones `stableKey`, which hears only of bytes that are
   * below the last stable offset once appended (a transaction's records count when its marker
   * completes every fetch waiting on the partition).
   */
  private readonly waitingFetches: DelayedOperations<number>;
  /** Set once the transaction coordinator exists (it is built after the replica manager). */
  private transactionVerifier: TransactionVerifier | undefined;
  /** Markers being appended, per partition and producer id (see `needsVerification`). */
  private readonly markersPending = new Map<string, number>();

  constructor(options: ReplicaManagerOptions) {
    this.logManager = options.logManager;
    this.metadata = options.metadata;
    this.config = options.config;
    this.clock = options.clock;
    this.logger = options.logger;
    this.waitingFetches = new DelayedOperations<number>({
      clock: options.clock,
      ...(options.ticker === undefined ? {} : { ticker: options.ticker }),
      tickIntervalMs: options.fetchWaitTickMs ?? FETCH_WAIT_TICK_MS_DEFAULT,
      waitingMax: options.fetchWaitingMax ?? FETCH_WAITING_MAX_DEFAULT,
    });
  }

  /** Gives the replica manager the transaction coordinator's check of KIP-890 part 1. */
  setTransactionVerifier(verifier: TransactionVerifier): void {
    this.transactionVerifier = verifier;
  }

  /** Fetches waiting in the purgatory now. */
  get waitingFetchCount(): number {
    return this.waitingFetches.size;
  }

  // ---- produce --------------------------------------------------------------------------

  /**
   * Appends each partition's batch, concurrently across partitions (appends to one partition are
   * group-committed by its log). Resolves, in request order, once every append is written (and
   * fsynced when the topic's flush policy says so): on one node that satisfies acks 1 and -1.
   */
  async appendRecords(params: AppendRecordsParams): Promise<PartitionAppendResult[]> {
    // Kafka refuses the whole request, before anything else, when a transactional batch comes
    // without a transactional id (the authorization check of that id cannot pass).
    if (params.transactionalId === null && params.partitions.some((partition) => carriesTransactionalBatch(partition.records))) {
      const failure = appendFailure(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'a transactional batch needs the request to carry its transactional id');
      return params.partitions.map(() => ({ ...failure }));
    }
    if (params.acks !== 0 && params.acks !== 1 && params.acks !== -1) {
      const failure = appendFailure(ErrorCode.INVALID_REQUIRED_ACKS, `acks must be 0, 1 or -1, got ${params.acks}`);
      return params.partitions.map(() => ({ ...failure }));
    }
    return Promise.all(params.partitions.map((partition) => this.appendToPartition(partition, params)));
  }

  private async appendToPartition(target: ProducePartition, params: AppendRecordsParams): Promise<PartitionAppendResult> {
    try {
      const log = this.partitionLog(target.topic, target.partition, { forProduce: true });
      const batch = batchToAppend(target.records, params.produceVersion, DECOMPRESSED_BYTES_MAX_DEFAULT);
      const sizeBytes = batch.length;
      if (isTransactional(batch.readInt16BE(BATCH_OFFSET_ATTRIBUTES))) this.verifyTransactionalBatch(log, target, params.transactionalId, batch);
      // No await between the verification and the append: the append is queued in the log
      // before any marker that comes later, so the verified transaction is the one it joins.
      const info = await log.append(batch);
      if (info.duplicate !== true) {
        this.waitingFetches.notify(partitionKey(target.topic, target.partition), sizeBytes);
        if (log.lastStableOffset > info.lastOffset) this.waitingFetches.notify(stableKey(target.topic, target.partition), sizeBytes);
      }
      return {
        errorCode: ErrorCode.NONE,
        errorMessage: null,
        baseOffset: info.baseOffset,
        logAppendTimeMs: info.logAppendTimeMs,
        logStartOffset: log.logStartOffset,
      };
    } catch (error) {
      const code = this.codeFor(error, 'produce', target);
      return appendFailure(code, errorMessageOf(error));
    }
  }

  /**
   * KIP-890 part 1: a transactional batch that would start a transaction on this partition is
   * written only if the coordinator says the partition is in the producer's ongoing
   * transaction; else the producer's batch could open a transaction that no marker will ever
   * end (a late retry after its transaction ended, KAFKA-17754), holding the LSO back forever.
   * Throws a KafkaError with the Produce code when refused.
   */
  private verifyTransactionalBatch(log: PartitionLog, target: ProducePartition, transactionalId: string | null, batch: Buffer): void {
    const producerId = batch.readBigInt64BE(BATCH_OFFSET_PRODUCER_ID);
    const producerEpoch = batch.readInt16BE(BATCH_OFFSET_PRODUCER_EPOCH);
    if (transactionalId === null) {
      throw new KafkaError(ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 'a transactional batch needs the request to carry its transactional id');
    }
    if (!this.needsVerification(log, target, producerId, producerEpoch)) return;
    const verifier = this.transactionVerifier;
    if (verifier === undefined) {
      // Kafka's AddPartitionsToTxnManager answers COORDINATOR_NOT_AVAILABLE when it cannot reach
      // the transaction coordinator, and its ReplicaManager tells the producer
      // NOT_ENOUGH_REPLICAS (retriable): the same here until the coordinator is set.
      const refusal = verificationRefusal(ErrorCode.COORDINATOR_NOT_AVAILABLE)!;
      throw new KafkaError(refusal.code, refusal.message);
    }
    const code = verifier.verifyPartition({ transactionalId, producerId, producerEpoch, topic: target.topic, partition: target.partition });
    const refusal = verificationRefusal(code);
    if (refusal !== undefined) throw new KafkaError(refusal.code, refusal.message);
  }

  /**
   * True unless the producer, at this epoch, already has a transaction open on the partition
   * that no marker being written is about to end (then the batch joins that transaction, which
   * the coordinator verified when it began).
   */
  private needsVerification(log: PartitionLog, target: ProducePartition, producerId: bigint, producerEpoch: number): boolean {
    const entry = log.producerState.entry(producerId);
    if (entry === undefined || entry.currentTxnFirstOffset === undefined || entry.producerEpoch !== producerEpoch) return true;
    return this.markersPending.has(markerKey(target.topic, target.partition, producerId));
  }

  // ---- transaction markers --------------------------------------------------------------

  /**
   * Writes a commit or abort marker (a control batch of one record, transactional + control,
   * baseSequence -1, the producer's id and epoch) to a partition, internal topics included, for
   * the transaction coordinator. Resolves with the error code (NONE once written, and fsynced if
   * the topic's flush policy says so). Every fetch waiting on the partition is then answered:
   * the last stable offset may have moved.
   */
  async writeTxnMarker(params: TxnMarkerParams): Promise<number> {
    const key = markerKey(params.topic, params.partition, params.producerId);
    try {
      if (params.producerId < 0n) throw new KafkaError(ErrorCode.INVALID_REQUEST, `a transaction marker needs a producer id, got ${params.producerId}`);
      if (!Number.isInteger(params.producerEpoch) || params.producerEpoch < 0 || params.producerEpoch > PRODUCER_EPOCH_MAX) {
        throw new KafkaError(ErrorCode.INVALID_REQUEST, `invalid producer epoch ${params.producerEpoch} for a transaction marker`);
      }
      if (!Number.isInteger(params.coordinatorEpoch) || params.coordinatorEpoch < INT32_MIN || params.coordinatorEpoch > INT32_MAX) {
        throw new KafkaError(ErrorCode.INVALID_REQUEST, `invalid coordinator epoch ${params.coordinatorEpoch} for a transaction marker`);
      }
      const log = this.partitionLog(params.topic, params.partition);
      const marker = encodeControlBatch({
        producerId: params.producerId,
        producerEpoch: params.producerEpoch,
        type: params.commit ? 'commit' : 'abort',
        coordinatorEpoch: params.coordinatorEpoch,
        timestamp: BigInt(this.clock.nowMs()),
      });
      this.markersPending.set(key, (this.markersPending.get(key) ?? 0) + 1);
      try {
        await log.appendControlBatch(marker, { coordinatorEpoch: params.coordinatorEpoch });
      } finally {
        const left = (this.markersPending.get(key) ?? 1) - 1;
        if (left === 0) this.markersPending.delete(key);
        else this.markersPending.set(key, left);
      }
      this.waitingFetches.completeAll(partitionKey(params.topic, params.partition));
      this.waitingFetches.completeAll(stableKey(params.topic, params.partition));
      return ErrorCode.NONE;
    } catch (error) {
      return this.codeFor(error, 'write transaction marker', params);
    }
  }

  // ---- fetch ----------------------------------------------------------------------------

  /**
   * Reads every partition; answers at once when minBytes are there (or maxWaitMs <= 0, or a
   * partition failed), else waits until appends bring minBytes or maxWaitMs passes, and reads
   * again. Results are in request order.
   */
  async fetch(params: FetchParams): Promise<FetchPartitionResult[]> {
    const first = await this.readPartitions(params);
    if (params.maxWaitMs <= 0 || params.partitions.length === 0 || first.bytesRead >= params.minBytes || first.failed) {
      return first.results;
    }
    await this.waitForBytes(params, first.bytesRead, first.visibleEnds);
    return (await this.readPartitions(params)).results;
  }

  private waitForBytes(params: FetchParams, bytesRead: number, visibleEnds: readonly VisibleEnd[]): Promise<void> {
    const readCommitted = params.isolationLevel === IsolationLevel.READ_COMMITTED;
    return new Promise<void>((resolve) => {
      const watched: WatchedPartition[] = params.partitions.map((partition) => ({
        key: readCommitted ? stableKey(partition.topic, partition.partition) : partitionKey(partition.topic, partition.partition),
        bytesMax: Math.max(0, partition.partitionMaxBytes),
      }));
      const deadlineMs = this.clock.nowMs() + params.maxWaitMs;
      const operation = new DelayedFetch(watched, deadlineMs, params.minBytes, bytesRead, resolve);
      if (!this.waitingFetches.watch(operation)) {
        resolve();
        return;
      }
      // An append (or marker) that finished while the first read was under way notified nobody: look for it.
      for (const { topic, partition, offset } of visibleEnds) {
        const log = this.logManager.getLog(topic, partition);
        if (log !== undefined && (readCommitted ? log.lastStableOffset : log.highWatermark) > offset) {
          this.waitingFetches.forceComplete(operation);
          return;
        }
      }
    });
  }

  private async readPartitions(params: FetchParams): Promise<{ results: FetchPartitionResult[]; bytesRead: number; failed: boolean; visibleEnds: VisibleEnd[] }> {
    const readCommitted = params.isolationLevel === IsolationLevel.READ_COMMITTED;
    const results: FetchPartitionResult[] = [];
    const visibleEnds: VisibleEnd[] = [];
    let bytesRemaining = Math.min(params.maxBytes, this.config.fetchMaxBytes);
    let bytesRead = 0;
    let failed = false;
    for (const target of params.partitions) {
      try {
        const log = this.partitionLog(target.topic, target.partition);
        // Taken before the read, so the bound and the offsets reported agree (LSO <= HW).
        const lastStableOffset = log.lastStableOffset;
        const maxOffset = readCommitted ? lastStableOffset : log.highWatermark;
        visibleEnds.push({ topic: target.topic, partition: target.partition, offset: maxOffset });
        const read = await log.read(target.fetchOffset, Math.max(0, Math.min(target.partitionMaxBytes, bytesRemaining)), {
          maxOffset,
          // The first batch of the first partition with data goes out even above the limits, so
          // that a consumer always makes progress (KIP-74).
          minOneBatch: bytesRead === 0,
        });
        const records = await readRanges(read.ranges, read.sizeBytes);
        bytesRead += records.length;
        bytesRemaining -= records.length;
        results.push({
          errorCode: ErrorCode.NONE,
          highWatermark: read.highWatermark,
          lastStableOffset,
          logStartOffset: read.logStartOffset,
          abortedTransactions: readCommitted ? abortedTransactionsOf(log, target.fetchOffset, read.ranges) : null,
          records,
        });
      } catch (error) {
        failed = true;
        results.push({
          errorCode: this.codeFor(error, 'fetch', target),
          highWatermark: NO_OFFSET,
          lastStableOffset: NO_OFFSET,
          logStartOffset: NO_OFFSET,
          abortedTransactions: null,
          records: EMPTY_RECORDS,
        });
      }
    }
    return { results, bytesRead, failed, visibleEnds };
  }

  // ---- list offsets ---------------------------------------------------------------------

  /**
   * ListOffsets v1+: latest (the high watermark; the last stable offset under read_committed),
   * earliest (the log start offset), max timestamp, or the first offset whose timestamp is at or
   * after `timestamp` (-1/-1 when there is none).
   */
  async listOffset(params: ListOffsetParams): Promise<ListOffsetResult> {
    try {
      const log = this.partitionLog(params.topic, params.partition);
      // As Kafka's fetchOffsetForTimestamp: read_committed sees up to the last stable offset.
      const visibleEnd = params.isolationLevel === IsolationLevel.READ_COMMITTED ? log.lastStableOffset : log.highWatermark;
      const found = (offset: bigint, timestampMs: bigint): ListOffsetResult => ({ errorCode: ErrorCode.NONE, offset, timestampMs, leaderEpoch: LEADER_EPOCH });
      switch (params.timestamp) {
        case LATEST_TIMESTAMP:
          return found(visibleEnd, NO_TIMESTAMP);
        case EARLIEST_TIMESTAMP:
        case EARLIEST_LOCAL_TIMESTAMP:
          return found(log.logStartOffset, NO_TIMESTAMP);
        case MAX_TIMESTAMP: {
          const match = await maxTimestampMatch(log);
          return match === undefined || match.offset >= visibleEnd ? found(NO_OFFSET, NO_TIMESTAMP) : found(match.offset, match.timestampMs);
        }
      }
      if (params.timestamp < 0n) throw new KafkaError(ErrorCode.INVALID_REQUEST, `unknown special ListOffsets timestamp ${params.timestamp}`);
      const match = await log.offsetForTimestamp(params.timestamp);
      return match === undefined || match.offset >= visibleEnd ? found(NO_OFFSET, NO_TIMESTAMP) : found(match.offset, match.timestampMs);
    } catch (error) {
      return { errorCode: this.codeFor(error, 'list offsets', params), offset: NO_OFFSET, timestampMs: NO_TIMESTAMP, leaderEpoch: -1 };
    }
  }

  /**
   * ListOffsets v0: up to `maxNumOffsets` offsets, newest first. Latest: the high watermark, then
   * the base offset of each segment; earliest: the log start offset; a timestamp: the base
   * offsets of the segments whose newest record is not newer than it (Kafka used file times).
   */
  async legacyOffsetsBefore(topic: string, partition: number, timestamp: bigint, maxNumOffsets: number): Promise<LegacyOffsetsResult> {
    try {
      const log = this.partitionLog(topic, partition);
      const logStart = log.logStartOffset;
      const segmentStarts = log
        .segments()
        .map((segment) => ({ offset: segment.baseOffset > logStart ? segment.baseOffset : logStart, maxTimestampMs: segment.maxTimestampMs, empty: segment.isEmpty }))
        .reverse();
      let offsets: bigint[];
      if (timestamp === LATEST_TIMESTAMP) {
        offsets = [log.highWatermark, ...segmentStarts.filter((segment) => !segment.empty).map((segment) => segment.offset)];
      } else if (timestamp === EARLIEST_TIMESTAMP) {
        offsets = [logStart];
      } else {
        offsets = segmentStarts.filter((segment) => !segment.empty && segment.maxTimestampMs <= timestamp).map((segment) => segment.offset);
      }
      const distinct = offsets.filter((offset, index) => index === 0 || offset !== offsets[index - 1]);
      return { errorCode: ErrorCode.NONE, offsets: distinct.slice(0, Math.max(0, maxNumOffsets)) };
    } catch (error) {
      return { errorCode: this.codeFor(error, 'list offsets', { topic, partition }), offsets: [] };
    }
  }

  // ---- describe producers ---------------------------------------------------------------

  /** DescribeProducers: the idempotent and transactional producers a partition keeps state for, by producer id. */
  describeProducers(topic: string, partition: number): DescribeProducersResult {
    try {
      const log = this.partitionLog(topic, partition);
      const activeProducers: ProducerDescription[] = [];
      for (const entry of log.producerState.activeProducers()) {
        activeProducers.push({
          producerId: entry.producerId,
          producerEpoch: entry.producerEpoch,
          lastSequence: entry.batches.at(-1)?.lastSequence ?? -1,
          lastTimestamp: entry.lastTimestamp,
          coordinatorEpoch: entry.coordinatorEpoch,
          currentTxnStartOffset: entry.currentTxnFirstOffset ?? NO_OFFSET,
        });
      }
      activeProducers.sort((a, b) => (a.producerId < b.producerId ? -1 : a.producerId > b.producerId ? 1 : 0));
      return { errorCode: ErrorCode.NONE, errorMessage: null, activeProducers };
    } catch (error) {
      return { errorCode: this.codeFor(error, 'describe producers', { topic, partition }), errorMessage: errorMessageOf(error), activeProducers: [] };
    }
  }

  // ---- delete records -------------------------------------------------------------------

  /** Moves the log start offset up to `offset` (-1 = the high watermark); beyond the HW is OFFSET_OUT_OF_RANGE. */
  async deleteRecords(topic: string, partition: number, offset: bigint): Promise<DeleteRecordsResult> {
    try {
      const log = this.partitionLog(topic, partition);
      const lowWatermark = await log.deleteRecordsBefore(offset);
      // Waiting fetches may now sit below the log start offset: let them answer.
      this.waitingFetches.completeAll(partitionKey(topic, partition));
      this.waitingFetches.completeAll(stableKey(topic, partition));
      return { errorCode: ErrorCode.NONE, lowWatermark };
    } catch (error) {
      return { errorCode: this.codeFor(error, 'delete records', { topic, partition }), lowWatermark: NO_OFFSET };
    }
  }

  // ---- lifecycle ------------------------------------------------------------------------

  /**
   * Answers every waiting fetch (with what its partitions hold) and stops the purgatory's tick.
   * Safe while requests are still being served: later fetches are answered without waiting, and
   * produce keeps working until the logs close. So a shutdown can call it before draining the
   * connections, and no long poll holds the drain up.
   */
  async close(): Promise<void> {
    this.waitingFetches.close();
  }

  // ---- helpers --------------------------------------------------------------------------

  /**
   * The log of a partition this broker serves, or UNKNOWN_TOPIC_OR_PARTITION. Clients may not
   * produce to internal topics (their coordinators write them): INVALID_TOPIC_EXCEPTION.
   */
  private partitionLog(topic: string, partition: number, options: { forProduce?: boolean } = {}): PartitionLog {
    const metadata = this.metadata.topic(topic);
    const log = metadata !== undefined && Number.isInteger(partition) && partition >= 0 && partition < metadata.partitions ? this.logManager.getLog(topic, partition) : undefined;
    if (metadata === undefined || log === undefined) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `this broker does not host ${topic}-${partition}`);
    if (options.forProduce === true && metadata.internal) {
      throw new KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, `clients may not produce to the internal topic ${topic}`);
    }
    return log;
  }

  /** The error code of a failure; unexpected ones are logged (expected ones are the client's business). */
  private codeFor(error: unknown, operation: string, target: { topic: string; partition: number }): number {
    const code = errorCodeOf(error);
    if (code === ErrorCode.UNKNOWN_SERVER_ERROR || code === ErrorCode.KAFKA_STORAGE_ERROR) {
      this.logger.error({ err: error, topic: target.topic, partition: target.partition }, `${operation} failed`);
    } else {
      this.logger.debug({ topic: target.topic, partition: target.partition, errorCode: code, reason: errorMessageOf(error) }, `${operation} refused`);
    }
    return code;
  }
}

function appendFailure(errorCode: number, errorMessage: string | null): PartitionAppendResult {
  return { errorCode, errorMessage, baseOffset: NO_OFFSET, logAppendTimeMs: NO_TIMESTAMP, logStartOffset: NO_OFFSET };
}

/** Where a fetch's first read stopped on one partition: the HW, or the LSO under read_committed. */
interface VisibleEnd {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

/** One string per partition for the purgatory (a NUL cannot appear in a topic name). */
function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** The purgatory key read_committed fetches of a partition wait on. */
function stableKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}\u0000stable`;
}

function markerKey(topic: string, partition: number, producerId: bigint): string {
  return `${topic}\u0000${partition}\u0000${producerId}`;
}

/**
 * The aborted transactions a read_committed consumer must filter out of what it is sent: those
 * overlapping [fetchOffset, end of the batches returned) (Kafka bounds the search by the end of
 * the fetched data too). None when nothing is returned.
 */
function abortedTransactionsOf(log: PartitionLog, fetchOffset: bigint, ranges: ReadonlyArray<{ nextOffset: bigint }>): Array<{ producerId: bigint; firstOffset: bigint }> {
  const last = ranges.at(-1);
  if (last === undefined) return [];
  return log.collectAbortedTransactions(fetchOffset, last.nextOffset);
}

/** The first record with the partition's largest timestamp (ListOffsets -3, KIP-734). */
async function maxTimestampMatch(log: PartitionLog): Promise<{ offset: bigint; timestampMs: bigint } | undefined> {
  const logStart = log.logStartOffset;
  let best: ReturnType<PartitionLog['segments']>[number] | undefined;
  for (const segment of log.segments()) {
    if (segment.isEmpty || segment.nextOffset <= logStart) continue;
    if (best === undefined || segment.maxTimestampMs > best.maxTimestampMs) best = segment;
  }
  if (best === undefined || best.maxTimestampMs < 0n) return undefined;
  return best.findOffsetByTimestamp(best.maxTimestampMs, logStart);
}
