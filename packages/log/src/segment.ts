import { open, rm, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import {
  BATCH_HEADER_BYTES,
  BATCH_OFFSET_BASE_TIMESTAMP,
  BATCH_OFFSET_LAST_OFFSET_DELTA,
  BATCH_OFFSET_LENGTH,
  BATCH_OFFSET_MAGIC,
  BATCH_OFFSET_MAX_TIMESTAMP,
  CURRENT_MAGIC,
  CompressionType,
  DecodeError,
  LOG_OVERHEAD_BYTES,
  Reader,
  compressionOf,
  hasLogAppendTime,
  readBatchHeader,
  verifyBatchCrc,
  type BatchHeader,
} from '@defter/protocol';
import type { Clock } from './clock.js';
import { CorruptRecordError, LogClosedError } from './errors.js';
import type { LogConfig } from './log-config.js';
import { OffsetIndex } from './offset-index.js';
import { writeFully } from './index-file.js';
import { RecentBatches } from './recent-batches.js';
import { TimeIndex } from './time-index.js';
import { TransactionIndex, TXN_INDEX_SUFFIX } from './transaction-index.js';

/*
 * One segment of a partition: `<base>.log` holds record batches exactly as the wire carries
 * them (offsets assigned), `<base>.index` and `<base>.timeindex` are its sparse indexes, and
 * `<base>.txnindex` (created on the first abort only) lists the aborted transactions whose
 * marker lies in the segment; PartitionLog fills it from the producer state.
 * The base offset is the first offset the segment may hold, zero-padded to 20 digits.
 *
 * Concurrency: one writer at a time (PartitionLog serialises appends, truncation, deletion);
 * reads may run concurrently with an append and see the bytes up to `sizeBytes` as it was
 * when they started.
 */

/** fsync-like hook: tests count calls or inject failures; the default is fdatasync. */
export type FileSync = (file: FileHandle, filePath: string) => Promise<void>;
export const dataSync: FileSync = (file) => file.datasync();

export const LOG_FILE_EXTENSION = '.log';
export const INDEX_FILE_EXTENSION = '.index';
export const TIME_INDEX_FILE_EXTENSION = '.timeindex';
export const TXN_INDEX_FILE_EXTENSION = TXN_INDEX_SUFFIX;
export const SEGMENT_FILE_EXTENSIONS = [LOG_FILE_EXTENSION, INDEX_FILE_EXTENSION, TIME_INDEX_FILE_EXTENSION, TXN_INDEX_FILE_EXTENSION] as const;
const INT32_MAX = 0x7fffffff;
const INT32_MAX_BIGINT = BigInt(INT32_MAX);
/** Bytes read at a time when scanning a segment; a larger batch gets a read of its own. */
const SCAN_WINDOW_BYTES = 1024 * 1024;
/** Smaller window when only headers are needed (reads, offset lookups). */
const HEADER_SCAN_WINDOW_BYTES = 64 * 1024;

export function segmentFileName(baseOffset: bigint, extension: string, suffix = ''): string {
  return `${baseOffset.toString().padStart(20, '0')}${extension}${suffix}`;
}

export interface SegmentFileName {
  baseOffset: bigint;
  extension: string;
  /** '' for a live file, or '.cleaned' / '.swap' / '.deleted'. */
  suffix: string;
}

const SEGMENT_FILE_PATTERN = /^(\d{20})(\.log|\.index|\.timeindex|\.txnindex)(\.cleaned|\.swap|\.deleted)?$/;

export function parseSegmentFileName(name: string): SegmentFileName | undefined {
  const match = SEGMENT_FILE_PATTERN.exec(name);
  if (match === null) return undefined;
  return { baseOffset: BigInt(match[1]!), extension: match[2]!, suffix: match[3] ?? '' };
}

export interface BatchEntry {
  position: number;
  header: BatchHeader;
  bytes: Buffer;
}

/** The position and extent of one batch, read from its header only. */
export interface BatchLocation {
  position: number;
  sizeBytes: number;
  baseOffset: bigint;
  lastOffset: bigint;
  maxTimestampMs: bigint;
}

/** A contiguous run of whole batches in a segment file, ready to be sent as is. */
export interface FileRange {
  file: FileHandle;
  logPath: string;
  position: number;
  size: number;
  /** Base offset of the first batch in the range. */
  firstOffset: bigint;
  /** Last offset of the last batch in the range, plus one. */
  nextOffset: bigint;
}

export interface SegmentOptions {
  config: LogConfig;
  clock: Clock;
  /** '' (default) for a live segment, '.cleaned' for one being built by the cleaner. */
  fileSuffix?: string;
  fileSync?: FileSync;
  /** How many recent batch positions the active segment keeps in memory for tail reads (default 4096; 0 disables). */
  recentBatchesMax?: number;
}

export interface SegmentRecoveryResult {
  validBytes: number;
  truncatedBytes: number;
  batchCount: number;
  /** Why the scan stopped before the file end, when it did. */
  problem?: string;
}

export interface SegmentReadOptions {
  /** Only batches whose last offset is below this (exclusive) are returned. */
  maxOffset?: bigint;
  /** Return the first batch even if it is larger than maxBytes. */
  minOneBatch: boolean;
}

/** The offset and timestamp of the first record at or after a timestamp. */
export interface TimestampMatch {
  offset: bigint;
  timestampMs: bigint;
}

export class Segment {
  private closed = false;
  private size: number;
  private next: bigint;
  private maxTimestamp = -1n;
  private offsetOfMaxTimestamp: bigint;
  private bytesSinceLastIndexEntry = 0;
  private firstAppendMs: number | undefined;
  private config: LogConfig;
  private readonly clock: Clock;
  private readonly fileSync: FileSync;
  /** The base offset's int32 halves, to read header offsets relative to it without BigInt. */
  private readonly baseHigh: number;
  private readonly baseLow: number;
  /** Positions of the last batches appended while active, so tail reads need no header reads. */
  private recent: RecentBatches;

  private constructor(
    readonly dir: string,
    readonly baseOffset: bigint,
    private suffix: string,
    private file: FileHandle,
    sizeBytes: number,
    readonly offsetIndex: OffsetIndex,
    readonly timeIndex: TimeIndex,
    readonly txnIndex: TransactionIndex,
    options: SegmentOptions,
  ) {
    this.size = sizeBytes;
    this.next = baseOffset;
    this.baseHigh = Number(BigInt.asIntN(32, baseOffset >> 32n));
    this.baseLow = Number(BigInt.asUintN(32, baseOffset));
    this.recent = new RecentBatches(options.recentBatchesMax);
    this.offsetOfMaxTimestamp = baseOffset;
    this.config = options.config;
    this.clock = options.clock;
    this.fileSync = options.fileSync ?? dataSync;
  }

  /** Creates an empty segment, replacing any files of the same name. */
  static async create(dir: string, baseOffset: bigint, options: SegmentOptions): Promise<Segment> {
    const suffix = options.fileSuffix ?? '';
    const file = await open(path.join(dir, segmentFileName(baseOffset, LOG_FILE_EXTENSION, suffix)), 'w+');
    try {
      const indexBytes = options.config.segmentIndexBytes;
      const offsetIndex = await OffsetIndex.open(path.join(dir, segmentFileName(baseOffset, INDEX_FILE_EXTENSION, suffix)), baseOffset, indexBytes, true);
      const timeIndex = await TimeIndex.open(path.join(dir, segmentFileName(baseOffset, TIME_INDEX_FILE_EXTENSION, suffix)), baseOffset, indexBytes, true);
      const txnIndexPath = path.join(dir, segmentFileName(baseOffset, TXN_INDEX_FILE_EXTENSION, suffix));
      await rm(txnIndexPath, { force: true });
      const txnIndex = await TransactionIndex.open(txnIndexPath, baseOffset);
      return new Segment(dir, baseOffset, suffix, file, 0, offsetIndex, timeIndex, txnIndex, options);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  /**
   * Opens an existing segment. Its state (next offset, max timestamp) is taken from the indexes
   * and a header scan after the last index entry; `check()` says whether that can be trusted,
   * `recover()` rebuilds everything from the log bytes.
   */
  static async open(dir: string, baseOffset: bigint, options: SegmentOptions): Promise<Segment> {
    const suffix = options.fileSuffix ?? '';
    const file = await open(path.join(dir, segmentFileName(baseOffset, LOG_FILE_EXTENSION, suffix)), 'r+');
    try {
      const { size } = await file.stat();
      const indexBytes = options.config.segmentIndexBytes;
      const offsetIndex = await OffsetIndex.open(path.join(dir, segmentFileName(baseOffset, INDEX_FILE_EXTENSION, suffix)), baseOffset, indexBytes);
      const timeIndex = await TimeIndex.open(path.join(dir, segmentFileName(baseOffset, TIME_INDEX_FILE_EXTENSION, suffix)), baseOffset, indexBytes);
      const txnIndex = await TransactionIndex.open(path.join(dir, segmentFileName(baseOffset, TXN_INDEX_FILE_EXTENSION, suffix)), baseOffset);
      return new Segment(dir, baseOffset, suffix, file, size, offsetIndex, timeIndex, txnIndex, options);
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  get logPath(): string {
    return path.join(this.dir, segmentFileName(this.baseOffset, LOG_FILE_EXTENSION, this.suffix));
  }
  get fileSuffix(): string {
    return this.suffix;
  }
  get sizeBytes(): number {
    return this.size;
  }
  /** Last offset in the segment + 1; the base offset when empty. */
  get nextOffset(): bigint {
    return this.next;
  }
  /** Largest batch maxTimestamp; -1n when empty. */
  get maxTimestampMs(): bigint {
    return this.maxTimestamp;
  }
  get isEmpty(): boolean {
    return this.size === 0;
  }
  /** The open handle of the `.log` file, for senders that read ranges themselves. */
  get logFile(): FileHandle {
    this.assertOpen();
    return this.file;
  }

  updateConfig(config: LogConfig): void {
    this.config = config;
  }

  private assertOpen(): void {
    if (this.closed) throw new LogClosedError(`segment ${this.logPath} is closed`);
  }

  /**
   * Loads next offset and max timestamp from the indexes plus a header scan of the tail after
   * the last offset index entry. Returns a description of any inconsistency (then the caller
   * should `recover()`), or undefined.
   */
  async loadState(): Promise<string | undefined> {
    this.recent.clear();
    const indexProblem = this.offsetIndex.sanityCheck(this.size);
    if (indexProblem !== undefined) return indexProblem;
    const start = this.offsetIndex.lastEntry;
    const lastTime = this.timeIndex.lastEntry;
    this.next = start?.offset ?? this.baseOffset;
    this.maxTimestamp = lastTime?.timestampMs ?? -1n;
    this.offsetOfMaxTimestamp = lastTime?.offset ?? this.baseOffset;
    this.bytesSinceLastIndexEntry = 0;
    try {
      for await (const batch of this.headers(start?.position ?? 0, this.size)) {
        if (start !== undefined && batch.position === start.position && batch.baseOffset !== start.offset) {
          return `offset index entry (${start.offset}, ${start.position}) does not match the batch there (${batch.baseOffset})`;
        }
        if (batch.baseOffset < this.next) return `batch at ${batch.position} has base offset ${batch.baseOffset} below ${this.next}`;
        if (batch.lastOffset - this.baseOffset > INT32_MAX_BIGINT) return `batch at ${batch.position} overflows the segment's offsets`;
        // The index is written right behind the log: an entry that append would have made but
        // that is absent means the index lags the log (lost with a crash) or was replaced.
        if (this.bytesSinceLastIndexEntry > this.config.indexIntervalBytes && !this.offsetIndex.isFull) {
          return `offset index has no entry for the batch at ${batch.position}`;
        }
        this.next = batch.lastOffset + 1n;
        if (batch.maxTimestampMs > this.maxTimestamp) {
          this.maxTimestamp = batch.maxTimestampMs;
          this.offsetOfMaxTimestamp = batch.lastOffset;
        }
        this.bytesSinceLastIndexEntry += batch.sizeBytes;
      }
    } catch (error) {
      if (error instanceof CorruptRecordError) return error.message;
      throw error;
    }
    const timeProblem = this.timeIndex.sanityCheck(this.next - 1n);
    if (timeProblem !== undefined) return timeProblem;
    await this.loadFirstAppendTime();
    return undefined;
  }

  /** segment.ms counts from the first batch's timestamp for a segment found on disk (as Kafka). */
  private async loadFirstAppendTime(): Promise<void> {
    this.firstAppendMs = undefined;
    if (this.size < BATCH_HEADER_BYTES) return;
    const header = await this.readAt(0, BATCH_HEADER_BYTES);
    const firstMaxTimestamp = header.readBigInt64BE(BATCH_OFFSET_MAX_TIMESTAMP);
    this.firstAppendMs = firstMaxTimestamp >= 0n ? Number(firstMaxTimestamp) : this.clock.nowMs();
  }

  /**
   * Re-reads every batch, checking structure, CRC-32C and offset order; truncates the file at
   * the first bad batch and rebuilds both indexes from what remains. The `.txnindex` is left to the owner, which
   * empties it and refills it from its producer-state replay (that needs the log's state).
   */
  async recover(): Promise<SegmentRecoveryResult> {
    this.assertOpen();
    this.recent.clear();
    this.offsetIndex.reset();
    this.timeIndex.reset();
    this.next = this.baseOffset;
    this.maxTimestamp = -1n;
    this.offsetOfMaxTimestamp = this.baseOffset;
    this.bytesSinceLastIndexEntry = 0;
    let validBytes = 0;
    let batchCount = 0;
    let problem: string | undefined;
    try {
      for await (const batch of this.batches(0, { verifyCrc: true })) {
        const header = batch.header;
        const lastOffset = header.baseOffset + BigInt(header.lastOffsetDelta);
        if (header.baseOffset < this.next || header.lastOffsetDelta < 0) {
          problem = `batch at ${batch.position} has offsets [${header.baseOffset}, ${lastOffset}] not after ${this.next - 1n}`;
          break;
        }
        if (lastOffset - this.baseOffset > INT32_MAX_BIGINT) {
          problem = `batch at ${batch.position} overflows the segment's relative offsets`;
          break;
        }
        if (this.offsetIndex.isFull) {
          problem = `batch at ${batch.position} does not fit the full offset index`;
          break;
        }
        this.indexBatch(batch.position, header.baseOffset, lastOffset, header.maxTimestamp, batch.bytes.length);
        validBytes = batch.position + batch.bytes.length;
        batchCount++;
      }
    } catch (error) {
      if (!(error instanceof CorruptRecordError)) throw error;
      problem = error.message;
    }
    const truncatedBytes = this.size - validBytes;
    if (truncatedBytes > 0) {
      await this.file.truncate(validBytes);
      this.size = validBytes;
    }
    await this.offsetIndex.writePending();
    await this.timeIndex.writePending();
    await this.loadFirstAppendTime();
    return problem === undefined ? { validBytes, truncatedBytes, batchCount } : { validBytes, truncatedBytes, batchCount, problem };
  }

  /**
   * Whether appending a batch of `batchSizeBytes` whose last offset is `lastOffset` must go to a
   * new segment: size, age (segment.ms since the first append), a full index, or relative
   * offsets that would overflow int32. An empty segment never rolls (except for offsets).
   * `pendingBytes`: bytes the caller will write before this batch in the same group.
   */
  shouldRoll(batchSizeBytes: number, lastOffset: bigint, nowMs: number, pendingBytes = 0): boolean {
    if (lastOffset - this.baseOffset > INT32_MAX_BIGINT) return true;
    const sizeBytes = this.size + pendingBytes;
    if (sizeBytes === 0) return false;
    if (sizeBytes + batchSizeBytes > this.config.segmentBytes) return true;
    if (this.firstAppendMs !== undefined && nowMs - this.firstAppendMs >= this.config.segmentMs) return true;
    return this.offsetIndex.isFull || this.timeIndex.isFull;
  }

  /** Whether the segment is past segment.ms (used to roll an idle active segment). */
  isPastSegmentMs(nowMs: number): boolean {
    return this.size > 0 && this.firstAppendMs !== undefined && nowMs - this.firstAppendMs >= this.config.segmentMs;
  }

  private indexBatch(position: number, baseOffset: bigint, lastOffset: bigint, maxTimestampMs: bigint, sizeBytes: number): void {
    if (maxTimestampMs > this.maxTimestamp) {
      this.maxTimestamp = maxTimestampMs;
      this.offsetOfMaxTimestamp = lastOffset;
    }
    // As Kafka: an entry once more than index.interval.bytes were appended since the last one.
    if (this.bytesSinceLastIndexEntry > this.config.indexIntervalBytes && !this.offsetIndex.isFull) {
      this.offsetIndex.append(baseOffset, position);
      if (!this.timeIndex.isFull) this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp);
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += sizeBytes;
    this.next = lastOffset + 1n;
  }

  /** Appends one batch whose offsets are assigned. */
  async append(batch: Buffer): Promise<void> {
    await this.appendBatch(batch);
  }

  /**
   * Appends one batch, offset already assigned, with one plain write (no writev for a single
   * buffer). The caller has validated it and checked `shouldRoll`.
   *
   * `checkWhileWriting` (PartitionLog's CRC-32C check of a lone append) runs on this thread while
   * the write is in flight on the threadpool, so the check and the copy into the page cache
   * overlap instead of adding up. When it answers false, the bytes are cut off the file again,
   * nothing else changes, and the result is false. Nothing ever sees those bytes meanwhile:
   * reads stop at `sizeBytes`, which has not moved, and a crash before the cut leaves them past
   * the recovery point (it never exceeds the log end offset), where recovery re-checks every
   * batch's CRC and truncates the first bad one.
   */
  async appendBatch(batch: Buffer, checkWhileWriting?: () => boolean): Promise<boolean> {
    this.assertOpen();
    const lastOffset = this.checkAppendable(batch, this.next);
    const position = this.size;
    if (position + batch.length > INT32_MAX) throw new RangeError(`segment ${this.baseOffset} would exceed 2 GiB`);
    const written = this.file.write(batch, 0, batch.length, position);
    let intact = true;
    if (checkWhileWriting !== undefined) {
      try {
        intact = checkWhileWriting();
      } catch (error) {
        await written.catch(() => {});
        throw error;
      }
    }
    const { bytesWritten } = await written;
    // A short write (rare on regular files): finish from where it stopped.
    if (bytesWritten < batch.length) await writeFully(this.file, batch.subarray(bytesWritten), position + bytesWritten);
    if (!intact) {
      await this.file.truncate(position);
      return false;
    }
    this.indexWritten(position, batch, lastOffset);
    this.size = position + batch.length;
    return true;
  }

  /**
   * Appends whole batches, offsets already assigned and increasing, in one write. The caller has
   * validated them and checked `shouldRoll`. Indexes are updated after the write succeeds.
   */
  async appendBatches(batches: readonly Buffer[]): Promise<void> {
    this.assertOpen();
    if (batches.length === 0) return;
    if (batches.length === 1) {
      await this.appendBatch(batches[0]!);
      return;
    }
    let expectedNext = this.next;
    let total = 0;
    const lastOffsets: bigint[] = [];
    for (const batch of batches) {
      const lastOffset = this.checkAppendable(batch, expectedNext);
      lastOffsets.push(lastOffset);
      expectedNext = lastOffset + 1n;
      total += batch.length;
    }
    if (this.size + total > INT32_MAX) throw new RangeError(`segment ${this.baseOffset} would exceed 2 GiB`);
    await writevFully(this.file, batches, this.size);
    let position = this.size;
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i]!;
      this.indexWritten(position, batch, lastOffsets[i]!);
      position += batch.length;
    }
    this.size = position;
  }

  /** Checks that `batch` is exactly one batch whose offsets fit this segment from `expectedNext` on; returns its last offset. */
  private checkAppendable(batch: Buffer, expectedNext: bigint): bigint {
    const baseOffset = batch.readBigInt64BE(0);
    const lastOffsetDelta = batch.readInt32BE(BATCH_OFFSET_LAST_OFFSET_DELTA);
    const lastOffset = baseOffset + BigInt(lastOffsetDelta);
    if (baseOffset < expectedNext || lastOffsetDelta < 0 || lastOffset - this.baseOffset > INT32_MAX_BIGINT) {
      throw new RangeError(`batch [${baseOffset}, ${lastOffset}] cannot follow offset ${expectedNext - 1n} in segment ${this.baseOffset}`);
    }
    if (batch.length !== batch.readInt32BE(BATCH_OFFSET_LENGTH) + LOG_OVERHEAD_BYTES) {
      throw new RangeError(`buffer of ${batch.length} bytes is not exactly one batch`);
    }
    return lastOffset;
  }

  /**
   * Index bookkeeping for a batch written at `position`. Index entries stay in memory until
   * flush, roll or close (as Kafka's memory-mapped indexes): two syscalls fewer per append. A
   * crash can leave the index files behind the log, which is safe because the recovery-point
   * checkpoint only ever covers segments whose indexes were written and fsynced (`flush`);
   * everything past it is rebuilt on recovery.
   */
  private indexWritten(position: number, batch: Buffer, lastOffset: bigint): void {
    if (this.firstAppendMs === undefined) this.firstAppendMs = this.clock.nowMs();
    const baseOffset = batch.readBigInt64BE(0);
    const baseDelta = Number(baseOffset - this.baseOffset);
    const lastDelta = baseDelta + batch.readInt32BE(BATCH_OFFSET_LAST_OFFSET_DELTA);
    this.indexBatch(position, baseOffset, lastOffset, batch.readBigInt64BE(BATCH_OFFSET_MAX_TIMESTAMP), batch.length);
    this.recent.push(position, batch.length, baseDelta, lastDelta);
  }

  /** Adds the final time index entry before the segment stops being active (as Kafka). */
  async onBecomeInactive(): Promise<void> {
    // Reads of an inactive segment go through its index; free the memory.
    this.recent = new RecentBatches(0);
    if (this.maxTimestamp >= 0n) this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp, true);
    await this.writeIndexes();
  }

  /** Writes index entries not yet in the index files (no fsync). */
  async writeIndexes(): Promise<void> {
    this.assertOpen();
    await this.offsetIndex.writePending();
    await this.timeIndex.writePending();
  }

  private async readAt(position: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.file.read(buffer, filled, length - filled, position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === length ? buffer : buffer.subarray(0, filled);
  }

  /**
   * Whole batches in file order from `fromPosition` (a batch boundary). Structure is always
   * checked; CRC-32C when `verifyCrc`. A bad batch throws `CorruptRecordError` with its position.
   * The yielded bytes are views of fresh read buffers and stay valid.
   */
  async *batches(fromPosition = 0, options: { verifyCrc?: boolean; endPosition?: number } = {}): AsyncGenerator<BatchEntry> {
    this.assertOpen();
    const end = Math.min(options.endPosition ?? this.size, this.size);
    let window: Buffer = Buffer.alloc(0);
    let windowStart = fromPosition;
    let position = fromPosition;
    while (position < end) {
      let at = position - windowStart;
      if (at + LOG_OVERHEAD_BYTES > window.length) {
        window = await this.readAt(position, Math.min(SCAN_WINDOW_BYTES, end - position));
        windowStart = position;
        at = 0;
      }
      const sizeBytes = batchSizeIn(window, at, position, end);
      if (at + sizeBytes > window.length) {
        window = await this.readAt(position, Math.max(sizeBytes, Math.min(SCAN_WINDOW_BYTES, end - position)));
        windowStart = position;
        at = 0;
        if (window.length < sizeBytes) throw new CorruptRecordError(`batch at ${position} runs past the end of the file`, position);
      }
      const bytes = window.subarray(at, at + sizeBytes);
      let header: BatchHeader;
      try {
        header = readBatchHeader(bytes);
      } catch (error) {
        if (error instanceof DecodeError) throw new CorruptRecordError(`batch at ${position}: ${error.message}`, position, { cause: error });
        throw error;
      }
      if (options.verifyCrc === true && !verifyBatchCrc(bytes)) {
        throw new CorruptRecordError(`batch at ${position} fails its CRC-32C check`, position);
      }
      yield { position, header, bytes };
      position += sizeBytes;
    }
  }

  /** Batch locations from headers only, reading in small windows; structure is checked. */
  async *headers(fromPosition: number, endPosition: number): AsyncGenerator<BatchLocation> {
    this.assertOpen();
    const end = Math.min(endPosition, this.size);
    let window: Buffer = Buffer.alloc(0);
    let windowStart = fromPosition;
    let position = fromPosition;
    while (position < end) {
      let at = position - windowStart;
      if (at + BATCH_HEADER_BYTES > window.length) {
        window = await this.readAt(position, Math.min(Math.max(HEADER_SCAN_WINDOW_BYTES, BATCH_HEADER_BYTES), end - position));
        windowStart = position;
        at = 0;
      }
      const sizeBytes = batchSizeIn(window, at, position, end);
      if (at + BATCH_HEADER_BYTES > window.length) throw new CorruptRecordError(`truncated batch header at ${position}`, position);
      const magic = window.readInt8(at + BATCH_OFFSET_MAGIC);
      if (magic !== CURRENT_MAGIC) throw new CorruptRecordError(`batch at ${position} has magic ${magic}`, position);
      const baseOffset = window.readBigInt64BE(at);
      yield {
        position,
        sizeBytes,
        baseOffset,
        lastOffset: baseOffset + BigInt(window.readInt32BE(at + BATCH_OFFSET_LAST_OFFSET_DELTA)),
        maxTimestampMs: window.readBigInt64BE(at + BATCH_OFFSET_MAX_TIMESTAMP),
      };
      position += sizeBytes;
    }
  }

  /** The first batch whose last offset is >= `offset`, or undefined if there is none. */
  async translateOffset(offset: bigint): Promise<BatchLocation | undefined> {
    const start = this.offsetIndex.lookup(offset);
    for await (const batch of this.headers(start.position, this.size)) {
      if (batch.lastOffset >= offset) return batch;
    }
    return undefined;
  }

  /**
   * Whole batches from the one containing `startOffset` (or the next one after it), up to
   * `maxBytes` in total (the first batch is returned whole even if larger when `minOneBatch`).
   * Returns one contiguous range, or undefined when nothing qualifies.
   *
   * Only a few headers are read: the offset index finds the first batch (scanning from the
   * entry at or before `startOffset`) and jumps close to the end of the byte budget, because
   * every index entry marks a batch boundary whose preceding batches all fit before it; the
   * headers after that jump are scanned to place the end exactly. Near the end of the active
   * segment, the recent-batch cache answers without reading the file at all.
   */
  async read(startOffset: bigint, maxBytes: number, options: SegmentReadOptions): Promise<FileRange | undefined> {
    this.assertOpen();
    // A consistent prefix: size, next offset and index entries advance together after a write.
    const end = this.size;
    if (end === 0 || startOffset >= this.next) return undefined;
    const index = this.offsetIndex;
    const startDelta = this.relativeOffsetOf(startOffset);
    const maxDelta = options.maxOffset === undefined ? Number.POSITIVE_INFINITY : this.relativeOffsetOf(options.maxOffset);
    const cached = this.recent.find(startDelta, maxBytes, maxDelta, options.minOneBatch);
    if (cached === null) return undefined;
    if (cached !== undefined) {
      return {
        file: this.file,
        logPath: this.logPath,
        position: cached.position,
        size: cached.sizeBytes,
        firstOffset: this.baseOffset + BigInt(cached.firstBaseDelta),
        nextOffset: this.baseOffset + BigInt(cached.lastDelta + 1),
      };
    }
    const scan = new HeaderScan(this.file, end, this.baseHigh, this.baseLow);

    // The first batch: the one whose last offset is >= startOffset.
    const from = index.floorRelative(startDelta);
    let first = from < 0 ? 0 : index.positionAt(from);
    let firstBaseDelta: number;
    if (from >= 0 && index.relativeOffsetAt(from) === startDelta) {
      firstBaseDelta = startDelta; // an entry marks exactly this batch: no header to read
    } else {
      const nextEntry = from + 1 < index.entryCount ? Math.min(index.positionAt(from + 1), end) : end;
      for (;;) {
        if (first >= end) return undefined;
        if (scan.needsRead(first)) await scan.fill(first, nextEntry + BATCH_HEADER_BYTES - first);
        scan.parse(first);
        if (scan.lastDelta >= startDelta) break;
        first += scan.sizeBytes;
      }
      firstBaseDelta = scan.baseDelta;
    }

    // The end: jump to the second-to-last index entry inside the budget (the batch there fits
    // whole and gives the exact last offset), then scan headers up to the budget.
    const limit = first + Math.max(0, maxBytes);
    const bound = Math.min(limit, end);
    const within = index.countWithin(bound, maxDelta);
    let position = within >= 2 && index.positionAt(within - 2) > first ? index.positionAt(within - 2) : first;
    let rangeEnd = first;
    let lastDelta = -1;
    while (position < end) {
      // No batch (each is at least a header long) fits in what is left of the budget.
      if (position !== first && position + BATCH_HEADER_BYTES > limit) break;
      if (scan.needsRead(position)) await scan.fill(position, bound - position);
      scan.parse(position);
      if (scan.lastDelta >= maxDelta) break;
      const batchEnd = position + scan.sizeBytes;
      if (batchEnd > limit && !(position === first && options.minOneBatch)) break;
      rangeEnd = batchEnd;
      lastDelta = scan.lastDelta;
      position = batchEnd;
      if (batchEnd > limit) break;
    }
    if (rangeEnd === first) return undefined;
    return {
      file: this.file,
      logPath: this.logPath,
      position: first,
      size: rangeEnd - first,
      firstOffset: this.baseOffset + BigInt(firstBaseDelta),
      nextOffset: this.baseOffset + BigInt(lastDelta + 1),
    };
  }

  /** `offset - baseOffset` as a number, clamped to [0, 2^31] (every relative offset in a segment is below 2^31). */
  private relativeOffsetOf(offset: bigint): number {
    const relative = offset - this.baseOffset;
    if (relative <= 0n) return 0;
    return relative > INT32_MAX_BIGINT ? INT32_MAX + 1 : Number(relative);
  }

  /**
   * The first record at or after `startingOffset` whose timestamp is >= `targetMs`, using the
   * time index to skip. Exact per record for uncompressed CreateTime batches; for compressed
   * batches the batch's first offset (records are not decompressed here) and its max timestamp.
   */
  async findOffsetByTimestamp(targetMs: bigint, startingOffset: bigint): Promise<TimestampMatch | undefined> {
    this.assertOpen();
    if (this.maxTimestamp < targetMs) return undefined;
    const fromEntry = this.timeIndex.lookupBefore(targetMs);
    const from = fromEntry.offset > startingOffset ? fromEntry.offset : startingOffset;
    const start = this.offsetIndex.lookup(from);
    for await (const batch of this.batches(start.position)) {
      const header = batch.header;
      const lastOffset = header.baseOffset + BigInt(header.lastOffsetDelta);
      if (lastOffset < startingOffset || header.maxTimestamp < targetMs) continue;
      const match = firstRecordAtOrAfter(batch.bytes, header, targetMs, startingOffset);
      if (match !== undefined) return match;
    }
    return undefined;
  }

  /**
   * Removes every batch whose last offset is >= `offset` (a batch is never split), then
   * re-derives the next offset and max timestamp. Returns the bytes removed.
   */
  async truncateTo(offset: bigint): Promise<number> {
    this.assertOpen();
    this.recent.clear();
    const cut = await this.translateOffset(offset);
    if (cut === undefined) return 0;
    const removed = this.size - cut.position;
    await this.file.truncate(cut.position);
    this.size = cut.position;
    this.offsetIndex.truncateToPosition(cut.position);
    this.timeIndex.truncateTo(cut.baseOffset);
    await this.offsetIndex.writePending();
    await this.timeIndex.writePending();
    const problem = await this.loadState();
    if (problem !== undefined) throw new CorruptRecordError(`segment ${this.logPath} after truncation: ${problem}`, cut.position);
    await this.txnIndex.truncateTo(this.next);
    if (this.size === 0) this.firstAppendMs = undefined;
    return removed;
  }

  /** fsync of the `.log` file only: enough for durability, indexes are rebuilt on recovery. */
  async flushLog(): Promise<void> {
    this.assertOpen();
    await this.fileSync(this.file, this.logPath);
  }

  /** fsync of the `.log` file and both indexes. */
  async flush(): Promise<void> {
    this.assertOpen();
    await this.fileSync(this.file, this.logPath);
    await this.offsetIndex.flush(this.fileSync);
    await this.timeIndex.flush(this.fileSync);
    await this.txnIndex.flush(this.fileSync);
  }

  /** Renames the three files to carry `suffix` ('' for live, '.swap', '.deleted', ...). */
  async renameSuffix(suffix: string): Promise<void> {
    const fromLog = this.logPath;
    const toLog = path.join(this.dir, segmentFileName(this.baseOffset, LOG_FILE_EXTENSION, suffix));
    await rename(fromLog, toLog);
    await this.offsetIndex.renameTo(path.join(this.dir, segmentFileName(this.baseOffset, INDEX_FILE_EXTENSION, suffix)));
    await this.timeIndex.renameTo(path.join(this.dir, segmentFileName(this.baseOffset, TIME_INDEX_FILE_EXTENSION, suffix)));
    await this.txnIndex.renameTo(path.join(this.dir, segmentFileName(this.baseOffset, TXN_INDEX_FILE_EXTENSION, suffix)));
    this.suffix = suffix;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.offsetIndex.close();
      await this.timeIndex.close();
      await this.txnIndex.close();
    } finally {
      await this.file.close();
    }
  }

  /** Closes and removes the `.log`, `.index`, `.timeindex` and `.txnindex` files. */
  async delete(): Promise<void> {
    const logPath = this.logPath;
    if (!this.closed) {
      this.closed = true;
      await this.file.close().catch(() => {});
    }
    await this.offsetIndex.delete();
    await this.timeIndex.delete();
    await this.txnIndex.delete();
    await rm(logPath, { force: true });
  }
}

/** Most bytes read at once to look for batch headers on the read path. */
const READ_PATH_WINDOW_BYTES = 32 * 1024;
const EMPTY_BUFFER = Buffer.alloc(0);
const TWO_TO_32 = 2 ** 32;

/**
 * Batch headers for the read path, parsed out of one window of file bytes that is refilled on
 * demand. The fields a read needs are kept as numbers (offsets relative to the segment base),
 * so scanning allocates no object and no BigInt per batch. Structure is checked as by `headers()`.
 */
class HeaderScan {
  private window: Buffer = EMPTY_BUFFER;
  private windowStart = 0;
  /** Fields of the batch last parsed. */
  sizeBytes = 0;
  baseDelta = 0;
  lastDelta = 0;

  constructor(
    private readonly file: FileHandle,
    private readonly end: number,
    private readonly baseHigh: number,
    private readonly baseLow: number,
  ) {}

  /** Whether the header at `position` is outside the current window. */
  needsRead(position: number): boolean {
    return position < this.windowStart || position + BATCH_HEADER_BYTES > this.windowStart + this.window.length;
  }

  /** Reads about `wantedBytes` from `position` (at least one header, at most the window size). */
  async fill(position: number, wantedBytes: number): Promise<void> {
    const length = Math.min(Math.max(wantedBytes, BATCH_HEADER_BYTES), READ_PATH_WINDOW_BYTES, this.end - position);
    const buffer = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.file.read(buffer, filled, length - filled, position + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.window = buffer.subarray(0, filled);
    this.windowStart = position;
    if (filled < BATCH_HEADER_BYTES) throw new CorruptRecordError(`truncated batch header at ${position}`, position);
  }

  /** Decodes the header at `position` (in the window); a malformed one throws `CorruptRecordError`. */
  parse(position: number): void {
    const window = this.window;
    const at = position - this.windowStart;
    this.sizeBytes = batchSizeIn(window, at, position, this.end);
    const magic = window.readInt8(at + BATCH_OFFSET_MAGIC);
    if (magic !== CURRENT_MAGIC) throw new CorruptRecordError(`batch at ${position} has magic ${magic}`, position);
    // Exact while the difference is small; a large one (a corrupt header) stays out of range.
    this.baseDelta = (window.readInt32BE(at) - this.baseHigh) * TWO_TO_32 + (window.readUInt32BE(at + 4) - this.baseLow);
    const lastOffsetDelta = window.readInt32BE(at + BATCH_OFFSET_LAST_OFFSET_DELTA);
    this.lastDelta = this.baseDelta + lastOffsetDelta;
    if (this.baseDelta < 0 || lastOffsetDelta < 0 || this.lastDelta > INT32_MAX) {
      throw new CorruptRecordError(`batch at ${position} has offsets outside its segment`, position);
    }
  }
}

/** Size of the batch at `at` in `window` (file position `position`), checked against the file end. */
function batchSizeIn(window: Buffer, at: number, position: number, end: number): number {
  if (at + LOG_OVERHEAD_BYTES > window.length) throw new CorruptRecordError(`truncated batch at ${position}: no room for its length`, position);
  const batchLength = window.readInt32BE(at + BATCH_OFFSET_LENGTH);
  const sizeBytes = batchLength + LOG_OVERHEAD_BYTES;
  if (batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) {
    throw new CorruptRecordError(`batch at ${position} has an impossible length ${batchLength}`, position);
  }
  if (position + sizeBytes > end) throw new CorruptRecordError(`batch at ${position} (${sizeBytes} bytes) runs past the end at ${end}`, position);
  return sizeBytes;
}

async function writevFully(file: FileHandle, buffers: readonly Buffer[], position: number): Promise<void> {
  let total = 0;
  for (const buffer of buffers) total += buffer.length;
  const { bytesWritten } = await file.writev(buffers as Buffer[], position);
  if (bytesWritten === total) return;
  // A short write (rare on regular files): finish with plain writes from where it stopped.
  let skipped = bytesWritten;
  let at = position + bytesWritten;
  for (const buffer of buffers) {
    if (skipped >= buffer.length) {
      skipped -= buffer.length;
      continue;
    }
    const rest = buffer.subarray(skipped);
    skipped = 0;
    await writeFully(file, rest, at);
    at += rest.length;
  }
}

/**
 * Walks the records of an uncompressed batch (length, attributes, timestampDelta, offsetDelta,
 * ...) to find the first one at or after `startingOffset` with timestamp >= `targetMs`.
 */
function firstRecordAtOrAfter(bytes: Buffer, header: BatchHeader, targetMs: bigint, startingOffset: bigint): TimestampMatch | undefined {
  if (hasLogAppendTime(header.attributes)) {
    // Every record carries the batch's append time.
    const offset = header.baseOffset > startingOffset ? header.baseOffset : startingOffset;
    return { offset, timestampMs: header.maxTimestamp };
  }
  if (compressionOf(header.attributes) !== CompressionType.None) {
    const offset = header.baseOffset > startingOffset ? header.baseOffset : startingOffset;
    return { offset, timestampMs: header.maxTimestamp };
  }
  const baseTimestamp = bytes.readBigInt64BE(BATCH_OFFSET_BASE_TIMESTAMP);
  const reader = new Reader(bytes, BATCH_HEADER_BYTES);
  try {
    for (let i = 0; i < header.recordsCount && reader.remaining > 0; i++) {
      const length = reader.varint();
      const recordStart = reader.position;
      reader.int8();
      const timestampMs = baseTimestamp + reader.varlong();
      const offset = header.baseOffset + BigInt(reader.varint());
      if (offset >= startingOffset && timestampMs >= targetMs) return { offset, timestampMs };
      reader.position = recordStart;
      reader.raw(length, 'record');
    }
    return undefined;
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
  }
  // Records unreadable (the batch passed its CRC, so this is a producer bug): answer with the batch.
  const offset = header.baseOffset > startingOffset ? header.baseOffset : startingOffset;
  return { offset, timestampMs: header.maxTimestamp };
}
