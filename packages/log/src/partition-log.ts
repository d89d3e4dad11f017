import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND,
  BATCH_HEADER_BYTES,
  BATCH_OFFSET_ATTRIBUTES,
  BATCH_OFFSET_CRC,
  BATCH_OFFSET_LENGTH,
  BATCH_OFFSET_MAX_TIMESTAMP,
  DecodeError,
  LOG_OVERHEAD_BYTES,
  isControl,
  computeBatchCrc,
  patchBaseOffset,
  readBatchHeader,
  verifyBatchCrc,
  type BatchHeader,
} from '@defter/protocol';
import { systemClock, type Clock } from './clock.js';
import {
  CorruptRecordError,
  InvalidOffsetError,
  InvalidRecordError,
  LogClosedError,
  LogStorageError,
  OffsetOutOfRangeError,
  RecordTooLargeError,
} from './errors.js';
import { FlushPolicy } from './flush-policy.js';
import { defaultLogConfig, type LogConfig } from './log-config.js';
import { silentLogger, type Logger } from './logger.js';
import { CheckpointFormatError, OffsetCheckpointFile } from './recovery-checkpoint.js';
import { fsyncDirectory } from './atomic-file.js';
import {
  PRODUCER_ID_EXPIRATION_MS_DEFAULT,
  ProducerStateError,
  ProducerStateManager,
  producerBatchInfo,
  readEndTxnMarker,
  type AppendOrigin,
  type CompletedTransaction,
  type EndTxnMarker,
  type ProducerBatchInfo,
  type ReplayBatch,
} from './producer-state.js';
import { loadSegments } from './recovery.js';
import { Segment, dataSync, type FileRange, type FileSync, type TimestampMatch } from './segment.js';
import { collectAbortedTransactions, type AbortedTransaction, type AbortedTxn } from './transaction-index.js';

/*
 * The log of one partition: an ordered list of segments, the last one active.
 *
 * Offsets: the log start offset (first visible offset), the log end offset (LEO, next offset to
 * assign), the high watermark (HW, last offset visible to consumers + 1; follows the LEO unless
 * `highWatermarkFollowsLogEnd` is false and replication drives it with `updateHighWatermark`),
 * and the recovery point (everything below it is fsynced).
 *
 * Concurrency: mutations (appends, roll, retention, truncation, segment swaps, flush, close)
 * run one at a time behind a promise-chain lock. Appends that arrive while a write is in
 * progress wait in a queue and are written together as one group: offsets assigned densely in
 * arrival order, one writev per segment touched, at most one fsync. A group of one (a lone
 * writer awaiting each append) takes a leaner path with one plain write, its CRC-32C checked
 * while that write is in flight (`writeAlone`). Reads take no lock: they
 * see a consistent prefix (segment sizes are advanced only after the bytes are written), and a
 * segment removed by retention keeps its open file for file.delete.delay.ms (as Kafka), so a
 * range handed to a sender stays readable. The segment list is never changed in place (each
 * change makes a new array), so a read that awaits keeps walking the list it started with and
 * cannot skip a segment when a swap or roll shifts the list meanwhile.
 *
 * Producers (idempotence and transactions): the log owns a ProducerStateManager whose snapshots
 * (`<offset>.snapshot`) live in its directory. On open, after segment recovery, the state is
 * rebuilt from the latest snapshot at or below the first recovered segment plus a replay of the
 * log from there, which also refills the `.txnindex` of every recovered segment. Each append of a
 * batch with a producer id is checked in the append lock, in arrival order, before offsets are
 * assigned: a retry of one of the producer's last 5 batches is answered with the original offsets
 * and not written, a refusal rejects that append only. A snapshot is taken at every roll and at
 * close. Markers (control batches) come only from the transaction coordinator
 * (`appendControlBatch`); an abort marker that ends a transaction adds it to its segment's
 * `.txnindex`. The last stable offset (LSO) bounds read_committed reads.
 */
export const RECOVERY_POINT_CHECKPOINT_FILE = 'recovery-point-checkpoint';
export const LOG_START_OFFSET_CHECKPOINT_FILE = 'log-start-offset-checkpoint';
/** ListOffsets' special timestamps. */
export const LATEST_TIMESTAMP = -1n;
export const EARLIEST_TIMESTAMP = -2n;

export interface PartitionLogOptions {
  dir: string;
  config?: LogConfig;
  clock?: Clock;
  logger?: Logger;
  /** fsync hook (default fdatasync); tests count calls or inject failures through it. */
  fileSync?: FileSync;
  /** true (default): every append moves the HW to the LEO. false: only `updateHighWatermark` moves it. */
  highWatermarkFollowsLogEnd?: boolean;
  /** producer.id.expiration.ms (default Kafka's 1 day). */
  producerIdExpirationMs?: number;
}

export interface AppendOptions {
  /**
   * 'client' (default): producer batches, checked for sequence and epoch; control batches are
   * refused. 'coordinator': the transaction coordinator's markers (epochs checked only).
   * 'replication': a follower copying its leader (nothing checked).
   */
  origin?: AppendOrigin;
}

export interface ControlBatchOptions {
  /** The coordinator epoch the marker must carry (WriteTxnMarkers' coordinatorEpoch). */
  coordinatorEpoch?: number;
}

export interface AppendInfo {
  baseOffset: bigint;
  lastOffset: bigint;
  /** The batch's maxTimestamp as stored (the append time under LogAppendTime). */
  maxTimestampMs: bigint;
  /** The broker time stamped on the batch under LogAppendTime; -1n under CreateTime. */
  logAppendTimeMs: bigint;
  recordCount: number;
  /**
   * True when the batch was a retry of one the producer already wrote: nothing was written and
   * the offsets (and timestamp) are the original batch's.
   */
  duplicate?: true;
}

export interface ReadOptions {
  /** Exclusive bound: only batches whose last offset is below it (e.g. the HW for consumers). */
  maxOffset?: bigint;
  /** Return the first batch whole even when it is larger than maxBytes (default true). */
  minOneBatch?: boolean;
}

export interface ReadResult {
  /** Contiguous runs of whole batches, in offset order, ready to be sent as they are. */
  ranges: FileRange[];
  /** Sum of the range sizes. */
  sizeBytes: number;
  highWatermark: bigint;
  logStartOffset: bigint;
  logEndOffset: bigint;
}

interface PendingAppend {
  batch: Buffer;
  header: BatchHeader;
  origin: AppendOrigin;
  /** The commit/abort marker of a control batch (read before queueing); null: an empty one (replication). */
  marker: EndTxnMarker | null | undefined;
  /** Whether the CRC-32C was checked (on arrival, or since); if not, it is before the batch counts (see `append`). */
  crcChecked: boolean;
  resolve: (info: AppendInfo) => void;
  reject: (error: unknown) => void;
}

