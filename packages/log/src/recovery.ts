import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from './clock.js';
import type { LogConfig } from './log-config.js';
import type { Logger } from './logger.js';
import { ATOMIC_TEMP_SUFFIX } from './atomic-file.js';
import {
  LOG_FILE_EXTENSION,
  SEGMENT_FILE_EXTENSIONS,
  Segment,
  parseSegmentFileName,
  segmentFileName,
  type FileSync,
} from './segment.js';

/*
 * Loading a partition directory after any stop, clean or not:
 *
 * 1. Leftovers of `replaceSegments`: `.cleaned` files are dropped (the swap never began),
 *    `.deleted` files are dropped (already replaced), and a `.swap` segment is completed: it is
 *    re-validated, the live segments its offsets cover are deleted, and it is renamed live.
 * 2. Index files without a `.log` are dropped.
 * 3. Every segment is opened. One whose state cannot be trusted (an index that is inconsistent
 *    with the log, a torn batch) or that holds offsets at or past the recovery point (the offset
 *    up to which everything was fsynced) is recovered: every batch is re-read and its CRC
 *    checked, the file is cut at the first bad batch, its indexes are rebuilt. When a segment
 *    past the recovery point had to be cut, the segments after it are deleted: they were
 *    written after bytes that did not survive, so keeping them would leave a hole.
 */
export interface LoadOptions {
  dir: string;
  config: LogConfig;
  clock: Clock;
  logger: Logger;
  fileSync: FileSync;
  recoveryPoint: bigint;
}

export interface LoadResult {
  segments: Segment[];
  /** Segments that went through full recovery (their bytes should be fsynced again). */
  recovered: Segment[];
}

async function removeSegmentFiles(dir: string, baseOffset: bigint, suffix: string): Promise<void> {
  for (const extension of SEGMENT_FILE_EXTENSIONS) {
    await rm(path.join(dir, segmentFileName(baseOffset, extension, suffix)), { force: true });
  }
}

export async function loadSegments(options: LoadOptions): Promise<LoadResult> {
  const { dir, logger } = options;
  const segmentOptions = { config: options.config, clock: options.clock, fileSync: options.fileSync };
  const names = await readdir(dir);
  const liveLogs = new Set<bigint>();
  const liveIndexes: Array<{ baseOffset: bigint; name: string }> = [];
  const swapLogs: bigint[] = [];
  const swapIndexes: Array<{ baseOffset: bigint; name: string }> = [];

  for (const name of names) {
    if (name.endsWith(ATOMIC_TEMP_SUFFIX)) {
      await rm(path.join(dir, name), { force: true });
      continue;
    }
    const parsed = parseSegmentFileName(name);
    if (parsed === undefined) continue;
    if (parsed.suffix === '.cleaned' || parsed.suffix === '.deleted') {
      logger.info({ dir, file: name }, `deleting leftover ${parsed.suffix} file`);
      await rm(path.join(dir, name), { force: true });
    } else if (parsed.suffix === '.swap') {
      if (parsed.extension === LOG_FILE_EXTENSION) swapLogs.push(parsed.baseOffset);
      else swapIndexes.push({ baseOffset: parsed.baseOffset, name });
    } else if (parsed.extension === LOG_FILE_EXTENSION) {
      liveLogs.add(parsed.baseOffset);
    } else {
      liveIndexes.push({ baseOffset: parsed.baseOffset, name });
    }
  }

  for (const index of swapIndexes) {
    if (!swapLogs.includes(index.baseOffset)) await rm(path.join(dir, index.name), { force: true });
  }

  // Complete interrupted swaps (the cleaned segment is durable once renamed to .swap).
  swapLogs.sort(compareBigint);
  for (const baseOffset of swapLogs) {
    const swap = await Segment.open(dir, baseOffset, { ...segmentOptions, fileSuffix: '.swap' });
    const result = await swap.recover();
    const replaced = [...liveLogs].filter((live) => live >= baseOffset && live < swap.nextOffset);
    for (const live of replaced) {
      await removeSegmentFiles(dir, live, '');
      liveLogs.delete(live);
    }
    await removeSegmentFiles(dir, baseOffset, '');
    await swap.renameSuffix('');
    await swap.close();
    liveLogs.add(baseOffset);
    logger.warn(
      { dir, baseOffset: baseOffset.toString(), nextOffset: swap.nextOffset.toString(), replaced: replaced.map(String), truncatedBytes: result.truncatedBytes },
      'completed an interrupted segment swap',
    );
  }

  for (const index of liveIndexes) {
    if (!liveLogs.has(index.baseOffset)) {
      logger.info({ dir, file: index.name }, 'deleting an index file that has no log file');
      await rm(path.join(dir, index.name), { force: true });
    }
  }

  const bases = [...liveLogs].sort(compareBigint);
  const segments: Segment[] = [];
  const recovered: Segment[] = [];
  try {
    for (let i = 0; i < bases.length; i++) {
      const segment = await Segment.open(dir, bases[i]!, segmentOptions);
      segments.push(segment);
      const problem = await segment.loadState();
      const pastRecoveryPoint = segment.nextOffset > options.recoveryPoint;
      if (problem === undefined && !pastRecoveryPoint) continue;
      const sizeBefore = segment.sizeBytes;
      const result = await segment.recover();
      recovered.push(segment);
      const fields = {
        dir,
        segment: segment.logPath,
        reason: problem ?? `holds offsets at or past the recovery point ${options.recoveryPoint}`,
        sizeBytesBefore: sizeBefore,
        validBytes: result.validBytes,
        truncatedBytes: result.truncatedBytes,
        batches: result.batchCount,
        nextOffset: segment.nextOffset.toString(),
        ...(result.problem === undefined ? {} : { stoppedAt: result.problem }),
      };
      if (result.truncatedBytes === 0) {
        logger.info(fields, 'recovered segment: all batches valid, indexes rebuilt');
        continue;
      }
      if (!pastRecoveryPoint) {
        logger.error(fields, 'flushed segment had invalid bytes; truncated them');
        continue;
      }
      logger.warn(fields, 'recovered segment: truncated a torn or corrupt tail');
      const later = bases.slice(i + 1);
      if (later.length > 0) {
        logger.warn({ dir, segments: later.map(String) }, 'deleting segments written after the truncated tail');
        for (const base of later) await removeSegmentFiles(dir, base, '');
      }
      break;
    }
  } catch (error) {
    await Promise.all(segments.map((segment) => segment.close().catch(() => {})));
    throw error;
  }
  return { segments, recovered };
}

function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
