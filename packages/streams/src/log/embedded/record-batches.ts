import {
  ATTRIBUTE_CONTROL,
  ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND,
  ATTRIBUTE_TRANSACTIONAL,
  decodeControlRecord,
  decodeRecordBatches,
  encodeRecordBatch,
  type FetchResponseAbortedTransaction,
  type RecordHeader,
} from '@defter/protocol';
import type { LogRecord, OutgoingRecord, RecordHeaders } from '../stream-log.js';

/** What one partition's fetched bytes hold once markers and aborted transactions are taken out. */
export interface DecodedPartition {
  readonly records: LogRecord[];
  /** Past the last whole batch returned (data or control), or `fetchOffset` when there was none. */
  readonly nextOffset: bigint;
}

/**
 * Decodes a Fetch response's `records` for one partition, as Kafka's consumer does: records below
 * `fetchOffset` (the start of a batch already partly consumed) are skipped, control batches are
 * dropped, and under read_committed the batches of the aborted transactions the response lists are
 * dropped too: a producer's batches are aborted from its listed first offset up to its abort marker.
 * An incomplete batch at the end (the broker cut at its byte limit) is left for the next fetch.
 */
export function decodeFetchedRecords(
  bytes: Buffer | null,
  fetchOffset: bigint,
  abortedTransactions: readonly FetchResponseAbortedTransaction[] | null | undefined,
): DecodedPartition {
  if (bytes === null || bytes.length === 0) return { records: [], nextOffset: fetchOffset };
  const batches = decodeRecordBatches(bytes, { partialTrailingBatch: 'ignore' });
  const pendingAborts = [...(abortedTransactions ?? [])].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  const abortedProducers = new Set<bigint>();
  const records: LogRecord[] = [];
  let nextOffset = fetchOffset;
  for (const batch of batches) {
    const lastOffset = batch.baseOffset + BigInt(batch.lastOffsetDelta);
    if (lastOffset < fetchOffset) continue;
    nextOffset = lastOffset + 1n;
    const transactional = (batch.attributes & ATTRIBUTE_TRANSACTIONAL) !== 0;
    if (transactional) {
      while (pendingAborts.length > 0 && pendingAborts[0]!.firstOffset <= lastOffset) abortedProducers.add(pendingAborts.shift()!.producerId);
    }
    if ((batch.attributes & ATTRIBUTE_CONTROL) !== 0) {
      const marker = batch.records[0];
      if (marker !== undefined && decodeControlRecord(marker).type === 'abort') abortedProducers.delete(batch.producerId);
      continue;
    }
    if (transactional && abortedProducers.has(batch.producerId)) continue;
    const logAppendTime = (batch.attributes & ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND) !== 0;
    for (const record of batch.records) {
      const offset = batch.baseOffset + BigInt(record.offsetDelta);
      if (offset < fetchOffset) continue;
      records.push({
        offset,
        timestamp: Number(logAppendTime ? batch.maxTimestamp : batch.baseTimestamp + record.timestampDelta),
        key: record.key,
        value: record.value,
        headers: toRecordHeaders(record.headers),
      });
    }
  }
  return { records, nextOffset };
}

function toRecordHeaders(headers: readonly RecordHeader[]): RecordHeaders {
  if (headers.length === 0) return EMPTY_HEADERS;
  const result: Record<string, Buffer | Buffer[] | undefined> = {};
  for (const { key, value } of headers) {
    const current = result[key];
    // A null header value has no Buffer form in kafkajs's shape: it reads as undefined.
    const buffer = value ?? undefined;
    if (!(key in result)) result[key] = buffer;
    else if (buffer !== undefined) result[key] = Array.isArray(current) ? [...current, buffer] : current === undefined ? buffer : [current, buffer];
  }
  return result;
}

const EMPTY_HEADERS: RecordHeaders = Object.freeze({});

export interface ProducerIdentity {
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly transactional: boolean;
}

/** One partition's records as one idempotent (or transactional) batch starting at `baseSequence`. */
export function encodeProducerBatch(records: readonly OutgoingRecord[], identity: ProducerIdentity, baseSequence: number): Buffer {
  return encodeRecordBatch({
    producerId: identity.producerId,
    producerEpoch: identity.producerEpoch,
    baseSequence,
    transactional: identity.transactional,
    records: records.map((record) => ({
      timestamp: BigInt(Math.trunc(record.timestamp)),
      key: record.key,
      value: record.value,
      headers: fromRecordHeaders(record.headers),
    })),
  });
}

function fromRecordHeaders(headers: RecordHeaders): RecordHeader[] {
  const result: RecordHeader[] = [];
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    for (const item of values as ReadonlyArray<Buffer | string>) result.push({ key, value: typeof item === 'string' ? Buffer.from(item) : item });
  }
  return result;
}

/** Bytes a record adds to a request, roughly: enough to keep requests below their limit. */
export function estimatedRecordBytes(record: OutgoingRecord): number {
  let bytes = 24 + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const [key, value] of Object.entries(record.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) bytes += key.length + 8 + (typeof item === 'string' ? Buffer.byteLength(item) : (item as Buffer).length);
  }
  return bytes;
}
