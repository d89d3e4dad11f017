import path from 'node:path';
import { rm } from 'node:fs/promises';
import { decodeControlRecord, decodeRecordBatch, DecodeError, isControl, isTransactional, type BatchHeader, type ControlRecordType } from '@defter/protocol';
import { systemClock, type Clock } from './clock.js';
import { CorruptRecordError, LogError } from './errors.js';
import type { IndexFileSync } from './index-file.js';
import { silentLogger, type Logger } from './logger.js';
import {
  CorruptSnapshotError,
  listProducerSnapshots,
  producerSnapshotFileName,
  PRODUCER_SNAPSHOT_BYTES_MAX_DEFAULT,
  readProducerSnapshotFile,
  writeProducerSnapshotFile,
  type ProducerSnapshotEntry,
} from './producer-snapshot.js';

/*
 * The state of idempotent and transactional producers in one partition, Kafka's model
 * (ProducerStateManager / ProducerStateEntry / ProducerAppendInfo): per producer id its epoch, the
 * sequence and offset ranges of its last 5 batches (to acknowledge a retry with the original
 * offsets), the coordinator epoch of its last transaction marker, and the first offset of its open
 * transaction. From the open transactions comes the first unstable offset, hence the last stable
 * offset (LSO) that read_committed fetches stop at. Snapshots (`<offset>.snapshot`, Kafka's
 * format) plus a replay of the log tail rebuild the state after a restart.
 *
 * Rules (Kafka 3.x/4.x, origin 'client'):
 * - producerId < 0: not idempotent, nothing is checked or kept.
 * - Same epoch and the exact sequence range of one of the last 5 batches: a duplicate, answered
 *   with that batch's offsets and not written again. Older retries fall to the sequence check and
 *   get OUT_OF_ORDER_SEQUENCE_NUMBER (Kafka brokers no longer send DUPLICATE_SEQUENCE_NUMBER).
 * - Epoch below the producer's: INVALID_PRODUCER_EPOCH (47; Kafka replaced PRODUCER_FENCED here).
 * - A new epoch must start at sequence 0; the same epoch must continue at lastSequence + 1,
 *   wrapping from Int32.MAX to 0; otherwise OUT_OF_ORDER_SEQUENCE_NUMBER (45).
 * - A producer with no state (new, or expired): any sequence is accepted (KIP-360 replaced
 *   UNKNOWN_PRODUCER_ID with this), so a producer whose records were deleted can carry on.
 * - A non-transactional batch while the producer's transaction is open: INVALID_TXN_STATE (48).
 * - A marker (control batch) with an older producer epoch: INVALID_PRODUCER_EPOCH; with an older
 *   coordinator epoch than the last marker's: TRANSACTION_COORDINATOR_FENCED (52).
 * Origin 'coordinator' (markers, transactional offset commits) checks epochs only; 'replication'
 * (a follower, and the replay of the log on recovery) checks nothing.
 *
 * How it plugs in next session (PartitionLog owns one, in its directory; ReplicaManager and the
 * handlers never touch it directly):
 * 1. Open: `ProducerStateManager.open({ dir, clock, logger, producerIdExpirationMs })`, after the
 *    segments are recovered: `rebuild({ logStartOffset, logEndOffset, batchesFrom })`, where
 *    `batchesFrom(offset)` yields `segment.batches()` entries ({header, bytes}) from the segment
 *    holding `offset` onwards; `onCompletedTransaction` appends each aborted one to the
 *    TransactionIndex of the segment holding its marker (a recovered segment resets its
 *    `.txnindex` first and is refilled by this replay). Then `onHighWatermarkUpdated(hw)`.
 * 2. Append (PartitionLog.append, under its append lock), per batch: `checkAppend(header-fields,
 *    origin, marker)` before anything is written. 'ok' → assign offsets and write the batch, then
 *    `recordAppend({...fields, baseOffset, maxTimestamp, marker})`; if it returns a completed
 *    transaction that was aborted, append `{producerId, firstOffset, lastOffset,
 *    lastStableOffset}` to the active segment's TransactionIndex. `{duplicateOf}` → write nothing
 *    and answer with those offsets. `{error}` → throw `ProducerStateError` (its kafkaErrorName is
 *    the partition's error code in the Produce response). Markers come from the transaction
 *    coordinator's WriteTxnMarkers path with origin 'coordinator' and `readEndTxnMarker(bytes)`.
 * 3. High watermark: whenever it moves, `onHighWatermarkUpdated(hw)`; the log's LSO is
 *    `lastStableOffset(hw, logStartOffset)`, which ReplicaManager.fetch uses as the upper bound of
 *    read_committed reads (and ListOffsets with read_committed).
 * 4. Roll: `takeSnapshot()` at the new segment's base offset (Kafka snapshots at every roll);
 *    close: `takeSnapshot()` at the log end offset.
 * 5. Truncation to `offset` (replica divergence, recovery): `truncateAndReload(logStartOffset,
 *    offset)` then `rebuild` as in 1. Log start offset moves (retention, DeleteRecords):
 *    `onLogStartOffsetIncremented(offset)` and `deleteSnapshotsBefore(oldest segment base)`.
 * 6. LogManager's periodic task: `removeExpiredProducers()` every
 *    producer.id.expiration.check.interval.ms (Kafka's default 10 minutes).
 */