interface PendingDeletion {
  segment: Segment;
  deleteAtMs: number;
}

export class PartitionLog {
  readonly dir: string;
  private currentConfig: LogConfig;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly fileSync: FileSync;
  private readonly highWatermarkFollowsLogEnd: boolean;
  private readonly recoveryCheckpoint: OffsetCheckpointFile;
  private readonly logStartCheckpoint: OffsetCheckpointFile;
  private readonly flushPolicy: FlushPolicy;
  private readonly producers: ProducerStateManager;

  private segmentList: Segment[];
  private logStart: bigint;
  private highWatermarkOffset: bigint;
  private recoveryPoint: bigint;
  private checkpointedRecoveryPoint: bigint;
  private closing = false;
  private closed = false;
  /** Set when a write or fsync failed: the file state is unknown, appends are refused until reopen. */
  private failure: unknown;

  private lock: Promise<void> = Promise.resolve();
  private readonly pendingAppends: PendingAppend[] = [];
  private draining = false;
  /** True while queued appends are being written (an append arriving then checks its CRC-32C at once, overlapping that write). */
  private appendsWriting = false;
  /** fsyncs of rolled segments, in roll order; the recovery point follows them. */
  private rolledFlushes: Promise<void> = Promise.resolve();
  private readonly pendingDeletions: PendingDeletion[] = [];

  private constructor(
    options: Required<PartitionLogOptions>,
    segments: Segment[],
    logStart: bigint,
    recoveryPoint: bigint,
    producers: ProducerStateManager,
  ) {
    this.producers = producers;
    this.dir = options.dir;
    this.currentConfig = options.config;
    this.clock = options.clock;
    this.logger = options.logger;
    this.fileSync = options.fileSync;
    this.highWatermarkFollowsLogEnd = options.highWatermarkFollowsLogEnd;
    this.recoveryCheckpoint = new OffsetCheckpointFile(path.join(this.dir, RECOVERY_POINT_CHECKPOINT_FILE), this.fileSync);
    this.logStartCheckpoint = new OffsetCheckpointFile(path.join(this.dir, LOG_START_OFFSET_CHECKPOINT_FILE), this.fileSync);
    this.flushPolicy = new FlushPolicy(this.currentConfig, this.clock.nowMs());
    this.segmentList = segments;
    this.logStart = logStart;
    this.recoveryPoint = recoveryPoint;
    this.checkpointedRecoveryPoint = recoveryPoint;
    this.highWatermarkOffset = this.activeSegment.nextOffset;
  }

  /** Opens the partition directory (creating it if absent) and recovers it. */
  static async open(options: PartitionLogOptions): Promise<PartitionLog> {
    const resolved: Required<PartitionLogOptions> = {
      dir: options.dir,
      config: options.config ?? defaultLogConfig,
      clock: options.clock ?? systemClock,
      logger: options.logger ?? silentLogger,
      fileSync: options.fileSync ?? dataSync,
      highWatermarkFollowsLogEnd: options.highWatermarkFollowsLogEnd ?? true,
      producerIdExpirationMs: options.producerIdExpirationMs ?? PRODUCER_ID_EXPIRATION_MS_DEFAULT,
    };
    const { dir, logger } = resolved;
    await mkdir(dir, { recursive: true });
    const recoveryCheckpoint = new OffsetCheckpointFile(path.join(dir, RECOVERY_POINT_CHECKPOINT_FILE), resolved.fileSync);
    const logStartCheckpoint = new OffsetCheckpointFile(path.join(dir, LOG_START_OFFSET_CHECKPOINT_FILE), resolved.fileSync);
    const checkpointedRecoveryPoint = await readCheckpointOrWarn(recoveryCheckpoint, logger);
    const checkpointedLogStart = (await readCheckpointOrWarn(logStartCheckpoint, logger)) ?? 0n;

    const { segments, recovered } = await loadSegments({
      dir,
      config: resolved.config,
      clock: resolved.clock,
      logger,
      fileSync: resolved.fileSync,
      recoveryPoint: checkpointedRecoveryPoint ?? 0n,
    });
    if (segments.length === 0) {
      segments.push(await Segment.create(dir, checkpointedLogStart, { config: resolved.config, clock: resolved.clock, fileSync: resolved.fileSync }));
    }
    const firstBase = segments[0]!.baseOffset;
    const logEnd = segments[segments.length - 1]!.nextOffset;
    let logStart = checkpointedLogStart > firstBase ? checkpointedLogStart : firstBase;
    if (logStart > logEnd) logStart = logEnd;

    // What recovery validated is now the log; make it durable before claiming it in the checkpoint.
    for (const segment of recovered) await segment.flush();
    const producers = await ProducerStateManager.open({
      dir,
      clock: resolved.clock,
      logger,
      producerIdExpirationMs: resolved.producerIdExpirationMs,
      fileSync: resolved.fileSync,
    });
    const log = new PartitionLog(resolved, segments, logStart, logEnd, producers);
    try {
      await log.loadProducerState(recovered);
    } catch (error) {
      for (const segment of segments) await segment.close().catch(() => {});
      throw error;
    }
    if (recovered.length > 0 || checkpointedRecoveryPoint !== logEnd) await log.writeRecoveryCheckpoint(logEnd);
    logger.debug(
      { dir, segments: segments.length, logStartOffset: logStart.toString(), logEndOffset: logEnd.toString() },
      'opened partition log',
    );
    return log;
  }

  // ---- state ----------------------------------------------------------------------------

  get config(): LogConfig {
    return this.currentConfig;
  }

  updateConfig(config: LogConfig): void {
    this.currentConfig = config;
    this.flushPolicy.updateSettings(config);
    for (const segment of this.segmentList) segment.updateConfig(config);
  }

  get logStartOffset(): bigint {
    return this.logStart;
  }
  get logEndOffset(): bigint {
    return this.activeSegment.nextOffset;
  }
  get highWatermark(): bigint {
    return this.highWatermarkOffset;
  }
  /** Every offset below this is fsynced. */
  get recoveryPointOffset(): bigint {
    return this.recoveryPoint;
  }
  /** Total bytes of all segments. */
  get sizeBytes(): number {
    let total = 0;
    for (const segment of this.segmentList) total += segment.sizeBytes;
    return total;
  }
  get isClosed(): boolean {
    return this.closed;
  }

  /** Oldest first; the last one is the active segment. */
  segments(): readonly Segment[] {
    return this.segmentList.slice();
  }

  private get activeSegment(): Segment {
    return this.segmentList[this.segmentList.length - 1]!;
  }

