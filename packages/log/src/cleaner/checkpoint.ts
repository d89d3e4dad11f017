import path from 'node:path';
import { readTextIfExists, writeFileAtomically } from '../atomic-file.js';

/**
 * The cleaner's per-partition state, in `cleaner-offset-checkpoint` in the partition directory.
 * Kafka keeps one such file per data dir; defter keeps one per partition so that a partition
 * directory is self-contained (moving or deleting it takes its state along).
 *
 * Format (text, one value per line):
 *   0                      version
 *   <firstDirtyOffset>     the first offset not yet covered by a cleaning pass
 *   <deleteHorizonMs>      the earliest delete horizon of a tombstone still in the log, -1 if none:
 *                          once the clock passes it, cleaning is due even if nothing is dirty
 */
export interface CleanerCheckpoint {
  firstDirtyOffset: bigint;
  deleteHorizonMs: number;
}

export const CLEANER_CHECKPOINT_FILE = 'cleaner-offset-checkpoint';
const CHECKPOINT_VERSION = '0';

/** The checkpoint of a partition, or undefined when absent or unreadable (then cleaning starts over). */
export async function readCleanerCheckpoint(dir: string): Promise<CleanerCheckpoint | undefined> {
  const text = await readTextIfExists(path.join(dir, CLEANER_CHECKPOINT_FILE));
  if (text === undefined) return undefined;
  return parseCleanerCheckpoint(text);
}

export function parseCleanerCheckpoint(text: string): CleanerCheckpoint | undefined {
  const lines = text.split('\n');
  if (lines[0] !== CHECKPOINT_VERSION) return undefined;
  const offsetText = lines[1] ?? '';
  const horizonText = lines[2] ?? '';
  if (!/^\d{1,19}$/.test(offsetText) || !/^(-1|\d{1,16})$/.test(horizonText)) return undefined;
  const firstDirtyOffset = BigInt(offsetText);
  if (firstDirtyOffset > 0x7fffffffffffffffn) return undefined;
  return { firstDirtyOffset, deleteHorizonMs: Number(horizonText) };
}

export function formatCleanerCheckpoint(checkpoint: CleanerCheckpoint): string {
  return `${CHECKPOINT_VERSION}\n${checkpoint.firstDirtyOffset}\n${checkpoint.deleteHorizonMs}\n`;
}

/** Written atomically (see `writeFileAtomically`): a reader sees the old or the new file. */
export async function writeCleanerCheckpoint(dir: string, checkpoint: CleanerCheckpoint): Promise<void> {
  await writeFileAtomically(path.join(dir, CLEANER_CHECKPOINT_FILE), formatCleanerCheckpoint(checkpoint));
}
