import { BATCH_HEADER_BYTES, decodeControlRecord, decodeRecordBatch, isControl, isTransactional, lastOffsetOf } from '@defter/protocol';
import type { BatchHeader, ControlRecord } from '@defter/protocol';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import type { LogConfig } from './log-config.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import type { PartitionLog } from './partition-log.js';
import { OFFSET_INDEX_ENTRY_BYTES } from './offset-index.js';
import { Segment } from './segment.js';
import { TIME_INDEX_ENTRY_BYTES } from './time-index.js';
import { filterBatch } from './cleaner/batch-filter.js';
import type { CleanerCheckpoint } from './cleaner/checkpoint.js';
import { readCleanerCheckpoint, writeCleanerCheckpoint } from './cleaner/checkpoint.js';
import { OffsetMap } from './cleaner/offset-map.js';

/*
 * The log cleaner: compaction of logs whose cleanup policy includes 'compact', with Kafka's
 * semantics (design.txt, "Log Compaction"). One pass:
 *
 *   1. The dirty section is [firstDirtyOffset, firstUncleanableOffset): from the cleaner
 *      checkpoint up to the active segment, or to the first segment with records younger than
 *      minCompactionLagMs. The part below it is the clean section (already compacted once).
 *   2. Map each key of the dirty section to the offset of its latest record (bounded: when the
 *      map is full, this pass covers the dirty section only up to where the map reached).
 *   3. Recopy every non-active segment below that point, oldest first, keeping for each key
 *      only its latest record; adjacent segments share one cleaned segment while its copy fits
 *      segmentBytes. Swap each group in with `PartitionLog.replaceSegments` (crash-safe), then
 *      move the checkpoint.
 *
 * Offsets never change; a batch keeps its first and last offsets even when records inside it
 * go. Control batches are copied unchanged. Transactions: records of an open transaction are
 * not mapped (the pass stops below its first offset, as Kafka stops at the last stable offset),
 * records of a committed one are mapped at its marker, and records of an aborted one are removed.
 */

export interface LogCleanerOptions {
  clock?: Clock;
  logger?: Logger;
  /**
   * The most keys (plus records of open transactions) one pass holds in memory. A larger dirty
   * section is compacted over several passes.
   */
  offsetMapEntriesMax?: number;
}

export const OFFSET_MAP_ENTRIES_MAX_DEFAULT = 1_000_000;
const INT32_MAX = 0x7fffffff;

/** Why a log is due for cleaning. */
export type CleanReason = 'dirty-ratio' | 'max-compaction-lag' | 'delete-horizon' | 'forced';

export interface CleanableState {
  firstDirtyOffset: bigint;
  /** The end of what may be cleaned now: the active segment, or the first segment within minCompactionLagMs. */
  firstUncleanableOffset: bigint;
  cleanBytes: number;
  dirtyBytes: number;
  /** dirtyBytes / (cleanBytes + dirtyBytes), 0 for an empty log. */
  dirtyRatio: number;
  /** Why cleaning is due now; undefined when it is not. */
  reason: Exclude<CleanReason, 'forced'> | undefined;
}

export interface CleanStats {
  reason: CleanReason;
  /** The checkpoint before and after the pass. */
  firstDirtyOffset: bigint;
  nextFirstDirtyOffset: bigint;
  segmentsBefore: number;
  segmentsAfter: number;
  bytesBefore: number;
  bytesAfter: number;
  batchesRead: number;
  batchesRewritten: number;
  batchesDropped: number;
  recordsRead: number;
  recordsRemoved: number;
  /** Keys in the offset map; whether it filled before the end of the dirty section. */
  keysMapped: number;
  offsetMapFull: boolean;
}

interface OffsetMapResult {
  offsetMap: OffsetMap;
  /** The first offset this pass does not cover: records at or above it are not deduplicated yet. */
  mappedEndOffset: bigint;
  full: boolean;
  /** Base offsets of data batches whose transaction was aborted. */
  abortedBatches: Set<bigint>;
}

interface PendingTransaction {
  firstOffset: bigint;
  batchBaseOffsets: bigint[];
  keyedRecords: Array<{ key: Buffer; offset: bigint }>;
}

interface CopyContext {
  config: LogConfig;
  mapped: OffsetMapResult;
  lastDataOffsets: LastDataOffsets;
  nowMs: number;
  counters: CleanCounters;
}

type CleanCounters = Pick<
  CleanStats,
  'batchesRead' | 'batchesRewritten' | 'batchesDropped' | 'recordsRead' | 'recordsRemoved'
