import {
  ATTRIBUTE_DELETE_HORIZON,
  BATCH_OFFSET_ATTRIBUTES,
  BATCH_OFFSET_CRC,
  computeBatchCrc,
  compressionOf,
  encodeRecordBatch,
  hasLogAppendTime,
  isTransactional,
} from '@defter/protocol';
import type { Record, RecordBatch } from '@defter/protocol';
import type { OffsetMap } from './offset-map.js';

/** What the cleaner knows when it decides the fate of one data batch. */
export interface BatchFilterContext {
  offsetMap: Pick<OffsetMap, 'get'>;
  nowMs: number;
  deleteRetentionMs: number;
  /** Whether this batch belongs to a transaction that was aborted: its records are dropped. */
  aborted: boolean;
  /**
   * Whether this is its producer's last data batch in the log. An idempotent or transactional
   * producer's sequence state is rebuilt from its last batch, so that batch survives, emptied
   * if need be (Kafka's BatchRetention.RETAIN_EMPTY).
   */
  lastBatchOfProducer: boolean;
}

export type BatchFilterOutcome =
  /** Every record stays and nothing needs stamping: copy the stored bytes unchanged. */
  | { kind: 'keep'; bytes: Buffer; recordsRetained: number; tombstoneHorizonMs: number | undefined }
  /** Some records go, or a delete horizon must be stamped: a re-encoded batch. */
  | { kind: 'rewrite'; bytes: Buffer; recordsRetained: number; recordsRemoved: number; tombstoneHorizonMs: number | undefined }
  /** No record stays and the batch is not needed for producer state. */
  | { kind: 'drop'; recordsRemoved: number };

/** The batch's delete horizon (KIP-534: attribute bit 0x40, stored in baseTimestamp), if stamped. */
export function deleteHorizonOf(batch: Pick<RecordBatch, 'attributes' | 'baseTimestamp'>): bigint | undefined {
  return (batch.attributes & ATTRIBUTE_DELETE_HORIZON) !== 0 ? batch.baseTimestamp : undefined;
}

/**
 * Kafka's retention rule for one record of a compacted log. A record stays when it is the latest
 * for its key (no later offset in the map), and, if it is a tombstone, while its batch's delete
 * horizon has not passed (a tombstone seen for the first time has no horizon yet and stays).
 * Unlike Kafka, records without a key are kept: produce rejects them for compacted topics, so one
 * found here predates the policy, and dropping data silently is worse than keeping it.
 */
function retainRecord(record: Record, offset: bigint, horizonMs: bigint | undefined, context: BatchFilterContext): boolean {
  if (context.aborted) return false;
  if (record.key === null) return true;
  const latest = context.offsetMap.get(record.key);
  if (latest !== undefined && offset < latest) return false;
  if (record.value !== null) return true;
  return horizonMs === undefined || BigInt(context.nowMs) < horizonMs;
}

/**
 * Decides what one decoded data batch (never a control batch: those are kept as they are)
 * becomes in the cleaned segment. `stored` is the batch's bytes as they are in the log.
 *
 * A rewritten batch keeps baseOffset, lastOffsetDelta, partitionLeaderEpoch, producer id, epoch
 * and base sequence, compression, timestamp type, transactional flag and maxTimestamp: offsets
 * stay sparse (never renumbered), and the producer's sequence range and the batch's time stay
 * what they were. When a retained tombstone has no delete horizon yet, the batch gets one:
 * now + deleteRetentionMs, stored in baseTimestamp with attribute 0x40 (KIP-534), record
 * timestamps re-expressed relative to it.
 */
export function filterBatch(batch: RecordBatch, stored: Buffer, context: BatchFilterContext): BatchFilterOutcome {
  const existingHorizonMs = deleteHorizonOf(batch);
  const retained = batch.records.filter((record) =>
    retainRecord(record, batch.baseOffset + BigInt(record.offsetDelta), existingHorizonMs, context),
  );
  const recordsRemoved = batch.records.length - retained.length;
  const keepsEmpty = retained.length === 0 && batch.producerId >= 0n && context.lastBatchOfProducer;
  if (retained.length === 0 && !keepsEmpty) return { kind: 'drop', recordsRemoved };

  const hasTombstone = retained.some((record) => record.key !== null && record.value === null);
  const stampsHorizon = hasTombstone && existingHorizonMs === undefined;
  const horizonMs = stampsHorizon ? BigInt(context.nowMs + context.deleteRetentionMs) : existingHorizonMs;
  const tombstoneHorizonMs = hasTombstone && horizonMs !== undefined ? Number(horizonMs) : undefined;

  if (recordsRemoved === 0 && !stampsHorizon) {
    return { kind: 'keep', bytes: stored, recordsRetained: retained.length, tombstoneHorizonMs };
  }
  const bytes = reencode(batch, retained, horizonMs);
  return { kind: 'rewrite', bytes, recordsRetained: retained.length, recordsRemoved, tombstoneHorizonMs };
}

function reencode(batch: RecordBatch, retained: readonly Record[], horizonMs: bigint | undefined): Buffer {
  const baseTimestamp = horizonMs ?? batch.baseTimestamp;
  const bytes = encodeRecordBatch({
    baseOffset: batch.baseOffset,
    partitionLeaderEpoch: batch.partitionLeaderEpoch,
    compression: compressionOf(batch.attributes),
    timestampType: hasLogAppendTime(batch.attributes) ? 'log-append' : 'create',
    transactional: isTransactional(batch.attributes),
    producerId: batch.producerId,
    producerEpoch: batch.producerEpoch,
    baseSequence: batch.baseSequence,
    lastOffsetDelta: batch.lastOffsetDelta,
    baseTimestamp,
    maxTimestamp: batch.maxTimestamp,
    records: retained.map((record) => ({
      offsetDelta: record.offsetDelta,
      // Absolute record time is the old base plus the old delta, whatever the new base is.
      timestampDelta: batch.baseTimestamp + record.timestampDelta - baseTimestamp,
      key: record.key,
      value: record.value,
      headers: record.headers,
    })),
  });
  if (horizonMs !== undefined) stampDeleteHorizonFlag(bytes);
  return bytes;
}

/** Sets attribute bit 0x40 on an encoded batch and rewrites its CRC (which covers attributes). */
function stampDeleteHorizonFlag(bytes: Buffer): void {
  const attributes = bytes.readInt16BE(BATCH_OFFSET_ATTRIBUTES);
  bytes.writeInt16BE(attributes | ATTRIBUTE_DELETE_HORIZON, BATCH_OFFSET_ATTRIBUTES);
  bytes.writeUInt32BE(computeBatchCrc(bytes), BATCH_OFFSET_CRC);
}
