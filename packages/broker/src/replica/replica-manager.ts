import { DECOMPRESSED_BYTES_MAX_DEFAULT, ErrorCode } from '@defter/protocol';
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, type Clock, type LogManager, type PartitionLog } from '@defter/log';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import { KafkaError, errorCodeOf, errorMessageOf } from '../errors.js';
import type { MetadataStore } from '../metadata/metadata-store.js';
import { DelayedFetch, type WatchedPartition } from './delayed-fetch.js';
import { DelayedOperations, type Ticker } from './delayed-operations.js';
import { batchToAppend } from './produce-records.js';
import { readRanges } from './read-ranges.js';

/*
 * The replica manager of a single node: every partition's leader (and only replica) is here, so
 * the ISR is this node and acks=all is satisfied once the local append (and the fsync the topic's
 * flush policy asks for) is done. It turns produce, fetch, list-offsets and delete-records into
 * operations on the `PartitionLog`s, and keeps waiting fetches in a bounded purgatory that
 * appends wake up.
 *
 * Idempotence and transactions come later: a batch with a producer id >= 0 is appended as a plain
 * batch (no sequence check, no dedup); the last stable offset is the high watermark and the
 * aborted-transaction list is empty.
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
  /** [] under read_committed (no transactions yet), null under read_uncommitted. */
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

export interface DeleteRecordsResult {
  errorCode: number;
  /** The new log start offset; -1 on error. */
  lowWatermark: bigint;
}

const EMPTY_RECORDS = Buffer.alloc(0);
const NO_OFFSET = -1n;
const NO_TIMESTAMP = -1n;

export class ReplicaManager {
  private readonly logManager: LogManager;
  private readonly metadata: MetadataStore;
  private readonly config: BrokerConfig;
  private readonly clock: Clock;
  private readonly logger: Logger;
  /** Waiting fetches, keyed by partition; events are the byte counts appended to it. */
  private readonly waitingFetches: DelayedOperations<number>;

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
    if (params.acks !== 0 && params.acks !== 1 && params.acks !== -1) {
      const failure = appendFailure(ErrorCode.INVALID_REQUIRED_ACKS, `acks must be 0, 1 or -1, got ${params.acks}`);
      return params.partitions.map(() => ({ ...failure }));
    }
    return Promise.all(params.partitions.map((partition) => this.appendToPartition(partition, params.produceVersion)));
  }

  private async appendToPartition(target: ProducePartition, produceVersion: number): Promise<PartitionAppendResult> {
    try {
      const log = this.partitionLog(target.topic, target.partition, { forProduce: true });
      const batch = batchToAppend(target.records, produceVersion, DECOMPRESSED_BYTES_MAX_DEFAULT);
      const sizeBytes = batch.length;
      const info = await log.append(batch);
      this.waitingFetches.notify(partitionKey(target.topic, target.partition), sizeBytes);
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
    await this.waitForBytes(params, first.bytesRead, first.highWatermarks);
    return (await this.readPartitions(params)).results;
  }

  private waitForBytes(params: FetchParams, bytesRead: number, highWatermarks: ReadonlyMap<string, bigint>): Promise<void> {
    return new Promise<void>((resolve) => {
      const watched: WatchedPartition[] = params.partitions.map((partition) => ({
        key: partitionKey(partition.topic, partition.partition),
        bytesMax: Math.max(0, partition.partitionMaxBytes),
      }));
      const deadlineMs = this.clock.nowMs() + params.maxWaitMs;
      const operation = new DelayedFetch(watched, deadlineMs, params.minBytes, bytesRead, resolve);
      if (!this.waitingFetches.watch(operation)) {
        resolve();
        return;
      }
      // An append that finished while the first read was under way notified nobody: look for it.
      for (const [key, highWatermark] of highWatermarks) {
        const [topic, partition] = splitKey(key);
        const log = this.logManager.getLog(topic, partition);
        if (log !== undefined && log.highWatermark > highWatermark) {
          this.waitingFetches.forceComplete(operation);
          return;
        }
      }
    });
  }

  private async readPartitions(params: FetchParams): Promise<{ results: FetchPartitionResult[]; bytesRead: number; failed: boolean; highWatermarks: Map<string, bigint> }> {
    const results: FetchPartitionResult[] = [];
    const highWatermarks = new Map<string, bigint>();
    let bytesRemaining = Math.min(params.maxBytes, this.config.fetchMaxBytes);
    let bytesRead = 0;
    let failed = false;
    for (const target of params.partitions) {
      try {
        const log = this.partitionLog(target.topic, target.partition);
        const highWatermark = log.highWatermark;
        highWatermarks.set(partitionKey(target.topic, target.partition), highWatermark);
        // No transactions yet: the last stable offset is the high watermark, for both isolation levels.
        const lastStableOffset = highWatermark;
        const maxOffset = params.isolationLevel === IsolationLevel.READ_COMMITTED ? lastStableOffset : highWatermark;
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
          lastStableOffset: read.highWatermark,
          logStartOffset: read.logStartOffset,
          abortedTransactions: params.isolationLevel === IsolationLevel.READ_COMMITTED ? [] : null,
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
    return { results, bytesRead, failed, highWatermarks };
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
      // No transactions yet: the last stable offset is the high watermark.
      const visibleEnd = log.highWatermark;
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

  // ---- delete records -------------------------------------------------------------------

  /** Moves the log start offset up to `offset` (-1 = the high watermark); beyond the HW is OFFSET_OUT_OF_RANGE. */
  async deleteRecords(topic: string, partition: number, offset: bigint): Promise<DeleteRecordsResult> {
    try {
      const log = this.partitionLog(topic, partition);
      const lowWatermark = await log.deleteRecordsBefore(offset);
      // Waiting fetches may now sit below the log start offset: let them answer.
      this.waitingFetches.completeAll(partitionKey(topic, partition));
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

/** One string per partition for the purgatory (a NUL cannot appear in a topic name). */
function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function splitKey(key: string): [string, number] {
  const separator = key.lastIndexOf('\u0000');
  return [key.slice(0, separator), Number(key.slice(separator + 1))];
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