>;

export class LogCleaner {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly offsetMapEntriesMax: number;
  private readonly inProgress = new Set<string>();

  constructor(options: LogCleanerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.offsetMapEntriesMax = options.offsetMapEntriesMax ?? OFFSET_MAP_ENTRIES_MAX_DEFAULT;
    if (!Number.isSafeInteger(this.offsetMapEntriesMax) || this.offsetMapEntriesMax < 1) {
      throw new RangeError(`offsetMapEntriesMax ${this.offsetMapEntriesMax} must be a positive integer`);
    }
  }

  /** Where the dirty section is and whether cleaning is due (dirty ratio, max lag, or a passed delete horizon). */
  async cleanableState(log: PartitionLog): Promise<CleanableState> {
    const checkpoint = await this.readCheckpoint(log);
    return this.stateFrom(log, checkpoint);
  }

  /**
   * One cleaning pass over `log` if it is due (or `force`). Returns what the pass did, or
   * undefined when nothing was due. The log stays readable throughout.
   */
  async clean(log: PartitionLog, options: { force?: boolean } = {}): Promise<CleanStats | undefined> {
    if (this.inProgress.has(log.dir)) throw new Error(`log ${log.dir} is already being cleaned`);
    this.inProgress.add(log.dir);
    try {
      const checkpoint = await this.readCheckpoint(log);
      const state = await this.stateFrom(log, checkpoint);
      const reason: CleanReason | undefined = state.reason ?? (options.force === true ? 'forced' : undefined);
      if (reason === undefined) return undefined;
      return await this.cleanPass(log, checkpoint, state, reason);
    } finally {
      this.inProgress.delete(log.dir);
    }
  }

  private async readCheckpoint(log: PartitionLog): Promise<CleanerCheckpoint> {
    const stored = await readCleanerCheckpoint(log.dir);
    const start = log.logStartOffset;
    if (stored === undefined) return { firstDirtyOffset: start, deleteHorizonMs: -1 };
    if (stored.firstDirtyOffset > log.logEndOffset) {
      // The log was truncated below the checkpoint (or the file is from another log): start over.
      this.logger.warn(
        { dir: log.dir, firstDirtyOffset: String(stored.firstDirtyOffset), logEndOffset: String(log.logEndOffset) },
        'cleaner checkpoint is past the log end; cleaning from the log start',
      );
      return { firstDirtyOffset: start, deleteHorizonMs: stored.deleteHorizonMs };
    }
    return { ...stored, firstDirtyOffset: stored.firstDirtyOffset < start ? start : stored.firstDirtyOffset };
  }

  private async stateFrom(log: PartitionLog, checkpoint: CleanerCheckpoint): Promise<CleanableState> {
    const config = log.config;
    const nowMs = this.clock.nowMs();
    const segments = log.segments();
    const active = segments[segments.length - 1];
    const firstDirtyOffset = checkpoint.firstDirtyOffset;
    let firstUncleanableOffset = active?.baseOffset ?? firstDirtyOffset;
    const candidates = segments.slice(0, -1);
    const dirty = candidates.filter((segment) => segment.nextOffset > firstDirtyOffset);
    if (config.minCompactionLagMs > 0) {
      const youngest = BigInt(nowMs - config.minCompactionLagMs);
      const young = dirty.find((segment) => segment.maxTimestampMs > youngest);
      if (young !== undefined && young.baseOffset < firstUncleanableOffset) firstUncleanableOffset = young.baseOffset;
    }
    let cleanBytes = 0;
    let dirtyBytes = 0;
    for (const segment of candidates) {
      if (segment.nextOffset <= firstDirtyOffset) cleanBytes += segment.sizeBytes;
      else if (segment.baseOffset < firstUncleanableOffset) dirtyBytes += segment.sizeBytes;
    }
    const totalBytes = cleanBytes + dirtyBytes;
    const dirtyRatio = totalBytes === 0 ? 0 : dirtyBytes / totalBytes;

    let reason: CleanableState['reason'];
    if (dirtyBytes > 0 && dirtyRatio >= config.minCleanableDirtyRatio) {
      reason = 'dirty-ratio';
    } else if (dirtyBytes > 0 && (await this.maxCompactionLagPassed(dirty[0], config, nowMs))) {
      reason = 'max-compaction-lag';
    } else if (checkpoint.deleteHorizonMs >= 0 && nowMs >= checkpoint.deleteHorizonMs && candidates.length > 0) {
      reason = 'delete-horizon';
    }
    return { firstDirtyOffset, firstUncleanableOffset, cleanBytes, dirtyBytes, dirtyRatio, reason };
  }

