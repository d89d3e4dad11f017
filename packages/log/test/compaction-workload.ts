/*
 * Shared by the compaction tests: build keyed workloads, append them to a PartitionLog, read a
 * log back record by record, and the oracle (the latest value of each key, replayed from the
 * same input).
 */
import { ATTRIBUTE_COMPRESSION_MASK, CompressionType, decodeRecordBatch, isControl, lastOffsetOf } from '@defter/protocol';
import { encodeRecordBatch } from '@defter/protocol';
import type { PartitionLog } from '../src/partition-log.js';

export interface RecordSpec {
  key: string | null;
  /** null = tombstone */
  value: string | null;
}

export interface BatchSpec {
  records: RecordSpec[];
  compression: CompressionType;
  producerId?: bigint;
}

export interface AppendedRecord extends RecordSpec {
  offset: bigint;
}

export interface StoredRecord extends RecordSpec {
  offset: bigint;
}

export interface StoredBatch {
  baseOffset: bigint;
  lastOffset: bigint;
  attributes: number;
  control: boolean;
  segmentBaseOffset: bigint;
  records: StoredRecord[];
}

export function encodeSpec(spec: BatchSpec, timestampMs: number, baseSequence = -1): Buffer {
  return encodeRecordBatch({
    compression: spec.compression,
    producerId: spec.producerId ?? -1n,
    producerEpoch: spec.producerId === undefined ? -1 : 0,
    baseSequence,
    records: spec.records.map((record) => ({
      timestamp: BigInt(timestampMs),
      key: record.key === null ? null : Buffer.from(record.key),
      value: record.value === null ? null : Buffer.from(record.value),
    })),
  });
}

/** Appends each batch; returns every record with the offset the log gave it. */
export async function appendAll(log: PartitionLog, specs: readonly BatchSpec[], nowMs: () => number): Promise<AppendedRecord[]> {
  const appended: AppendedRecord[] = [];
  const sequences = new Map<bigint, number>();
  for (const spec of specs) {
    const sequence = spec.producerId === undefined ? -1 : (sequences.get(spec.producerId) ?? 0);
    if (spec.producerId !== undefined) sequences.set(spec.producerId, sequence + spec.records.length);
    const info = await log.append(encodeSpec(spec, nowMs(), sequence));
    spec.records.forEach((record, index) => appended.push({ ...record, offset: info.baseOffset + BigInt(index) }));
  }
  return appended;
}

function text(buffer: Buffer | null): string | null {
  return buffer === null ? null : buffer.toString();
}

/** Every batch of the log, decoded, oldest first. */
export async function readLog(log: PartitionLog): Promise<StoredBatch[]> {
  const batches: StoredBatch[] = [];
  for (const segment of log.segments()) {
    for await (const entry of segment.batches()) {
      const batch = decodeRecordBatch(entry.bytes);
      batches.push({
        baseOffset: batch.baseOffset,
        lastOffset: lastOffsetOf(entry.header),
        attributes: batch.attributes,
        control: isControl(batch.attributes),
        segmentBaseOffset: segment.baseOffset,
        records: batch.records.map((record) => ({
          offset: batch.baseOffset + BigInt(record.offsetDelta),
          key: text(record.key),
          value: text(record.value),
        })),
      });
    }
  }
  return batches;
}

export function recordsOf(batches: readonly StoredBatch[]): StoredRecord[] {
  return batches.filter((batch) => !batch.control).flatMap((batch) => batch.records);
}

/** The oracle: for each key, its latest record (value null for a delete). */
export function latestByKey(records: readonly AppendedRecord[]): Map<string, AppendedRecord> {
  const latest = new Map<string, AppendedRecord>();
  for (const record of records) if (record.key !== null) latest.set(record.key, record);
  return latest;
}

const compressions = [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd];

/**
 * A deterministic keyed workload: `batchCount` batches of 1..5 records over `keyCount` keys,
 * about one record in `deleteEvery` a tombstone, compression cycling through every codec.
 */
export function keyedWorkload(options: { batchCount: number; keyCount: number; deleteEvery: number; seed: number }): BatchSpec[] {
  let state = options.seed >>> 0 || 1;
  const next = (bound: number): number => {
    // xorshift32: a fixed sequence per seed, so a failure replays exactly.
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % bound;
  };
  const specs: BatchSpec[] = [];
  for (let b = 0; b < options.batchCount; b++) {
    const records: RecordSpec[] = [];
    const size = 1 + next(5);
    for (let r = 0; r < size; r++) {
      const key = `key-${next(options.keyCount)}`;
      const value = next(options.deleteEvery) === 0 ? null : `value-${b}-${r}-${'x'.repeat(next(40))}`;
      records.push({ key, value });
    }
    specs.push({ records, compression: compressions[b % compressions.length] ?? CompressionType.None });
  }
  return specs;
}