  /** Moves the HW, bounded by [log start offset, LEO]; returns the new HW. */
  updateHighWatermark(offset: bigint): bigint {
    const logEnd = this.logEndOffset;
    let bounded = offset > logEnd ? logEnd : offset;
    if (bounded < this.logStart) bounded = this.logStart;
    this.highWatermarkOffset = bounded;
    this.producers.onHighWatermarkUpdated(bounded);
    return bounded;
  }

  // ---- producers and transactions -------------------------------------------------------

  /** The producer state of this partition (read it; the log alone changes it). */
  get producerState(): ProducerStateManager {
    return this.producers;
  }

  /**
   * The last stable offset: below the first transaction that is open, or complete with its
   * marker not yet under the HW; never above the HW. read_committed reads stop here.
   */
  get lastStableOffset(): bigint {
    return this.producers.lastStableOffset(this.highWatermarkOffset, this.logStart);
  }

  /**
   * The aborted transactions overlapping [fetchOffset, upperBoundOffset) (upperBound: the end of
   * what a read_committed fetch returns), from the `.txnindex` of the segment holding
   * fetchOffset onwards, in marker order.
   */
  collectAbortedTransactions(fetchOffset: bigint, upperBoundOffset: bigint): AbortedTransaction[] {
    this.assertReadable();
    const segments = this.segmentList;
    return collectAbortedTransactions(
      segments.slice(this.segmentIndexFor(segments, fetchOffset)).map((segment) => segment.txnIndex),
      fetchOffset,
      upperBoundOffset,
    );
  }

  /** Forgets producers idle for producer.id.expiration.ms (for a periodic task); returns how many. */
  removeExpiredProducers(): Promise<number> {
    return this.exclusive(async () => this.producers.removeExpiredProducers());
  }

  /**
   * Rebuilds the producer state at open: a recovered segment (or one whose `.txnindex` fails its
   * check) has its `.txnindex` emptied, and snapshots past its base offset are dropped, so that
   * the replay passes over it and refills the index.
   */
  private async loadProducerState(recovered: readonly Segment[]): Promise<void> {
    let replayFrom: bigint | undefined;
    for (const segment of this.segmentList) {
      const problem = segment.txnIndex.sanityCheck();
      if (problem !== undefined) this.logger.warn({ dir: this.dir, problem }, 'rebuilding a transaction index');
      if (problem === undefined && !recovered.includes(segment)) continue;
      await segment.txnIndex.reset();
      if (replayFrom === undefined || segment.baseOffset < replayFrom) replayFrom = segment.baseOffset;
    }
    if (replayFrom !== undefined) await this.producers.truncateSnapshotsAbove(replayFrom);
    await this.rebuildProducerStateLocked();
  }

  /** Reloads the producer state from a snapshot and replays the log after it (open, truncation). */
  private async rebuildProducerStateLocked(): Promise<void> {
    await this.producers.rebuild({
      logStartOffset: this.logStart,
      logEndOffset: this.logEndOffset,
      batchesFrom: (offset) => this.batchesFrom(offset),
      onCompletedTransaction: (transaction) => this.indexCompletedTransaction(transaction),
    });
    this.producers.onHighWatermarkUpdated(this.highWatermarkOffset);
  }

  private async *batchesFrom(offset: bigint): AsyncGenerator<ReplayBatch> {
    const segments = this.segmentList;
    for (let i = this.segmentIndexFor(segments, offset); i < segments.length; i++) yield* segments[i]!.batches();
  }

  /** Adds an aborted transaction found by a replay to its marker's segment, unless it is there already. */
  private async indexCompletedTransaction(transaction: CompletedTransaction): Promise<void> {
    if (!transaction.aborted) return;
    const segments = this.segmentList;
    const index = segments[this.segmentIndexFor(segments, transaction.lastOffset)]!.txnIndex;
    if (index.entryCount > 0 && index.entry(index.entryCount - 1).lastOffset >= transaction.lastOffset) return;
    await index.append(abortedTxnOf(transaction));
  }

  /** After the log start offset moved: forget what lies below it, and snapshots of deleted segments. */
  private async onLogStartOffsetMovedLocked(): Promise<void> {
    this.producers.onLogStartOffsetIncremented(this.logStart);
    await this.producers.deleteSnapshotsBefore(this.segmentList[0]!.baseOffset);
  }

  private assertWritable(): void {
    if (this.closing || this.closed) throw new LogClosedError(`partition log ${this.dir} is closed`);
    if (this.failure !== undefined) {
      throw new LogStorageError(`partition log ${this.dir} failed an earlier write; reopen it to recover`, { cause: this.failure });
    }
  }

  private assertReadable(): void {
    if (this.closed) throw new LogClosedError(`partition log ${this.dir} is closed`);
  }