  /** Kafka's rule: the first dirty segment's first batch is older than maxCompactionLagMs. */
  private async maxCompactionLagPassed(firstDirty: Segment | undefined, config: LogConfig, nowMs: number): Promise<boolean> {
    if (firstDirty === undefined || config.maxCompactionLagMs >= Number.MAX_SAFE_INTEGER) return false;
    for await (const entry of firstDirty.batches()) {
      return entry.header.maxTimestamp >= 0n && BigInt(nowMs - config.maxCompactionLagMs) > entry.header.maxTimestamp;
    }
    return false;
  }

  private async cleanPass(log: PartitionLog, checkpoint: CleanerCheckpoint, state: CleanableState, reason: CleanReason): Promise<CleanStats> {
    const config = log.config;
    const nowMs = this.clock.nowMs();
    const segmentsBefore = log.segments();
    const active = segmentsBefore[segmentsBefore.length - 1];
    const mapped = await this.buildOffsetMap(segmentsBefore.slice(0, -1), state.firstDirtyOffset, state.firstUncleanableOffset);
    const toClean = segmentsBefore.filter((segment) => segment !== active && segment.baseOffset < mapped.mappedEndOffset);
    const counters: CleanCounters = { batchesRead: 0, batchesRewritten: 0, batchesDropped: 0, recordsRead: 0, recordsRemoved: 0 };
    const lastDataOffsets = new LastDataOffsets(log);
    let horizonMs: number | undefined;

    const copy: CopyContext = { config, mapped, lastDataOffsets, nowMs, counters };
    let group: Segment[] = [];
    let cleaned: Segment | undefined;
    try {
      for (const segment of toClean) {
        if (cleaned !== undefined && !canJoinGroup(group, cleaned.sizeBytes, segment, config)) {
          const swapping = cleaned;
          cleaned = undefined;
          await swapIn(log, group, swapping);
          group = [];
        }
        cleaned ??= await Segment.create(log.dir, segment.baseOffset, { config, clock: this.clock, fileSuffix: '.cleaned' });
        group.push(segment);
        const segmentHorizonMs = await this.copySegment(segment, cleaned, copy);
        if (segmentHorizonMs !== undefined && (horizonMs === undefined || segmentHorizonMs < horizonMs)) horizonMs = segmentHorizonMs;
      }
      if (cleaned !== undefined) {
        const swapping = cleaned;
        cleaned = undefined;
        await swapIn(log, group, swapping);
      }
    } catch (error) {
      if (cleaned !== undefined) await discard(cleaned);
      throw error;
    }

    // Tombstones in segments this pass did not reach keep the old horizon pending.
    const coveredOldCleanSection = mapped.mappedEndOffset >= checkpoint.firstDirtyOffset;
    if (!coveredOldCleanSection && checkpoint.deleteHorizonMs >= 0) {
      horizonMs = horizonMs === undefined ? checkpoint.deleteHorizonMs : Math.min(horizonMs, checkpoint.deleteHorizonMs);
    }
    const nextFirstDirtyOffset = coveredOldCleanSection ? mapped.mappedEndOffset : checkpoint.firstDirtyOffset;
    await writeCleanerCheckpoint(log.dir, { firstDirtyOffset: nextFirstDirtyOffset, deleteHorizonMs: horizonMs ?? -1 });

    const segmentsAfter = log.segments();
    const stats: CleanStats = {
      reason,
      firstDirtyOffset: state.firstDirtyOffset,
      nextFirstDirtyOffset,
      segmentsBefore: segmentsBefore.length,
      segmentsAfter: segmentsAfter.length,
      bytesBefore: sumBytes(segmentsBefore),
      bytesAfter: sumBytes(segmentsAfter),
      ...counters,
      keysMapped: mapped.offsetMap.size,
      offsetMapFull: mapped.full,
    };
    this.logger.info(
      {
        dir: log.dir,
        reason,
        firstDirtyOffset: String(stats.firstDirtyOffset),
        nextFirstDirtyOffset: String(nextFirstDirtyOffset),
        bytesBefore: stats.bytesBefore,
        bytesAfter: stats.bytesAfter,
        recordsRemoved: stats.recordsRemoved,
        offsetMapFull: stats.offsetMapFull,
      },
      'cleaned log',
    );
    return stats;
  }

