import {
  ATTRIBUTE_CONTROL,
  ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND,
  ATTRIBUTE_TRANSACTIONAL,
  decodeControlRecord,
  decodeRecordBatches,
  encodeRecordBatch,
  type FetchResponseAbortedTransaction,
  type RecordBatch,
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
    pushRecords(batch, fetchOffset, records);
  }
  return { records, nextOffset };
}

/**
 * One data batch's records from `fetchOffset` on. Per record this allocates the record, its
 * headers object (none when it has no headers) and one bigint offset: the offset and timestamp
 * arithmetic is done on numbers, exact while the offsets (below 2^52) and timestamps are safe
 * integers (always, in practice: 2^53 ms is 285,000 years); bigint arithmetic otherwise.
 */
function pushRecords(batch: RecordBatch, fetchOffset: bigint, records: LogRecord[]): void {
  const logAppendTime = (batch.attributes & ATTRIBUTE_TIMESTAMP_TYPE_LOG_APPEND) !== 0;
  const batchRecords = batch.records;
  const baseOffset = batch.baseOffset;
  const numbersExact =
    baseOffset >= 0n &&
    baseOffset <= OFFSET_NUMBER_MAX &&
    fetchOffset >= 0n &&
    fetchOffset <= OFFSET_NUMBER_MAX &&
    isSafeInteger(batch.baseTimestamp) &&
    isSafeInteger(batch.maxTimestamp);
  if (!numbersExact) {
    for (const record of batchRecords) {
      const offset = baseOffset + BigInt(record.offsetDelta);
      if (offset < fetchOffset) continue;
      records.push({
        offset,
        timestamp: Number(logAppendTime ? batch.maxTimestamp : batch.baseTimestamp + record.timestampDelta),
        key: record.key,
        value: record.value,
        headers: toRecordHeaders(record.headers),
      });
    }
    return;
  }
  const baseOffsetNumber = Number(baseOffset);
  const fetchOffsetNumber = Number(fetchOffset);
  const baseTimestampNumber = Number(batch.baseTimestamp);
  const logAppendTimestamp = Number(batch.maxTimestamp);
  for (let index = 0; index < batchRecords.length; index += 1) {
    const record = batchRecords[index]!;
    const offsetNumber = baseOffsetNumber + record.offsetDelta;
    if (offsetNumber < fetchOffsetNumber) continue;
    const timestampDelta = record.timestampDelta;
    records.push({
      offset: BigInt(offsetNumber),
      timestamp: logAppendTime
        ? logAppendTimestamp
        : isSafeInteger(timestampDelta)
          ? baseTimestampNumber + Number(timestampDelta)
          : Number(batch.baseTimestamp + timestampDelta),
      key: record.key,
      value: record.value,
      headers: toRecordHeaders(record.headers),
    });
  }
}

const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE_BIGINT = BigInt(Number.MIN_SAFE_INTEGER);
/** A base offset up to 2^52 plus any int32 offset delta stays a safe integer. */
const OFFSET_NUMBER_MAX = 2n ** 52n;

function isSafeInteger(value: bigint): boolean {
  return value >= MIN_SAFE_BIGINT && value <= MAX_SAFE_BIGINT;
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

/** Kafka's header list from kafkajs's shape; a record without headers shares one empty list (the encoder only reads it). */
function fromRecordHeaders(headers: RecordHeaders): RecordHeader[] {
  let result: RecordHeader[] | undefined;
  // for…in rather than Object.entries: no array of pairs per record (headers are plain objects).
  for (const key in headers) {
    if (!Object.hasOwn(headers, key)) continue;
    const value = headers[key];
    if (value === undefined) continue;
    result ??= [];
    if (!Array.isArray(value)) result.push(toRecordHeader(key, value as Buffer | string));
    else for (const item of value as ReadonlyArray<Buffer | string>) result.push(toRecordHeader(key, item));
  }
  return result ?? NO_HEADERS;
}

function toRecordHeader(key: string, value: Buffer | string): RecordHeader {
  return { key, value: typeof value === 'string' ? Buffer.from(value) : value };
}

const NO_HEADERS: RecordHeader[] = [];

/** Bytes a record adds to a request, roughly: enough to keep requests below their limit. */
export function estimatedRecordBytes(record: OutgoingRecord): number {
  let bytes = 24 + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  const headers = record.headers;
  for (const key in headers) {
    if (!Object.hasOwn(headers, key)) continue;
    const value = headers[key];
    if (value === undefined) continue;
    if (!Array.isArray(value)) bytes += key.length + 8 + headerValueBytes(value as Buffer | string);
    else for (const item of value as ReadonlyArray<Buffer | string>) bytes += key.length + 8 + headerValueBytes(item);
  }
  return bytes;
}

function headerValueBytes(value: Buffer | string): number {
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}