  /** Runs `task` after every earlier mutation has finished. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.lock.then(task);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  // ---- append ---------------------------------------------------------------------------

  /**
   * Validates one producer batch (magic 2, exact size, CRC-32C, records >= 1 with dense
   * offset deltas, size within max.message.bytes), assigns its offsets by patching baseOffset
   * in `batch` (the caller's buffer is modified), stamps LogAppendTime if the topic asks, and
   * appends it. Resolves once the batch is written (and fsynced, if the flush policy says so).
   * A batch with a producer id is first checked against the producer state: a retry of one of
   * the producer's last 5 batches resolves with the original offsets and `duplicate: true`
   * without writing; a refusal rejects with `ProducerStateError` (its kafkaErrorName is the
   * Produce error code) and writes nothing. Control batches are refused unless `origin` says
   * they come from the coordinator or a leader (see `appendControlBatch`).
   */
  append(batch: Buffer, options: AppendOptions = {}): Promise<AppendInfo> {
    const origin = options.origin ?? 'client';
    let header: BatchHeader;
    let marker: EndTxnMarker | null | undefined;
    // The CRC-32C of the whole batch is the largest cost of an append besides its write. One that
    // arrives while other appends are being written is checked now, overlapping their write; one
    // that arrives at an idle log is checked while its own write is in flight (`writeAlone`), or
    // on its turn when others joined it (`writeGroup`). Either way before it counts or is answered.
    let crcChecked = false;
    try {
      this.assertWritable();
      header = this.validate(batch);
      const control = isControl(header.attributes);
      if (control || this.appendsWriting) {
        this.checkCrc(batch);
        crcChecked = true;
      }
      if (control) marker = this.validateControl(batch, header, origin);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<AppendInfo>((resolve, reject) => {
      this.pendingAppends.push({ batch, header, origin, marker, crcChecked, resolve, reject });
      if (!this.draining) void this.drainAppends();
    });
  }

  /**
   * Appends a transaction marker (a control batch holding one commit or abort record) for the
   * transaction coordinator: the producer's epoch and the coordinator epoch are checked against
   * the producer state; the transaction it ends stops holding the LSO back once the marker is
   * under the HW, and an aborted one is listed in the segment's `.txnindex`.
   */
  appendControlBatch(batch: Buffer, options: ControlBatchOptions = {}): Promise<AppendInfo> {
    try {
      this.assertWritable();
      const header = this.validate(batch);
      this.checkCrc(batch);
      if (!isControl(header.attributes)) throw new InvalidRecordError('appendControlBatch takes control batches only');
      const marker = this.validateControl(batch, header, 'coordinator')!;
      if (options.coordinatorEpoch !== undefined && marker.coordinatorEpoch !== options.coordinatorEpoch) {
        throw new InvalidRecordError(`the marker carries coordinator epoch ${marker.coordinatorEpoch}, not ${options.coordinatorEpoch}`);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return this.append(batch, { origin: 'coordinator' });
  }

  /** A control batch: only from the coordinator (or a leader), of a producer, with a commit/abort marker. */
  private validateControl(batch: Buffer, header: BatchHeader, origin: AppendOrigin): EndTxnMarker | null | undefined {
    if (origin === 'client') throw new InvalidRecordError('clients may not append control batches');
    if (origin === 'replication') return header.producerId < 0n ? undefined : readEndTxnMarker(batch);
    if (header.producerId < 0n) throw new InvalidRecordError('a transaction marker needs a producer id');
    if (header.recordsCount !== 1) throw new InvalidRecordError(`a transaction marker holds 1 record, not ${header.recordsCount}`);
    const marker = readEndTxnMarker(batch);
    if (marker === null) throw new InvalidRecordError('the control batch holds no commit or abort marker');
    return marker;
  }

  /** Structure and limits (the CRC-32C is `checkCrc`, see `append` for when). */
  private validate(batch: Buffer): BatchHeader {
    if (batch.length < BATCH_HEADER_BYTES) {
      throw new CorruptRecordError(`batch of ${batch.length} bytes is shorter than the ${BATCH_HEADER_BYTES}-byte header`);
    }
    const declared = batch.readInt32BE(BATCH_OFFSET_LENGTH) + LOG_OVERHEAD_BYTES;
    if (declared !== batch.length) {
      throw new CorruptRecordError(`batchLength says ${declared} bytes but the buffer holds ${batch.length}`);
    }
    if (batch.length > this.currentConfig.maxMessageBytes) throw new RecordTooLargeError(batch.length, this.currentConfig.maxMessageBytes);
    if (batch.length > this.currentConfig.segmentBytes) throw new RecordTooLargeError(batch.length, this.currentConfig.segmentBytes);
    let header: BatchHeader;
    try {
      header = readBatchHeader(batch);
    } catch (error) {
      if (error instanceof DecodeError) throw new CorruptRecordError(error.message, error.offset, { cause: error });
      throw error;
    }
    if (header.recordsCount < 1) throw new InvalidRecordError(`batch has ${header.recordsCount} records`);
    if (header.lastOffsetDelta !== header.recordsCount - 1) {
      throw new InvalidRecordError(`lastOffsetDelta ${header.lastOffsetDelta} does not match ${header.recordsCount} records`);
    }
    return header;
  }

  private checkCrc(batch: Buffer): void {
    if (!verifyBatchCrc(batch)) throw crcMismatch();
  }

  private async drainAppends(): Promise<void> {
    this.draining = true;
    try {
      while (this.pendingAppends.length > 0) {
        // The group is taken when the lock is ours, so everything queued meanwhile joins it.
        await this.exclusive(() => this.writeQueued()).catch(() => {});
      }
    } finally {
      this.draining = false;
    }
  }

  private writeQueued(): Promise<void> {
    const queued = this.pendingAppends;
    return queued.length === 1 ? this.writeAlone(queued.pop()!) : this.writeGroup(queued.splice(0));
  }

  /** Why appends queued before close() or a failure cannot be written (those before close() still are). */
  private queuedAppendRefusal(): Error | undefined {
    if (this.closed) return new LogClosedError(`partition log ${this.dir} is closed`);
    if (this.failure !== undefined) {
      return new LogStorageError(`partition log ${this.dir} failed an earlier write; reopen it to recover`, { cause: this.failure });
    }
    return undefined;
  }

  /**
   * A group of one: what a lone writer that awaits each append always gets. The steps of
   * `writeGroup` for one batch, without its arrays and closures, with a plain write, and with
   * the CRC-32C check (when it was left for later) running while the write is in flight
   * (`Segment.appendBatch`). A batch that fails it is cut off the file again and refused; its
   * producer state is recorded only once it passed. Whatever answers from the batch's header
   * before the write (a producer refusal or duplicate) or rewrites it (a roll, a LogAppendTime
   * stamp) waits for the check.
   */
  private async writeAlone(pending: PendingAppend): Promise<void> {
    const refusal = this.queuedAppendRefusal();
    if (refusal !== undefined) {
      pending.reject(refusal);
      return;
    }
    const { batch, header, marker } = pending;
    const nowMs = this.clock.nowMs();
    const logAppendTime = this.currentConfig.messageTimestampType === 'LogAppendTime';
    let producer: ProducerBatchInfo | undefined;
    if (header.producerId >= 0n) {
      producer = producerBatchInfo(header);
      const check = this.producers.checkAppend(producer, pending.origin, marker);
      if (check !== 'ok') {
        if (!this.intactBeforeWrite(pending)) return;
        if ('error' in check) pending.reject(new ProducerStateError(check));
        else pending.resolve(duplicateInfo(check.duplicateOf, header.recordsCount, logAppendTime));
        return;
      }
    }
    const baseOffset = this.logEndOffset;
    const lastOffset = baseOffset + BigInt(header.lastOffsetDelta);
    const roll = this.activeSegment.shouldRoll(batch.length, lastOffset, nowMs);
    if ((roll || logAppendTime) && !this.intactBeforeWrite(pending)) return;
    let info: AppendInfo;
    this.appendsWriting = true;
    try {
      if (roll) await this.rollLocked();
      patchBaseOffset(batch, baseOffset);
      let maxTimestampMs = header.maxTimestamp;
      if (logAppendTime) {
        maxTimestampMs = BigInt(nowMs);
        stampLogAppendTime(batch, maxTimestampMs);
      }
      const segment = this.activeSegment;
      if (!(await segment.appendBatch(batch, pending.crcChecked ? undefined : () => verifyBatchCrc(batch)))) {
        pending.reject(crcMismatch());
        return;
      }
      if (producer === undefined) {
        this.producers.updateMapEndOffset(lastOffset + 1n);
      } else {
        const completed = this.producers.recordAppend({ ...producer, baseOffset, maxTimestamp: maxTimestampMs, marker });
        if (completed?.aborted === true) await segment.txnIndex.append(abortedTxnOf(completed));
      }
      if (this.afterAppendsLocked(header.recordsCount, nowMs)) await this.flushForPolicy(nowMs);
      info = { baseOffset, lastOffset, maxTimestampMs, logAppendTimeMs: logAppendTime ? maxTimestampMs : -1n, recordCount: header.recordsCount };
    } catch (error) {
      this.failWith(error, 'append failed');
      pending.reject(new LogStorageError(`append to ${this.dir} failed: ${(error as Error).message}`, { cause: error }));
      return;
    } finally {
      this.appendsWriting = false;
    }
    pending.resolve(info);
  }

  /** Checks the CRC-32C now if it was left for later; a mismatch refuses the append (false). */
  private intactBeforeWrite(pending: PendingAppend): boolean {
    if (pending.crcChecked) return true;
    pending.crcChecked = true;
    if (verifyBatchCrc(pending.batch)) return true;
    pending.reject(crcMismatch());
    return false;
  }

  /**
   * After appends are written: the HW follows the LEO (unless replication drives it). Returns
   * whether the flush policy asks for an fsync now (synchronous, so that the common "no" costs
   * no await).
   */
  private afterAppendsLocked(recordCount: number, nowMs: number): boolean {
    if (this.highWatermarkFollowsLogEnd) {
      this.highWatermarkOffset = this.logEndOffset;
      this.producers.onHighWatermarkUpdated(this.highWatermarkOffset);
    }
    this.flushPolicy.recordAppended(recordCount);
    return this.flushPolicy.shouldFlush(nowMs);
  }

  private async writeGroup(group: PendingAppend[]): Promise<void> {
    if (group.length === 0) return;
    const refusal = this.queuedAppendRefusal();
    if (refusal !== undefined) {
      for (const pending of group) pending.reject(refusal);
      return;
    }
    const nowMs = this.clock.nowMs();
    const logAppendTime = this.currentConfig.messageTimestampType === 'LogAppendTime';
    // Per append: its AppendInfo, or the error that refused it alone (CRC, producer state).
    const outcomes: Array<AppendInfo | Error> = [];
    let run: Buffer[] = [];
    let runBytes = 0;
    /** Aborted transactions whose markers are in `run`, for the active segment's `.txnindex`. */
    let runAborts: CompletedTransaction[] = [];
    let nextOffset = this.logEndOffset;
    let recordCount = 0;
    const writeRun = async (): Promise<void> => {
      const segment = this.activeSegment;
      await segment.appendBatches(run);
      for (const transaction of runAborts) await segment.txnIndex.append(abortedTxnOf(transaction));
      run = [];
      runBytes = 0;
      runAborts = [];
    };
    this.appendsWriting = true;
    try {
      for (const { batch, header, origin, marker, crcChecked } of group) {
        if (!crcChecked && !verifyBatchCrc(batch)) {
          outcomes.push(crcMismatch());
          continue;
        }
        // Checked in arrival order against the state as left by the batches before it, this
        // group's included: they are recorded as they get their offsets, ahead of the write.
        // A failed write fails the log, which rebuilds the state from the files when reopened.
        let producer: ProducerBatchInfo | undefined;
        if (header.producerId >= 0n) {
          producer = producerBatchInfo(header);
          const check = this.producers.checkAppend(producer, origin, marker);
          if (check !== 'ok') {
            outcomes.push('error' in check ? new ProducerStateError(check) : duplicateInfo(check.duplicateOf, header.recordsCount, logAppendTime));
            continue;
          }
        }
        const lastOffset = nextOffset + BigInt(header.lastOffsetDelta);
        if (this.activeSegment.shouldRoll(batch.length, lastOffset, nowMs, runBytes)) {
          await writeRun();
          await this.rollLocked();
        }
        patchBaseOffset(batch, nextOffset);
        let maxTimestampMs = header.maxTimestamp;
        if (logAppendTime) {
          maxTimestampMs = BigInt(nowMs);
          stampLogAppendTime(batch, maxTimestampMs);
        }
        if (producer === undefined) {
          this.producers.updateMapEndOffset(lastOffset + 1n);
        } else {
          const completed = this.producers.recordAppend({ ...producer, baseOffset: nextOffset, maxTimestamp: maxTimestampMs, marker });
          if (completed?.aborted === true) runAborts.push(completed);
        }
        run.push(batch);
        runBytes += batch.length;
        outcomes.push({
          baseOffset: nextOffset,
          lastOffset,
          maxTimestampMs,
          logAppendTimeMs: logAppendTime ? maxTimestampMs : -1n,
          recordCount: header.recordsCount,
        });
        recordCount += header.recordsCount;
        nextOffset = lastOffset + 1n;
      }
      await writeRun();
      if (this.afterAppendsLocked(recordCount, nowMs)) await this.flushForPolicy(nowMs);
    } catch (error) {
      this.failWith(error, 'append failed');
      const failure = new LogStorageError(`append to ${this.dir} failed: ${(error as Error).message}`, { cause: error });
      for (const pending of group) pending.reject(failure);
      return;
    } finally {
      this.appendsWriting = false;
    }
    for (let i = 0; i < group.length; i++) {
      const outcome = outcomes[i]!;
      if (outcome instanceof Error) group[i]!.reject(outcome);
      else group[i]!.resolve(outcome);
    }
  }

  private failWith(error: unknown, what: string): void {
    if (this.failure === undefined) this.failure = error;
    this.logger.error({ dir: this.dir, err: error }, `${what}; the log refuses appends until it is reopened`);
  }

  /** fsync for the flush policy: rolled segments first (in order), then the active `.log`. */
  private async flushForPolicy(nowMs: number): Promise<void> {
    await this.rolledFlushes;
    const logEnd = this.logEndOffset;
    await this.activeSegment.flushLog();
    this.flushPolicy.flushed(nowMs);
    if (logEnd > this.recoveryPoint) this.recoveryPoint = logEnd;
  }

  /** For a periodic task: fsyncs if flush.ms has passed with unflushed appends. */
  flushIfDue(): Promise<boolean> {
    return this.exclusive(async () => {
      if (this.closed || this.failure !== undefined) return false;
      const nowMs = this.clock.nowMs();
      if (!this.flushPolicy.shouldFlush(nowMs)) return false;
      await this.flushForPolicy(nowMs);
      return true;
    });
  }

  // ---- roll -----------------------------------------------------------------------------

  /** Starts a new active segment at the LEO (no-op when the active segment is empty). */
  roll(): Promise<Segment> {
    return this.exclusive(async () => {
      this.assertWritable();
      return this.rollLocked();
    });
  }

  private async rollLocked(): Promise<Segment> {
    const previous = this.activeSegment;
    if (previous.isEmpty) return previous;
    await previous.onBecomeInactive();
    const next = await Segment.create(this.dir, previous.nextOffset, { config: this.currentConfig, clock: this.clock, fileSync: this.fileSync });
    this.segmentList = [...this.segmentList, next];
    // As Kafka, a snapshot at every roll: a restart replays at most the segments after it.
    await this.producers.takeSnapshot();
    this.logger.debug({ dir: this.dir, baseOffset: next.baseOffset.toString(), previousSizeBytes: previous.sizeBytes }, 'rolled a new segment');
    // As Kafka: fsync the finished segment off the append path, then move the recovery point.
    const upTo = next.baseOffset;
    this.rolledFlushes = this.rolledFlushes.then(async () => {
      try {
        if (!previous.isClosed) await previous.flush();
        await fsyncDirectory(this.dir);
        if (upTo > this.recoveryPoint) this.recoveryPoint = upTo;
        // The checkpoint claims only whole segments flushed with their indexes, never the active
        // segment (its index entries are written lazily, so after a crash it is always
        // recovered), nor offsets a truncation has removed since this roll.
        if (upTo > this.checkpointedRecoveryPoint && upTo <= this.logEndOffset) await this.writeRecoveryCheckpoint(upTo);
      } catch (error) {
        if (this.segmentList.includes(previous)) this.failWith(error, 'flushing a rolled segment failed');
      }
    });
    return next;
  }

  /** Rolls an idle active segment that is past segment.ms (for a periodic task; appends check it themselves). */
  rollIfPastSegmentMs(): Promise<boolean> {
    return this.exclusive(async () => {
      this.assertWritable();
      if (!this.activeSegment.isPastSegmentMs(this.clock.nowMs())) return false;
      await this.rollLocked();
      return true;
    });
  }

  // ---- read -----------------------------------------------------------------------------

  /** Index of the last segment whose base offset is <= `offset` (0 if none). */
  private segmentIndexFor(segments: readonly Segment[], offset: bigint): number {
    let low = 0;
    let high = segments.length - 1;
    let found = 0;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (segments[mid]!.baseOffset <= offset) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }

  /**
   * Whole batches from the one containing `fetchOffset`, up to `maxBytes` (at least one batch
   * when `minOneBatch`, the default), as file ranges. `fetchOffset` below the log start offset or
   * above the LEO throws `OffsetOutOfRangeError`; exactly the LEO returns no ranges.
   */
  async read(fetchOffset: bigint, maxBytes: number, options: ReadOptions = {}): Promise<ReadResult> {
    this.assertReadable();
    const segments = this.segmentList;
    const logEnd = this.logEndOffset;
    const logStart = this.logStart;
    const result: ReadResult = { ranges: [], sizeBytes: 0, highWatermark: this.highWatermarkOffset, logStartOffset: logStart, logEndOffset: logEnd };
    if (fetchOffset < logStart || fetchOffset > logEnd) throw new OffsetOutOfRangeError(fetchOffset, logStart, logEnd);
    const maxOffset = options.maxOffset === undefined || options.maxOffset > logEnd ? logEnd : options.maxOffset;
    const minOneBatch = options.minOneBatch ?? true;
    let offset = fetchOffset;
    let remaining = maxBytes;
    for (let i = this.segmentIndexFor(segments, fetchOffset); i < segments.length && offset < maxOffset; i++) {
      const segment = segments[i]!;
      if (offset >= segment.nextOffset) continue;
      const range = await segment.read(offset, remaining, { maxOffset, minOneBatch: minOneBatch && result.ranges.length === 0 });
      if (range === undefined) break;
      result.ranges.push(range);
      result.sizeBytes += range.size;
      remaining -= range.size;
      offset = range.nextOffset;
      if (range.nextOffset < segment.nextOffset || remaining <= 0) break;
    }
    return result;
  }

  /** Like `read`, but copies the bytes: one Buffer per batch. For callers that want bytes. */
  async readBatches(fetchOffset: bigint, maxBytes: number, options: ReadOptions = {}): Promise<Buffer[]> {
    const { ranges } = await this.read(fetchOffset, maxBytes, options);
    const batches: Buffer[] = [];
    for (const range of ranges) {
      const bytes = Buffer.allocUnsafe(range.size);
      let filled = 0;
      while (filled < range.size) {
        const { bytesRead } = await range.file.read(bytes, filled, range.size - filled, range.position + filled);
        if (bytesRead === 0) throw new CorruptRecordError(`segment ${range.logPath} ended inside a range being read`, range.position + filled);
        filled += bytesRead;
      }
      for (let at = 0; at < bytes.length; ) {
        const size = bytes.readInt32BE(at + BATCH_OFFSET_LENGTH) + LOG_OVERHEAD_BYTES;
        batches.push(bytes.subarray(at, at + size));
        at += size;
      }
    }
    return batches;
  }

  /**
   * ListOffsets: the first offset whose record timestamp is >= `timestampMs` (and its
   * timestamp), or undefined when every record is older. The special values are handled here:
   * -1 (LATEST) gives the LEO and -2 (EARLIEST) the log start offset, both with timestamp -1.
   * Exact per record for uncompressed batches; a compressed batch answers with its first offset.
   */
  async offsetForTimestamp(timestampMs: bigint): Promise<TimestampMatch | undefined> {
    this.assertReadable();
    if (timestampMs === LATEST_TIMESTAMP) return { offset: this.logEndOffset, timestampMs: -1n };
    if (timestampMs === EARLIEST_TIMESTAMP) return { offset: this.logStart, timestampMs: -1n };
    if (timestampMs < 0n) throw new InvalidOffsetError(`unsupported ListOffsets timestamp ${timestampMs}`);
    for (const segment of this.segmentList.slice()) {
      if (segment.nextOffset <= this.logStart || segment.maxTimestampMs < timestampMs) continue;
      const match = await segment.findOffsetByTimestamp(timestampMs, this.logStart);
      if (match !== undefined) return match;
    }
    return undefined;
  }

  // ---- deletion: DeleteRecords, retention, truncation -----------------------------------

  /**
   * DeleteRecords: moves the log start offset up to `offset` (-1 = the HW), persists it, and
   * deletes the segments that lie wholly below it. An offset above the HW throws
   * `OffsetOutOfRangeError`; one below the current log start offset changes nothing.
   * Returns the new log start offset (the "low watermark").
   */
  deleteRecordsBefore(offset: bigint): Promise<bigint> {
    return this.exclusive(async () => {
      this.assertWritable();
      const target = offset === -1n ? this.highWatermarkOffset : offset;
      if (target < 0n || target > this.highWatermarkOffset) throw new OffsetOutOfRangeError(target, this.logStart, this.highWatermarkOffset);
      if (target > this.logStart) {
        this.logStart = target;
        await this.logStartCheckpoint.write(target);
        this.logger.info({ dir: this.dir, logStartOffset: target.toString() }, 'log start offset moved by DeleteRecords');
      }
      await this.deleteSegmentsLocked(breachesLogStart(this.logStart), 'log start offset');
      await this.onLogStartOffsetMovedLocked();
      return this.logStart;
    });
  }

  /**
   * Deletes segments past retention.ms (by their max timestamp) and, oldest first, while the
   * log is larger than retention.bytes (both only under cleanup.policy delete), plus segments
   * wholly below the log start offset. Never deletes past the HW; rolls the active segment
   * first when it must go too. Also deletes `.deleted` files whose delay has passed.
   * Returns the number of segments deleted.
   */
  applyRetention(): Promise<number> {
    return this.exclusive(async () => {
      this.assertWritable();
      await this.deleteExpiredFilesLocked();
      const config = this.currentConfig;
      const nowMs = this.clock.nowMs();
      let deleted = 0;
      if (config.cleanupPolicy.includes('delete')) {
        if (config.retentionMs >= 0) {
          const retentionMs = BigInt(config.retentionMs);
          const now = BigInt(nowMs);
          deleted += await this.deleteSegmentsLocked((segment) => now - segment.maxTimestampMs > retentionMs, 'retention.ms');
        }
        if (config.retentionBytes >= 0) {
          let excessBytes = this.sizeBytes - config.retentionBytes;
          deleted += await this.deleteSegmentsLocked((segment) => {
            if (excessBytes - segment.sizeBytes < 0) return false;
            excessBytes -= segment.sizeBytes;
            return true;
          }, 'retention.bytes');
        }
      }
      deleted += await this.deleteSegmentsLocked(breachesLogStart(this.logStart), 'log start offset');
      return deleted;
    });
  }

  /**
   * Deletes the oldest segments while `shouldDelete` holds, stopping at the first that does not,
   * at an empty active segment, or at a segment that reaches past the HW.
   */
  private async deleteSegmentsLocked(shouldDelete: (segment: Segment, next: Segment | undefined) => boolean, reason: string): Promise<number> {
    const segments = this.segmentList;
    const deletable: Segment[] = [];
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      const next = segments[i + 1];
      if (next === undefined && segment.isEmpty) break;
      const upperBound = next === undefined ? segment.nextOffset : next.baseOffset;
      if (upperBound > this.highWatermarkOffset) break;
      if (!shouldDelete(segment, next)) break;
      deletable.push(segment);
    }
    if (deletable.length === 0) return 0;
    if (deletable.length === segments.length) await this.rollLocked();
    this.segmentList = this.segmentList.slice(deletable.length);
    const firstBase = this.segmentList[0]!.baseOffset;
    if (firstBase > this.logStart) {
      this.logStart = firstBase;
      await this.logStartCheckpoint.write(firstBase);
    }
    for (const segment of deletable) await this.scheduleDeletion(segment);
    await this.onLogStartOffsetMovedLocked();
    this.logger.info(
      {
        dir: this.dir,
        reason,
        segments: deletable.map((segment) => segment.baseOffset.toString()),
        logStartOffset: this.logStart.toString(),
      },
      `deleted ${deletable.length} segment(s)`,
    );
    return deletable.length;
  }

  /** Renames the files to `.deleted` now; removes them after file.delete.delay.ms. */
  private async scheduleDeletion(segment: Segment): Promise<void> {
    const delayMs = this.currentConfig.fileDeleteDelayMs;
    if (delayMs === 0) {
      await segment.delete();
      return;
    }
    await segment.renameSuffix('.deleted');
    this.pendingDeletions.push({ segment, deleteAtMs: this.clock.nowMs() + delayMs });
  }

  /** Removes `.deleted` segments whose delay has passed; returns how many. */
  deleteExpiredFiles(): Promise<number> {
    return this.exclusive(() => this.deleteExpiredFilesLocked());
  }

  private async deleteExpiredFilesLocked(force = false): Promise<number> {
    const nowMs = this.clock.nowMs();
    let deleted = 0;
    for (let i = 0; i < this.pendingDeletions.length; ) {
      const pending = this.pendingDeletions[i]!;
      if (force || pending.deleteAtMs <= nowMs) {
        await pending.segment.delete();
        this.pendingDeletions.splice(i, 1);
        deleted++;
      } else {
        i++;
      }
    }
    return deleted;
  }

  /**
   * Removes every batch holding an offset >= `offset` (whole batches, so the LEO may end a
   * little below `offset`), for a follower that diverged. Below the first segment, the log is
   * emptied and restarts at `offset`. The HW and recovery point come down with the LEO.
   */
  truncateTo(offset: bigint): Promise<void> {
    return this.exclusive(async () => {
      this.assertWritable();
      if (offset < 0n) throw new InvalidOffsetError(`cannot truncate to negative offset ${offset}`);
      if (offset >= this.logEndOffset) return;
      const oldEnd = this.logEndOffset;
      const fully = offset <= this.segmentList[0]!.baseOffset || offset < this.logStart;
      if (fully) {
        // A segment at exactly `offset` shares the new segment's file names: remove it first.
        for (const segment of this.segmentList) {
          if (segment.baseOffset === offset) await segment.delete();
          else await this.scheduleDeletion(segment);
        }
        this.segmentList = [await Segment.create(this.dir, offset, { config: this.currentConfig, clock: this.clock, fileSync: this.fileSync })];
        this.logStart = offset;
        await this.logStartCheckpoint.write(offset);
      } else {
        const keep = this.segmentList.filter((segment) => segment.baseOffset < offset);
        const drop = this.segmentList.slice(keep.length);
        this.segmentList = keep;
        for (const segment of drop) await this.scheduleDeletion(segment);
        await this.activeSegment.truncateTo(offset);
      }
      const logEnd = this.logEndOffset;
      if (this.highWatermarkOffset > logEnd) this.highWatermarkOffset = logEnd;
      if (this.recoveryPoint > logEnd) this.recoveryPoint = logEnd;
      // Segment truncation cut the `.txnindex` entries past the end; snapshots past it go too.
      if (fully) {
        await this.producers.truncateFullyAndStartAt(logEnd);
      } else {
        await this.rebuildProducerStateLocked();
      }
      // The checkpoint must never claim offsets that are about to be rewritten.
      if (this.checkpointedRecoveryPoint > logEnd) await this.writeRecoveryCheckpoint(logEnd);
      this.logger.info({ dir: this.dir, requested: offset.toString(), from: oldEnd.toString(), logEndOffset: logEnd.toString() }, 'truncated the log');
    });
  }

  /**
   * Swaps a cleaned segment in for the non-active segments it replaces, crash-safely (Kafka's
   * protocol): `.cleaned` -> `.swap` (durable, so recovery completes the swap), the old
   * segments -> `.deleted`, then `.swap` -> live. `cleaned` must have been created with
   * fileSuffix '.cleaned' in this directory with the base offset of `oldSegments[0]`; the log
   * owns it afterwards.
   */
  replaceSegments(oldSegments: readonly Segment[], cleaned: Segment): Promise<void> {
    return this.exclusive(async () => {
      this.assertWritable();
      const first = this.segmentList.indexOf(oldSegments[0]!);
      if (oldSegments.length === 0 || first < 0) throw new RangeError('replaceSegments: the old segments are not in this log');
      for (let i = 0; i < oldSegments.length; i++) {
        if (this.segmentList[first + i] !== oldSegments[i]) throw new RangeError('replaceSegments: the old segments are not contiguous in this log');
      }
      if (first + oldSegments.length >= this.segmentList.length) throw new RangeError('replaceSegments: cannot replace the active segment');
      if (cleaned.baseOffset !== oldSegments[0]!.baseOffset || cleaned.dir !== this.dir || cleaned.fileSuffix !== '.cleaned') {
        throw new RangeError('replaceSegments: the cleaned segment must be a .cleaned segment at the first old base offset in this directory');
      }
      const following = this.segmentList[first + oldSegments.length]!;
      if (cleaned.nextOffset > following.baseOffset) throw new RangeError('replaceSegments: the cleaned segment overlaps the next segment');

      // The aborted transactions stay listed: the cleaner keeps markers, and read_committed
      // consumers still need to filter whatever records of them it kept.
      if (cleaned.txnIndex.entryCount === 0) {
        for (const old of oldSegments) for (const transaction of old.txnIndex.allAbortedTxns()) await cleaned.txnIndex.append(transaction);
      }
      await cleaned.onBecomeInactive();
      await cleaned.flush();
      await cleaned.renameSuffix('.swap');
      await fsyncDirectory(this.dir);
      cleaned.updateConfig(this.currentConfig);
      this.segmentList = [...this.segmentList.slice(0, first), cleaned, ...this.segmentList.slice(first + oldSegments.length)];
      for (const old of oldSegments) await this.scheduleDeletion(old);
      await fsyncDirectory(this.dir);
      await cleaned.renameSuffix('');
      await fsyncDirectory(this.dir);
      this.logger.info(
        { dir: this.dir, replaced: oldSegments.map((segment) => segment.baseOffset.toString()), sizeBytes: cleaned.sizeBytes },
        'swapped in a cleaned segment',
      );
    });
  }

  // ---- durability and lifecycle ---------------------------------------------------------

  /** fsyncs every segment up to the LEO and checkpoints the recovery point. */
  flush(): Promise<void> {
    return this.exclusive(async () => {
      this.assertReadable();
      await this.flushAllLocked();
    });
  }

  private async flushAllLocked(): Promise<void> {
    await this.rolledFlushes;
    const logEnd = this.logEndOffset;
    for (const segment of this.segmentList) {
      if (segment.nextOffset > this.checkpointedRecoveryPoint || segment === this.activeSegment) await segment.flush();
    }
    this.flushPolicy.flushed(this.clock.nowMs());
    this.recoveryPoint = logEnd;
    await this.writeRecoveryCheckpoint(logEnd);
  }

  private async writeRecoveryCheckpoint(offset: bigint): Promise<void> {
    await this.recoveryCheckpoint.write(offset);
    this.checkpointedRecoveryPoint = offset;
  }

  /** Waits for queued appends, flushes, checkpoints and closes every file. */
  async close(): Promise<void> {
    if (this.closing || this.closed) return;
    this.closing = true;
    while (this.draining || this.pendingAppends.length > 0) await this.lock;
    await this.exclusive(async () => {
      try {
        if (this.failure === undefined) {
          await this.flushAllLocked();
          await this.producers.takeSnapshot();
        }
        await this.logStartCheckpoint.write(this.logStart);
      } finally {
        await this.deleteExpiredFilesLocked(true).catch(() => 0);
        for (const segment of this.segmentList) await segment.close().catch(() => {});
        this.closed = true;
      }
    });
  }
}

function crcMismatch(): CorruptRecordError {
  return new CorruptRecordError('batch fails its CRC-32C check');
}

/** What a Fetch response lists is what a `.txnindex` entry records. */
function abortedTxnOf(transaction: CompletedTransaction): AbortedTxn {
  return {
    producerId: transaction.producerId,
    firstOffset: transaction.firstOffset,
    lastOffset: transaction.lastOffset,
    lastStableOffset: transaction.lastStableOffset,
  };
}

/** The answer to a retried batch: the original batch's offsets, nothing written. */
function duplicateInfo(original: { firstOffset: bigint; lastOffset: bigint; maxTimestamp: bigint }, recordCount: number, logAppendTime: boolean): AppendInfo {
  return {
    baseOffset: original.firstOffset,
    lastOffset: original.lastOffset,
    maxTimestampMs: original.maxTimestamp,
    logAppendTimeMs: logAppendTime ? original.maxTimestamp : -1n,
    recordCount,
    duplicate: true,
  };
}

function breachesLogStart(logStart: bigint): (segment: Segment, next: Segment | undefined) => boolean {
  return (segment, next) => (next === undefined ? segment.nextOffset <= logStart : next.baseOffset <= logStart);
}

/** LogAppendTime: set the timestamp-type bit and maxTimestamp, then the CRC they invalidate. */
function stampLogAppendTime(batch: Buffer, appendTimeMs: bigint): void {
  batch.writeInt16BE(batch.readInt16BE(BATCH_OFFSET_ATTRIBUTES) | ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND, BATCH_OFFSET_ATTRIBUTES);
  batch.writeBigInt64BE(appendTimeMs, BATCH_OFFSET_MAX_TIMESTAMP);
  batch.writeUInt32BE(computeBatchCrc(batch), BATCH_OFFSET_CRC);
}

async function readCheckpointOrWarn(checkpoint: OffsetCheckpointFile, logger: Logger): Promise<bigint | undefined> {
  try {
    return await checkpoint.read();
  } catch (error) {
    if (!(error instanceof CheckpointFormatError)) throw error;
    logger.warn({ file: checkpoint.path, err: error }, 'ignoring a malformed checkpoint file');
    return undefined;
  }
}