export const PRODUCER_BATCHES_RETAINED = 5;
export const PRODUCER_ID_EXPIRATION_MS_DEFAULT = 86_400_000;
export const NO_PRODUCER_EPOCH = -1;
export const NO_SEQUENCE = -1;
const INT32_MAX = 2_147_483_647;

/** Where an append comes from, which decides how much is validated (Kafka's AppendOrigin). */
export type AppendOrigin = 'client' | 'coordinator' | 'replication';

/** The header fields of a batch that producer state looks at. */
export interface ProducerBatchInfo {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  lastOffsetDelta: number;
  isTransactional: boolean;
  isControl: boolean;
}

/** The commit or abort marker of a control batch (null: an empty control batch, left by compaction). */
export interface EndTxnMarker {
  type: ControlRecordType;
  coordinatorEpoch: number;
}

/** A batch the log has written, with its offsets assigned. */
export interface AppendedProducerBatch extends ProducerBatchInfo {
  baseOffset: bigint;
  maxTimestamp: bigint;
  /** Required for a control batch of a producer. */
  marker?: EndTxnMarker | null;
}

/** Sequences and offsets of one batch that a producer wrote. */
export interface BatchMetadata {
  firstSequence: number;
  lastSequence: number;
  firstOffset: bigint;
  lastOffset: bigint;
  maxTimestamp: bigint;
}

export interface ProducerStateEntry {
  readonly producerId: bigint;
  producerEpoch: number;
  /** Oldest first, at most PRODUCER_BATCHES_RETAINED. */
  batches: BatchMetadata[];
  /** Coordinator epoch of the last marker; -1 before any. */
  coordinatorEpoch: number;
  /** Max timestamp of the last batch or marker: expiry counts from it. */
  lastTimestamp: bigint;
  /** First offset of the open transaction, if one is open. */
  currentTxnFirstOffset: bigint | undefined;
}

export type ProducerErrorName = 'OUT_OF_ORDER_SEQUENCE_NUMBER' | 'INVALID_PRODUCER_EPOCH' | 'INVALID_TXN_STATE' | 'TRANSACTION_COORDINATOR_FENCED';

export type AppendCheck =
  | 'ok'
  | { duplicateOf: { firstOffset: bigint; lastOffset: bigint; maxTimestamp: bigint } }
  | { error: ProducerErrorName; message: string };

/** A transaction whose marker was just written. `lastStableOffset` is what the transaction index records. */
export interface CompletedTransaction {
  producerId: bigint;
  firstOffset: bigint;
  /** The marker's offset. */
  lastOffset: bigint;
  aborted: boolean;
  /** The LSO once this transaction completes: the first offset of the next open transaction, else lastOffset + 1. */
  lastStableOffset: bigint;
}

/** A refused append, carrying the Kafka error the Produce response gives. */
export class ProducerStateError extends LogError {
  override readonly kafkaErrorName: ProducerErrorName;
  constructor(check: { error: ProducerErrorName; message: string }) {
    super(check.message);
    this.kafkaErrorName = check.error;
  }
}

