import { bytesMapKey } from './bytes.js';
import type { KeyValueBytesStore, KeyValueEntry } from './key-value-bytes-store.js';

/**
 * A state store's changelog record: the store's key bytes and value bytes, `null` for a delete (a
 * tombstone, which compaction of the changelog topic eventually removes).
 */
export interface ChangelogRecord {
  readonly key: Buffer;
  readonly value: Buffer | null;
}

/** The compacted topic that backs a persistent store: `<applicationId>-<store>-changelog` (Kafka Streams' name). */
export function changelogTopicName(applicationId: string, storeName: string): string {
  return `${applicationId}-${storeName}-changelog`;
}

/**
 * The changelog records of a sequence of writes (a cache flush): one record per key, carrying the
 * key's last value, ordered by each key's last write. A pure function: inputs are not changed.
 */
export function toChangelogRecords(writes: Iterable<{ readonly key: Buffer; readonly value: Buffer | null }>): ChangelogRecord[] {
  const lastWrite = new Map<string, ChangelogRecord>();
  for (const { key, value } of writes) {
    const mapKey = bytesMapKey(key);
    // Delete first so that Map order is the order of each key's last write.
    lastWrite.delete(mapKey);
    lastWrite.set(mapKey, { key, value });
  }
  return [...lastWrite.values()];
}

/** What a run of changelog records leaves behind: last write wins, a tombstone deletes. */
export interface ChangelogBatch {
  readonly puts: KeyValueEntry[];
  readonly deletes: Buffer[];
}

/** Folds changelog records into one write batch (last write per key wins; tombstones become deletes). */
export function foldChangelogRecords(records: Iterable<ChangelogRecord>): ChangelogBatch {
  const puts: KeyValueEntry[] = [];
  const deletes: Buffer[] = [];
  for (const record of toChangelogRecords(records)) {
    if (record.value === null) deletes.push(record.key);
    else puts.push({ key: record.key, value: record.value });
  }
  return { puts, deletes };
}

export interface RestoreOptions {
  /** Records folded into one `writeBatch`; bounds memory during a long restore. Default 10 000. */
  readonly batchRecordsMax?: number;
}

/**
 * Replays changelog records (in log order) into a store: one `writeBatch` per `batchRecordsMax`
 * records, each folded (last write wins, tombstones delete), so the store ends as the log says.
 * Returns how many records were read.
 */
export async function restoreFromChangelog(
  store: KeyValueBytesStore,
  records: Iterable<ChangelogRecord> | AsyncIterable<ChangelogRecord>,
  options: RestoreOptions = {},
): Promise<number> {
  const batchRecordsMax = options.batchRecordsMax ?? 10_000;
  if (!Number.isSafeInteger(batchRecordsMax) || batchRecordsMax < 1) throw new RangeError(`batchRecordsMax must be a positive integer, got ${batchRecordsMax}`);
  let pending: ChangelogRecord[] = [];
  let restored = 0;
  const writePending = async (): Promise<void> => {
    const { puts, deletes } = foldChangelogRecords(pending);
    pending = [];
    await store.writeBatch(puts, deletes);
  };
  for await (const record of records) {
    pending.push(record);
    restored += 1;
    if (pending.length >= batchRecordsMax) await writePending();
  }
  if (pending.length > 0) await writePending();
  return restored;
}