  /**
   * Maps each key in [firstDirtyOffset, firstUncleanableOffset) to its latest offset. Stops
   * before a batch that might not fit (but always maps at least one batch, so every pass makes
   * progress).
   */
  private async buildOffsetMap(candidates: readonly Segment[], firstDirtyOffset: bigint, firstUncleanableOffset: bigint): Promise<OffsetMapResult> {
    const offsetMap = new OffsetMap(this.offsetMapEntriesMax);
    const pending = new Map<bigint, PendingTransaction>();
    const abortedBatches = new Set<bigint>();
    let pendingRecords = 0;
    let lastMappedOffset: bigint | undefined;
    let full = false;

    scan: for (const segment of candidates) {
      if (segment.nextOffset <= firstDirtyOffset) continue;
      if (segment.baseOffset >= firstUncleanableOffset) break;
      for await (const entry of segment.batches()) {
        const header = entry.header;
        const lastOffset = lastOffsetOf(header);
        if (lastOffset < firstDirtyOffset) continue;
        if (isControl(header.attributes)) {
          const transaction = pending.get(header.producerId);
          const marker = controlMarkerOf(entry.bytes);
          if (transaction !== undefined && marker.type !== 'unknown') {
            if (marker.type === 'commit') {
              for (const record of transaction.keyedRecords) offsetMap.put(record.key, record.offset);
            } else {
              for (const baseOffset of transaction.batchBaseOffsets) abortedBatches.add(baseOffset);
            }
            pendingRecords -= transaction.keyedRecords.length;
            pending.delete(header.producerId);
          }
          lastMappedOffset = lastOffset;
          continue;
        }
        if (lastMappedOffset !== undefined && !offsetMap.hasRoomFor(pendingRecords + header.recordsCount)) {
          full = true;
          break scan;
        }
        const batch = decodeRecordBatch(entry.bytes);
        if (isTransactional(header.attributes) && header.producerId >= 0n) {
          let transaction = pending.get(header.producerId);
          if (transaction === undefined) {
            transaction = { firstOffset: header.baseOffset, batchBaseOffsets: [], keyedRecords: [] };
            pending.set(header.producerId, transaction);
          }
          transaction.batchBaseOffsets.push(header.baseOffset);
          for (const record of batch.records) {
            if (record.key === null) continue;
            // A copy: decoded keys are views of a read buffer that the segment may reuse.
            transaction.keyedRecords.push({ key: Buffer.from(record.key), offset: batch.baseOffset + BigInt(record.offsetDelta) });
            pendingRecords++;
          }
        } else {
          for (const record of batch.records) {
            if (record.key !== null) offsetMap.put(record.key, batch.baseOffset + BigInt(record.offsetDelta));
          }
        }
        lastMappedOffset = lastOffset;
      }
    }

    let mappedEndOffset = full && lastMappedOffset !== undefined ? lastMappedOffset + 1n : firstUncleanableOffset;
    for (const transaction of pending.values()) {
      if (transaction.firstOffset < mappedEndOffset) mappedEndOffset = transaction.firstOffset;
    }
    return { offsetMap, mappedEndOffset, full, abortedBatches };
  }

  /**
   * Recopies one segment's batches into `cleaned`, keeping what the offset map says is latest.
   * Returns the earliest delete horizon of a tombstone it kept.
   */
  private async copySegment(segment: Segment, cleaned: Segment, copy: CopyContext): Promise<number | undefined> {
    const { mapped, counters } = copy;
    let horizonMs: number | undefined;
    for await (const entry of segment.batches()) {
      counters.batchesRead++;
      const header = entry.header;
      // Control batches stay; so does everything past this pass's reach (e.g. an open
      // transaction), which the map does not describe.
      if (isControl(header.attributes) || header.baseOffset >= mapped.mappedEndOffset) {
        await cleaned.append(entry.bytes);
        continue;
      }
      const batch = decodeRecordBatch(entry.bytes);
      counters.recordsRead += batch.records.length;
      const outcome = filterBatch(batch, entry.bytes, {
        offsetMap: mapped.offsetMap,
        nowMs: copy.nowMs,
        deleteRetentionMs: copy.config.deleteRetentionMs,
        aborted: mapped.abortedBatches.has(header.baseOffset),
        lastBatchOfProducer: header.producerId >= 0n && (await copy.lastDataOffsets.isLast(header)),
      });
      if (outcome.kind === 'drop') {
        counters.batchesDropped++;
        counters.recordsRemoved += outcome.recordsRemoved;
        continue;
      }
      if (outcome.kind === 'rewrite') {
        counters.batchesRewritten++;
        counters.recordsRemoved += outcome.recordsRemoved;
      }
      const tombstoneHorizonMs = outcome.tombstoneHorizonMs;
      if (tombstoneHorizonMs !== undefined && (horizonMs === undefined || tombstoneHorizonMs < horizonMs)) horizonMs = tombstoneHorizonMs;
      await cleaned.append(outcome.bytes);
    }
    return horizonMs;
  }
}