/** A batch as a segment scan yields it: the header, and the bytes (read only for control batches). */
export interface ReplayBatch {
  header: BatchHeader;
  bytes: Buffer;
}

export interface ProducerStateManagerOptions {
  /** The partition directory, where `<offset>.snapshot` files live. */
  dir: string;
  clock?: Clock;
  logger?: Logger;
  /** producer.id.expiration.ms: an idle producer with no open transaction is forgotten after this. */
  producerIdExpirationMs?: number;
  /** fsync of a snapshot before its rename (default: fsync); tests count calls or inject failures. */
  fileSync?: IndexFileSync;
  snapshotBytesMax?: number;
}

export interface RebuildOptions {
  logStartOffset: bigint;
  logEndOffset: bigint;
  /** The log's batches from the one holding `offset` (earlier ones are skipped) to the end. */
  batchesFrom: (offset: bigint) => AsyncIterable<ReplayBatch> | Iterable<ReplayBatch>;
  /** Each transaction whose marker the replay passes (aborted ones go to the transaction index). */
  onCompletedTransaction?: (transaction: CompletedTransaction) => void | Promise<void>;
}

/** The sequence `increment` after `sequence`, wrapping from Int32.MAX to 0 (Kafka's incrementSequence). */
export function incrementSequence(sequence: number, increment: number): number {
  return sequence > INT32_MAX - increment ? increment - (INT32_MAX - sequence) - 1 : sequence + increment;
}

/** The sequence `decrement` before `sequence`, wrapping from 0 to Int32.MAX (Kafka's decrementSequence). */
export function decrementSequence(sequence: number, decrement: number): number {
  return sequence < decrement ? INT32_MAX - (decrement - sequence) + 1 : sequence - decrement;
}

/** True when `next` directly follows `last` (Int32.MAX is followed by 0). */
export function inSequence(last: number, next: number): boolean {
  return next === last + 1 || (next === 0 && last === INT32_MAX);
}

/**
 * The end-transaction marker in a control batch's bytes; null for an empty control batch or a
 * control type that is not commit/abort. A malformed marker is a CorruptRecordError.
 */
export function readEndTxnMarker(bytes: Buffer): EndTxnMarker | null {
  try {
    const batch = decodeRecordBatch(bytes);
    const record = batch.records[0];
    if (record === undefined) return null;
    const control = decodeControlRecord(record);
    return control.type === 'unknown' ? null : { type: control.type, coordinatorEpoch: control.coordinatorEpoch };
  } catch (error) {
    if (error instanceof DecodeError) throw new CorruptRecordError(`unreadable control batch: ${error.message}`, 0, { cause: error });
    throw error;
  }
}

/** The producer fields of a batch header. */
export function producerBatchInfo(header: BatchHeader): ProducerBatchInfo {
  return {
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    lastOffsetDelta: header.lastOffsetDelta,
    isTransactional: isTransactional(header.attributes),
    isControl: isControl(header.attributes),
  };
}

function emptyEntry(producerId: bigint): ProducerStateEntry {
  return { producerId, producerEpoch: NO_PRODUCER_EPOCH, batches: [], coordinatorEpoch: -1, lastTimestamp: -1n, currentTxnFirstOffset: undefined };
}

function lastSequenceOf(entry: ProducerStateEntry): number {
  return entry.batches.at(-1)?.lastSequence ?? NO_SEQUENCE;
}

/** Clears the batches when the epoch changes (their sequences belong to the old epoch). */
function setEpoch(entry: ProducerStateEntry, producerEpoch: number): void {
  if (entry.producerEpoch === producerEpoch) return;
  entry.producerEpoch = producerEpoch;
  entry.batches = [];
}

export class ProducerStateManager {
  private readonly producers = new Map<bigint, ProducerStateEntry>();
  /**
   * Open transactions: first offset → producer id, kept in ascending first-offset order (appends
   * come in offset order; loads sort), so the first key is the first undecided offset.
   */
  private ongoing = new Map<bigint, bigint>();
  /** The last first offset added to `ongoing`: a smaller one re-sorts it. */
  private lastOngoingAdded: bigint | undefined;
  /** Completed transactions whose marker is not yet below the high watermark: first offset → marker offset. */
  private readonly unreplicated = new Map<bigint, bigint>();
  private snapshotOffsets: bigint[];
  private lastMapOffset = 0n;
  private lastSnapOffset = 0n;
  private readonly clock: Clock;
  private readonly logger: Logger;
  readonly producerIdExpirationMs: number;

