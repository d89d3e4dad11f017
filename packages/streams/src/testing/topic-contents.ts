import type { RunningBroker } from '@defter/broker';
import { ApiKey, ErrorCode, decodeRecordBatches, isControl } from '@defter/protocol';

/** A record as stored: bytes, headers as text. */
export interface StoredRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
}

export interface ReadTopicOptions {
  /** The client id the broker sees (default `defter-testing`). */
  readonly clientId?: string;
}

const LATEST_TIMESTAMP = -1n;
const LIST_OFFSETS_VERSION = 7;
const FETCH_VERSION = 12;
const PARTITION_BYTES_MAX = 1024 * 1024;

/**
 * Every record of a topic, partition by partition in offset order, read from a broker of this
 * process with ListOffsets and Fetch (read_uncommitted, no consumer group: it only looks), up to
 * each partition's end offset when the read starts. Control records are skipped; records of
 * aborted transactions are not filtered out.
 */
export async function readTopic(broker: RunningBroker, topic: string, partitions: number, options: ReadTopicOptions = {}): Promise<StoredRecord[]> {
  if (!Number.isSafeInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  const client = broker.client(options.clientId ?? 'defter-testing');
  const listed = await client.send(ApiKey.ListOffsets, LIST_OFFSETS_VERSION, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: topic, partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp: LATEST_TIMESTAMP })) }],
  });
  const records: StoredRecord[] = [];
  for (const { partitionIndex: partition, errorCode, offset } of listed.topics[0]?.partitions ?? []) {
    if (errorCode !== ErrorCode.NONE || offset === undefined) throw new Error(`cannot list the offsets of ${topic}-${partition}: error code ${errorCode}`);
    const endOffset = offset;
    let position = 0n;
    while (position < endOffset) {
      const fetched = await client.send(ApiKey.Fetch, FETCH_VERSION, {
        replicaId: -1,
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: PARTITION_BYTES_MAX,
        isolationLevel: 0,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [{ topic, partitions: [{ partition, currentLeaderEpoch: -1, fetchOffset: position, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: PARTITION_BYTES_MAX }] }],
        forgottenTopicsData: [],
        rackId: '',
      });
      const data = fetched.responses[0]?.partitions[0];
      if (data === undefined || data.errorCode !== ErrorCode.NONE) throw new Error(`cannot fetch ${topic}-${partition} at offset ${position}: error code ${data?.errorCode}`);
      const before = position;
      for (const batch of decodeRecordBatches(data.records ?? Buffer.alloc(0), { partialTrailingBatch: 'ignore' })) {
        if (!isControl(batch.attributes)) {
          for (const record of batch.records) {
            const recordOffset = batch.baseOffset + BigInt(record.offsetDelta);
            if (recordOffset < position || recordOffset >= endOffset) continue;
            records.push({
              topic,
              partition,
              offset: recordOffset,
              timestamp: Number(batch.baseTimestamp + record.timestampDelta),
              key: record.key,
              value: record.value,
              headers: Object.fromEntries(record.headers.map((header) => [header.key, header.value?.toString('utf8') ?? ''])),
            });
          }
        }
        position = batch.baseOffset + BigInt(batch.lastOffsetDelta) + 1n;
      }
      if (position === before) throw new Error(`fetching ${topic}-${partition} at offset ${position} returned nothing below its end offset ${endOffset}`);
    }
  }
  return records;
}