/**
 * Swaps `cleaned` in for `group`. If the swap is refused before it began (e.g. retention or
 * DeleteRecords removed one of the segments meanwhile), the cleaned copy is discarded; once the
 * swap began, the log (or its recovery) owns the files.
 */
async function swapIn(log: PartitionLog, group: readonly Segment[], cleaned: Segment): Promise<void> {
  try {
    await log.replaceSegments(group, cleaned);
  } catch (error) {
    if (cleaned.fileSuffix === '.cleaned') await discard(cleaned);
    throw error;
  }
}

/** Removes a cleaned segment that will not be swapped in; a failure here is secondary. */
async function discard(cleaned: Segment): Promise<void> {
  try {
    await cleaned.close();
  } catch {
    // already closed or unwritable: delete() below is what matters
  }
  try {
    await cleaned.delete();
  } catch {
    // recovery deletes leftover .cleaned files on the next open
  }
}

function controlMarkerOf(bytes: Buffer): ControlRecord {
  const record = decodeRecordBatch(bytes).records[0];
  if (record === undefined) return { type: 'unknown', typeId: -1, version: -1 };
  try {
    return decodeControlRecord(record);
  } catch {
    return { type: 'unknown', typeId: -1, version: -1 };
  }
}

/**
 * The last offset of each producer's last data batch in the log, found by one scan of batch
 * headers, done only if some pass would otherwise drop a batch of an idempotent producer.
 */
class LastDataOffsets {
  private byProducer: Map<bigint, bigint> | undefined;

  constructor(private readonly log: PartitionLog) {}

  async isLast(header: BatchHeader): Promise<boolean> {
    this.byProducer ??= await this.scan();
    return this.byProducer.get(header.producerId) === lastOffsetOf(header);
  }

  private async scan(): Promise<Map<bigint, bigint>> {
    const byProducer = new Map<bigint, bigint>();
    for (const segment of this.log.segments()) {
      for await (const entry of segment.batches()) {
        const header = entry.header;
        if (header.producerId < 0n || isControl(header.attributes)) continue;
        byProducer.set(header.producerId, lastOffsetOf(header));
      }
    }
    return byProducer;
  }
}

/**
 * Whether `segment` may be copied into the cleaned segment of `group` (which holds
 * `cleanedBytes` so far): offsets relative to the group's base must fit an int32, and, unless
 * nothing has been kept yet, the cleaned segment must stay within segmentBytes and its index
 * within segmentIndexBytes even if the segment keeps everything. Kafka groups by the input
 * sizes up front; grouping by what the copies actually hold merges small cleaned segments at
 * once, and leaves no empty segment behind for a run of segments that compacted to nothing.
 */
export function canJoinGroup(
  group: readonly Pick<Segment, 'baseOffset'>[],
  cleanedBytes: number,
  segment: Pick<Segment, 'nextOffset' | 'sizeBytes'>,
  config: Pick<LogConfig, 'segmentBytes' | 'segmentIndexBytes' | 'indexIntervalBytes'>,
): boolean {
  const first = group[0];
  if (first === undefined) return true;
  if (segment.nextOffset - 1n - first.baseOffset > BigInt(INT32_MAX)) return false;
  if (cleanedBytes === 0) return true;
  const bytes = cleanedBytes + segment.sizeBytes;
  return bytes <= config.segmentBytes && indexBytesFor(bytes, config) <= config.segmentIndexBytes;
}

/**
 * An upper bound of the larger index file of a segment holding `logBytes`: at most one entry per
 * index interval, and at most one per batch (a batch is at least its header).
 */
function indexBytesFor(logBytes: number, config: Pick<LogConfig, 'indexIntervalBytes'>): number {
  const entries = Math.floor(logBytes / Math.max(config.indexIntervalBytes, BATCH_HEADER_BYTES)) + 1;
  return entries * Math.max(OFFSET_INDEX_ENTRY_BYTES, TIME_INDEX_ENTRY_BYTES);
}

function sumBytes(segments: readonly Segment[]): number {
  return segments.reduce((total, segment) => total + segment.sizeBytes, 0);
}