  private constructor(
    private readonly options: ProducerStateManagerOptions,
    snapshotOffsets: bigint[],
  ) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.producerIdExpirationMs = options.producerIdExpirationMs ?? PRODUCER_ID_EXPIRATION_MS_DEFAULT;
    if (!Number.isSafeInteger(this.producerIdExpirationMs) || this.producerIdExpirationMs < 0) {
      throw new RangeError(`producer.id.expiration.ms ${this.producerIdExpirationMs} is not a non-negative integer`);
    }
    this.snapshotOffsets = snapshotOffsets;
  }

  /** Lists the snapshot files in `dir`; the state starts empty at offset 0 (call `rebuild`). */
  static async open(options: ProducerStateManagerOptions): Promise<ProducerStateManager> {
    return new ProducerStateManager(options, await listProducerSnapshots(options.dir));
  }

  get dir(): string {
    return this.options.dir;
  }

  /** The offset up to which (exclusive) the state reflects the log. */
  get mapEndOffset(): bigint {
    return this.lastMapOffset;
  }

  get producerCount(): number {
    return this.producers.size;
  }

  /** True when no producer and no unreplicated transaction is held. */
  get isEmpty(): boolean {
    return this.producers.size === 0 && this.unreplicated.size === 0;
  }

  /** The state of one producer (read only: a copy would cost on the hot path). */
  entry(producerId: bigint): Readonly<ProducerStateEntry> | undefined {
    return this.producers.get(producerId);
  }

  activeProducers(): IterableIterator<Readonly<ProducerStateEntry>> {
    return this.producers.values();
  }

  /**
   * Decides whether a batch may be appended (before offsets are assigned). `marker` is the
   * decoded marker of a control batch (`readEndTxnMarker`).
   */
  checkAppend(batch: ProducerBatchInfo, origin: AppendOrigin = 'client', marker?: EndTxnMarker | null): AppendCheck {
    if (batch.producerId < 0n || origin === 'replication') return 'ok';
    const entry = this.producers.get(batch.producerId);
    if (batch.isControl) return marker == null ? 'ok' : this.checkMarker(batch, entry, marker);
    if (entry === undefined) return 'ok';
    const lastSequence = incrementSequence(batch.baseSequence, batch.lastOffsetDelta);
    if (origin === 'client' && entry.producerEpoch === batch.producerEpoch) {
      const duplicate = entry.batches.find((b) => b.firstSequence === batch.baseSequence && b.lastSequence === lastSequence);
      if (duplicate !== undefined) return { duplicateOf: { firstOffset: duplicate.firstOffset, lastOffset: duplicate.lastOffset, maxTimestamp: duplicate.maxTimestamp } };
    }
    if (batch.producerEpoch < entry.producerEpoch) {
      return {
        error: 'INVALID_PRODUCER_EPOCH',
        message: `epoch ${batch.producerEpoch} of producer ${batch.producerId} is smaller than the last seen epoch ${entry.producerEpoch}`,
      };
    }
    if (origin === 'client' && entry.producerEpoch !== NO_PRODUCER_EPOCH) {
      if (batch.producerEpoch !== entry.producerEpoch) {
        if (batch.baseSequence !== 0) {
          return {
            error: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
            message: `producer ${batch.producerId} starts epoch ${batch.producerEpoch} at sequence ${batch.baseSequence}, not 0 (current epoch ${entry.producerEpoch})`,
          };
        }
      } else if (!inSequence(lastSequenceOf(entry), batch.baseSequence)) {
        return {
          error: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
          message: `out of order sequence for producer ${batch.producerId}: ${batch.baseSequence} (incoming), ${lastSequenceOf(entry)} (current end sequence)`,
        };
      }
    }
    if (entry.currentTxnFirstOffset !== undefined && !batch.isTransactional) {
      return { error: 'INVALID_TXN_STATE', message: `non-transactional write from producer ${batch.producerId} while its transaction is open` };
    }
    return 'ok';
  }

  private checkMarker(batch: ProducerBatchInfo, entry: ProducerStateEntry | undefined, marker: EndTxnMarker): AppendCheck {
    if (entry === undefined) return 'ok';
    if (batch.producerEpoch < entry.producerEpoch) {
      return {
        error: 'INVALID_PRODUCER_EPOCH',
        message: `marker epoch ${batch.producerEpoch} of producer ${batch.producerId} is smaller than the last seen epoch ${entry.producerEpoch}`,
      };
    }
    if (entry.coordinatorEpoch > marker.coordinatorEpoch) {
      return {
        error: 'TRANSACTION_COORDINATOR_FENCED',
        message: `coordinator epoch ${marker.coordinatorEpoch} (zombie) for producer ${batch.producerId} is older than ${entry.coordinatorEpoch} (current)`,
      };
    }
    return 'ok';
  }

  /**
   * Updates the state with a batch the log has written (after `checkAppend` allowed it, or from
   * replication/replay, unchecked), and moves the map end offset past it. Any batch may be
   * passed; those without a producer id only move the end offset. A marker that ends an open
   * transaction returns it, with the LSO to record in the transaction index.
   */
  recordAppend(batch: AppendedProducerBatch): CompletedTransaction | undefined {
    const lastOffset = batch.baseOffset + BigInt(batch.lastOffsetDelta);
    if (lastOffset + 1n > this.lastMapOffset) this.lastMapOffset = lastOffset + 1n;
    if (batch.producerId < 0n) return undefined;
    if (batch.isControl) {
      if (batch.marker === undefined) throw new RangeError('recordAppend of a control batch needs its marker (readEndTxnMarker)');
      if (batch.marker === null) return undefined;
      return this.recordMarker(batch, batch.marker);
    }
    let entry = this.producers.get(batch.producerId);
    if (entry === undefined) {
      entry = emptyEntry(batch.producerId);
      this.producers.set(batch.producerId, entry);
    }
    setEpoch(entry, batch.producerEpoch);
    if (entry.batches.length === PRODUCER_BATCHES_RETAINED) entry.batches.shift();
    entry.batches.push({
      firstSequence: batch.baseSequence,
      lastSequence: incrementSequence(batch.baseSequence, batch.lastOffsetDelta),
      firstOffset: batch.baseOffset,
      lastOffset,
      maxTimestamp: batch.maxTimestamp,
    });
    entry.lastTimestamp = batch.maxTimestamp;
    if (batch.isTransactional && entry.currentTxnFirstOffset === undefined) {
      entry.currentTxnFirstOffset = batch.baseOffset;
      this.addOngoing(batch.baseOffset, batch.producerId);
    }
    return undefined;
  }

  private recordMarker(batch: AppendedProducerBatch, marker: EndTxnMarker): CompletedTransaction | undefined {
    let entry = this.producers.get(batch.producerId);
    if (entry === undefined) {
      entry = emptyEntry(batch.producerId);
      this.producers.set(batch.producerId, entry);
    }
    let completed: CompletedTransaction | undefined;
    const firstOffset = entry.currentTxnFirstOffset;
    // Only a transaction with data completes: an empty one never held the LSO back.
    if (firstOffset !== undefined) {
      completed = {
        producerId: batch.producerId,
        firstOffset,
        lastOffset: batch.baseOffset,
        aborted: marker.type === 'abort',
        lastStableOffset: this.nextOpenTransactionOffset(batch.producerId) ?? batch.baseOffset + 1n,
      };
      this.ongoing.delete(firstOffset);
      this.unreplicated.set(firstOffset, batch.baseOffset);
    }
    setEpoch(entry, batch.producerEpoch);
    entry.coordinatorEpoch = marker.coordinatorEpoch;
    entry.currentTxnFirstOffset = undefined;
    entry.lastTimestamp = batch.maxTimestamp;
    return completed;
  }

  /** First offset of the earliest open transaction of another producer. */
  private nextOpenTransactionOffset(producerId: bigint): bigint | undefined {
    for (const [firstOffset, owner] of this.ongoing) if (owner !== producerId) return firstOffset;
    return undefined;
  }

  private addOngoing(firstOffset: bigint, producerId: bigint): void {
    const outOfOrder = this.lastOngoingAdded !== undefined && firstOffset < this.lastOngoingAdded;
    this.ongoing.set(firstOffset, producerId);
    this.lastOngoingAdded = firstOffset;
    if (outOfOrder) this.ongoing = new Map([...this.ongoing].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** True while the producer has written to a transaction that no marker has ended yet. */
  hasOngoingTransaction(producerId: bigint): boolean {
    return this.producers.get(producerId)?.currentTxnFirstOffset !== undefined;
  }

  /** The first offset of the earliest open transaction (its outcome unknown). */
  firstUndecidedOffset(): bigint | undefined {
    for (const firstOffset of this.ongoing.keys()) return firstOffset;
    return undefined;
  }

  /**
   * The first offset a read_committed consumer may not see yet: the earliest open transaction,
   * or the earliest completed one whose marker is not below the high watermark.
   */
  firstUnstableOffset(): bigint | undefined {
    let first = this.firstUndecidedOffset();
    for (const firstOffset of this.unreplicated.keys()) if (first === undefined || firstOffset < first) first = firstOffset;
    return first;
  }

  /** The last stable offset: min(first unstable offset, high watermark), never below the log start offset. */
  lastStableOffset(highWatermark: bigint, logStartOffset = 0n): bigint {
    const unstable = this.firstUnstableOffset();
    const lso = unstable !== undefined && unstable < highWatermark ? unstable : highWatermark;
    return lso < logStartOffset ? logStartOffset : lso;
  }

  /** Completed transactions whose marker is now below the high watermark stop holding the LSO. */
  onHighWatermarkUpdated(highWatermark: bigint): void {
    // Called after every append: skip making an iterator when nothing waits (the common case).
    if (this.unreplicated.size === 0) return;
    for (const [firstOffset, markerOffset] of this.unreplicated) if (markerOffset < highWatermark) this.unreplicated.delete(firstOffset);
  }

  /** After retention or DeleteRecords moved the log start offset. */
  onLogStartOffsetIncremented(logStartOffset: bigint): void {
    this.onHighWatermarkUpdated(logStartOffset);
    if (this.lastMapOffset < logStartOffset) this.lastMapOffset = logStartOffset;
    this.lastSnapOffset = this.latestSnapshotOffset() ?? logStartOffset;
  }

  /** Moves the end offset (for batches that bypass recordAppend, e.g. after a replay). */
  updateMapEndOffset(offset: bigint): void {
    this.lastMapOffset = offset;
  }

  private isExpired(entry: ProducerStateEntry, nowMs: number): boolean {
    return entry.currentTxnFirstOffset === undefined && BigInt(nowMs) - entry.lastTimestamp >= BigInt(this.producerIdExpirationMs);
  }

  /** Forgets producers idle for producer.id.expiration.ms with no open transaction; returns how many. */
  removeExpiredProducers(): number {
    const nowMs = this.clock.nowMs();
    let removed = 0;
    for (const [producerId, entry] of this.producers) {
      if (this.isExpired(entry, nowMs)) {
        this.producers.delete(producerId);
        removed++;
      }
    }
    return removed;
  }

  // --- snapshots ---

  snapshotPath(offset: bigint): string {
    return path.join(this.options.dir, producerSnapshotFileName(offset));
  }

  /** Offsets of the snapshot files, ascending. */
  snapshots(): readonly bigint[] {
    return this.snapshotOffsets;
  }

  latestSnapshotOffset(): bigint | undefined {
    return this.snapshotOffsets.at(-1);
  }

  oldestSnapshotOffset(): bigint | undefined {
    return this.snapshotOffsets[0];
  }

  /** Writes a snapshot at the map end offset unless one is already there; returns its offset. */
  async takeSnapshot(): Promise<bigint | undefined> {
    if (this.lastMapOffset <= this.lastSnapOffset) return undefined;
    const offset = this.lastMapOffset;
    const entries = [...this.producers.values()].sort((a, b) => (a.producerId < b.producerId ? -1 : a.producerId > b.producerId ? 1 : 0)).map(toSnapshotEntry);
    await writeProducerSnapshotFile(this.snapshotPath(offset), entries, this.options.fileSync);
    this.addSnapshotOffset(offset);
    this.lastSnapOffset = offset;
    this.logger.info({ dir: this.options.dir, offset: offset.toString(), producers: entries.length }, 'wrote producer snapshot');
    return offset;
  }

  private addSnapshotOffset(offset: bigint): void {
    if (this.snapshotOffsets.includes(offset)) return;
    this.snapshotOffsets.push(offset);
    this.snapshotOffsets.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  private async deleteSnapshot(offset: bigint): Promise<void> {
    this.snapshotOffsets = this.snapshotOffsets.filter((o) => o !== offset);
    await rm(this.snapshotPath(offset), { force: true });
  }

  /** Deletes snapshots below `offset` (their segments are gone). */
  async deleteSnapshotsBefore(offset: bigint): Promise<void> {
    for (const snapshot of this.snapshotOffsets.filter((o) => o < offset)) await this.deleteSnapshot(snapshot);
  }

  /** Deletes snapshots above `offset` (the log was truncated there). */
  async truncateSnapshotsAbove(offset: bigint): Promise<void> {
    for (const snapshot of this.snapshotOffsets.filter((o) => o > offset)) await this.deleteSnapshot(snapshot);
  }

  private clearState(): void {
    this.producers.clear();
    this.ongoing.clear();
    this.lastOngoingAdded = undefined;
    this.unreplicated.clear();
  }

  /** Forgets everything, deletes every snapshot, and starts again at `offset`. */
  async truncateFullyAndStartAt(offset: bigint): Promise<void> {
    this.clearState();
    for (const snapshot of [...this.snapshotOffsets]) await this.deleteSnapshot(snapshot);
    this.lastSnapOffset = 0n;
    this.lastMapOffset = offset;
  }

  /**
   * Keeps only the snapshots in (logStartOffset, logEndOffset] and, unless the state already ends
   * at logEndOffset, reloads it from the latest of them (Kafka's truncateAndReload). A corrupt
   * snapshot is logged, deleted and the next older one tried; with none, the state starts empty at
   * logStartOffset and the replay covers the whole log.
   */
  async truncateAndReload(logStartOffset: bigint, logEndOffset: bigint): Promise<void> {
    for (const snapshot of [...this.snapshotOffsets]) {
      if (snapshot > logEndOffset || snapshot <= logStartOffset) await this.deleteSnapshot(snapshot);
    }
    if (logEndOffset !== this.lastMapOffset) {
      this.clearState();
      await this.loadFromSnapshot(logStartOffset);
    } else {
      this.onLogStartOffsetIncremented(logStartOffset);
    }
  }

  private async loadFromSnapshot(logStartOffset: bigint): Promise<void> {
    for (;;) {
      const offset = this.latestSnapshotOffset();
      if (offset === undefined) {
        this.lastSnapOffset = logStartOffset;
        this.lastMapOffset = logStartOffset;
        return;
      }
      const filePath = this.snapshotPath(offset);
      try {
        const entries = await readProducerSnapshotFile(filePath, this.options.snapshotBytesMax ?? PRODUCER_SNAPSHOT_BYTES_MAX_DEFAULT);
        const nowMs = this.clock.nowMs();
        const loaded = entries.map(fromSnapshotEntry).filter((entry) => !this.isExpired(entry, nowMs));
        loaded.sort((a, b) => compareOptional(a.currentTxnFirstOffset, b.currentTxnFirstOffset));
        for (let i = 1; i < loaded.length; i++) {
          const first = loaded[i]!.currentTxnFirstOffset;
          if (first !== undefined && first === loaded[i - 1]!.currentTxnFirstOffset) throw new CorruptSnapshotError(`two producers have a transaction starting at ${first}`);
        }
        if (new Set(loaded.map((entry) => entry.producerId)).size !== loaded.length) throw new CorruptSnapshotError('a producer id appears twice');
        for (const entry of loaded) {
          this.producers.set(entry.producerId, entry);
          if (entry.currentTxnFirstOffset !== undefined) this.addOngoing(entry.currentTxnFirstOffset, entry.producerId);
        }
        this.lastSnapOffset = offset;
        this.lastMapOffset = offset;
        this.logger.info({ file: filePath, producers: loaded.length }, 'loaded producer state from snapshot');
        return;
      } catch (error) {
        if (!(error instanceof CorruptSnapshotError) && (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        this.logger.warn({ file: filePath, error: (error as Error).message }, 'ignoring unreadable producer snapshot; the log replay rebuilds the state');
        await this.deleteSnapshot(offset);
      }
    }
  }

  /**
   * Applies batches the log holds, unchecked, from the map end offset up to `upToOffset`
   * (exclusive); batches entirely below the map end offset are skipped. Each completed
   * transaction goes to `onCompletedTransaction` in log order.
   */
  async replay(
    batches: AsyncIterable<ReplayBatch> | Iterable<ReplayBatch>,
    upToOffset: bigint,
    onCompletedTransaction?: (transaction: CompletedTransaction) => void | Promise<void>,
  ): Promise<void> {
    const from = this.lastMapOffset;
    for await (const { header, bytes } of batches) {
      const lastOffset = header.baseOffset + BigInt(header.lastOffsetDelta);
      if (lastOffset < from) continue;
      if (header.baseOffset >= upToOffset) break;
      const info = producerBatchInfo(header);
      const marker = info.isControl && info.producerId >= 0n ? readEndTxnMarker(bytes) : undefined;
      const completed = this.recordAppend({ ...info, baseOffset: header.baseOffset, maxTimestamp: header.maxTimestamp, marker });
      if (completed !== undefined && onCompletedTransaction !== undefined) await onCompletedTransaction(completed);
    }
    // The log's end offset bounds the state, not the last producer batch.
    this.lastMapOffset = upToOffset;
  }

  /**
   * Rebuilds the state for a log holding [logStartOffset, logEndOffset): reload from the latest
   * usable snapshot, replay the log from there, and snapshot the result.
   */
  async rebuild(options: RebuildOptions): Promise<void> {
    await this.truncateAndReload(options.logStartOffset, options.logEndOffset);
    if (options.logEndOffset > this.lastMapOffset) {
      const from = this.lastMapOffset;
      await this.replay(options.batchesFrom(from), options.logEndOffset, options.onCompletedTransaction);
      this.logger.info({ dir: this.options.dir, from: from.toString(), to: options.logEndOffset.toString() }, 'rebuilt producer state from the log');
    } else {
      this.lastMapOffset = options.logEndOffset;
    }
    await this.takeSnapshot();
  }
}

function compareOptional(a: bigint | undefined, b: bigint | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function toSnapshotEntry(entry: ProducerStateEntry): ProducerSnapshotEntry {
  const last = entry.batches.at(-1);
  return {
    producerId: entry.producerId,
    producerEpoch: entry.producerEpoch,
    lastSequence: last?.lastSequence ?? NO_SEQUENCE,
    lastOffset: last?.lastOffset ?? -1n,
    offsetDelta: last === undefined ? 0 : Number(last.lastOffset - last.firstOffset),
    timestampMs: entry.lastTimestamp,
    coordinatorEpoch: entry.coordinatorEpoch,
    currentTxnFirstOffset: entry.currentTxnFirstOffset ?? -1n,
  };
}

function fromSnapshotEntry(stored: ProducerSnapshotEntry): ProducerStateEntry {
  const batches: BatchMetadata[] =
    stored.lastOffset >= 0n
      ? [
          {
            firstSequence: decrementSequence(stored.lastSequence, stored.offsetDelta),
            lastSequence: stored.lastSequence,
            firstOffset: stored.lastOffset - BigInt(stored.offsetDelta),
            lastOffset: stored.lastOffset,
            maxTimestamp: stored.timestampMs,
          },
        ]
      : [];
  return {
    producerId: stored.producerId,
    producerEpoch: stored.producerEpoch,
    batches,
    coordinatorEpoch: stored.coordinatorEpoch,
    lastTimestamp: stored.timestampMs,
    currentTxnFirstOffset: stored.currentTxnFirstOffset >= 0n ? stored.currentTxnFirstOffset : undefined,
  };
}