/** Offsets strictly increase over every record and every batch; batches never overlap. */
export function assertOffsetsIncrease(batches: readonly StoredBatch[]): string | undefined {
  let previousLast = -1n;
  for (const batch of batches) {
    if (batch.baseOffset <= previousLast) return `batch ${batch.baseOffset} does not follow ${previousLast}`;
    let previous = batch.baseOffset - 1n;
    for (const record of batch.records) {
      if (record.offset <= previous || record.offset > batch.lastOffset) return `record ${record.offset} out of order in batch ${batch.baseOffset}`;
      previous = record.offset;
    }
    previousLast = batch.lastOffset;
  }
  return undefined;
}

/**
 * The cleaning invariants against the oracle, for a log cleaned below `cleanedBelow`:
 * - every key's latest record (value or tombstone, unless tombstones may be gone) is still there,
 *   and so is every record without a key;
 * - below `cleanedBelow` a key appears at most once, and only as its latest record below it;
 * - at and above `cleanedBelow` nothing changed.
 * Without `cleanedBelow` (a partial pass) only the first rule is checked.
 */
export function checkAgainstOracle(
  appended: readonly AppendedRecord[],
  after: readonly StoredBatch[],
  cleanedBelow: bigint | undefined,
  tombstones: 'kept' | 'removed',
): string | undefined {
  const records = recordsOf(after);
  const offsetsAfter = new Set(records.map((record) => record.offset));
  const lostKeyless = appended.find((record) => record.key === null && !offsetsAfter.has(record.offset));
  if (lostKeyless !== undefined) return `record ${lostKeyless.offset} without a key was removed`;
  const latest = latestByKey(appended);
  const lastSeen = new Map<string, { offset: bigint; value: string | null }>();
  for (const record of records) if (record.key !== null) lastSeen.set(record.key, record);
  for (const [key, expected] of latest) {
    const seen = lastSeen.get(key);
    const tombstoneMayBeGone = expected.value === null && tombstones === 'removed' && expected.offset < (cleanedBelow ?? -1n);
    if (tombstoneMayBeGone) {
      if (seen !== undefined && seen.value !== null) return `deleted key ${key} came back with ${seen.value}`;
      continue;
    }
    if (seen === undefined) return `key ${key} lost (expected offset ${expected.offset})`;
    if (seen.offset !== expected.offset || seen.value !== expected.value) {
      return `key ${key}: latest is ${seen.offset}=${seen.value}, expected ${expected.offset}=${expected.value}`;
    }
  }
  if (cleanedBelow === undefined) return undefined;
  const latestBelow = latestByKey(appended.filter((record) => record.offset < cleanedBelow));
  const seenBelow = new Set<string>();
  for (const record of records) {
    if (record.offset >= cleanedBelow || record.key === null) continue;
    if (seenBelow.has(record.key)) return `key ${record.key} appears twice below ${cleanedBelow}`;
    seenBelow.add(record.key);
    if (latestBelow.get(record.key)?.offset !== record.offset) return `record ${record.offset} of ${record.key} is superseded but kept`;
    if (record.value === null && tombstones === 'removed') return `tombstone ${record.offset} of ${record.key} outlived its horizon`;
  }
  const head = appended.filter((record) => record.offset >= cleanedBelow).map((r) => `${r.offset}:${r.key}=${r.value}`);
  const headAfter = records.filter((record) => record.offset >= cleanedBelow).map((r) => `${r.offset}:${r.key}=${r.value}`);
  if (head.join('|') !== headAfter.join('|')) return `records at or above ${cleanedBelow} changed`;
  return undefined;
}

/** Every batch after cleaning is one that was appended, with the same first and last offsets. */
export function checkBatchBounds(before: readonly StoredBatch[], after: readonly StoredBatch[]): string | undefined {
  const bounds = new Map(before.map((batch) => [batch.baseOffset, batch]));
  for (const batch of after) {
    const original = bounds.get(batch.baseOffset);
    if (original === undefined) return `batch ${batch.baseOffset} was not appended`;
    if (original.lastOffset !== batch.lastOffset) return `batch ${batch.baseOffset} ends at ${batch.lastOffset}, was ${original.lastOffset}`;
    if ((original.attributes & ATTRIBUTE_COMPRESSION_MASK) !== (batch.attributes & ATTRIBUTE_COMPRESSION_MASK)) {
      return `batch ${batch.baseOffset} changed compression`;
    }
  }
  return undefined;
}
