import { encodeControlBatch, encodeRecordBatch, patchBaseOffset, readBatchHeader, type ControlRecordType } from '@defter/protocol';
import { producerBatchInfo, readEndTxnMarker, type AppendedProducerBatch, type ReplayBatch } from '../../src/producer-state.js';

export interface DataBatchSpec {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
  transactional?: boolean;
  timestampMs?: bigint;
}

export interface MarkerSpec {
  producerId: bigint;
  producerEpoch: number;
  type: ControlRecordType;
  coordinatorEpoch: number;
  timestampMs?: bigint;
}

/** A real producer batch (offsets not yet assigned), encoded by the protocol package. */
export function dataBatch(spec: DataBatchSpec): Buffer {
  return encodeRecordBatch({
    producerId: spec.producerId,
    producerEpoch: spec.producerEpoch,
    baseSequence: spec.baseSequence,
    transactional: spec.transactional ?? false,
    records: Array.from({ length: spec.recordCount }, (_, i) => ({ value: Buffer.from(`v${i}`), timestamp: spec.timestampMs ?? 1000n })),
  });
}

export function markerBatch(spec: MarkerSpec): Buffer {
  return encodeControlBatch({ ...spec, timestamp: spec.timestampMs ?? 1000n });
}

/** A log in memory: assigns dense offsets and keeps each batch's bytes and header, as a segment scan yields them. */
export class MemoryLog {
  readonly batches: ReplayBatch[] = [];
  nextOffset = 0n;

  constructor(startOffset = 0n) {
    this.nextOffset = startOffset;
  }

  append(bytes: Buffer): ReplayBatch {
    patchBaseOffset(bytes, this.nextOffset);
    const header = readBatchHeader(bytes);
    const entry = { header, bytes };
    this.batches.push(entry);
    this.nextOffset = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
    return entry;
  }

  /** Batches from the one holding `offset` on. */
  *from(offset: bigint): Generator<ReplayBatch> {
    for (const batch of this.batches) if (batch.header.baseOffset + BigInt(batch.header.lastOffsetDelta) >= offset) yield batch;
  }
}

/** What recordAppend takes for a batch the log just wrote. */
export function appended(batch: ReplayBatch): AppendedProducerBatch {
  const info = producerBatchInfo(batch.header);
  return {
    ...info,
    baseOffset: batch.header.baseOffset,
    maxTimestamp: batch.header.maxTimestamp,
    marker: info.isControl ? readEndTxnMarker(batch.bytes) : undefined,
  };
}
