import {
  ApiKey,
  DecodeError,
  ErrorCode,
  decodeControlRecord,
  decodeRecordBatches,
  hasLogAppendTime,
  isControl,
  isTransactional,
  type FetchResponseAbortedTransaction,
  type RecordBatch,
} from '@defter/protocol';
import { CLIENT_VERSIONS, type ClusterClient, type TopicInfo } from './cluster-client.js';
import { KafkaProtocolError } from './kafka-connection.js';
import type { FormattableRecord } from './record-format.js';
import type { RequestTransport } from './request-transport.js';

/**
 * Reads partitions of one topic from given offsets with Fetch, as a read_committed consumer without
 * a group: whole batches come back, records before the fetch offset are skipped, control batches
 * and aborted transactional records are dropped, and each partition's position only moves forward.
 */

export interface FetchPosition {
  readonly partition: number;
  offset: bigint;
  /** Last high watermark seen (-1 before the first fetch). */
  highWatermark: bigint;
}

export interface PartitionFetcherOptions {
  /** How long the broker may hold a Fetch open waiting for data. */
  maxWaitMs?: number;
  /** Bytes per partition and per response. */
  partitionMaxBytes?: number;
  responseMaxBytes?: number;
}

const READ_COMMITTED = 1;
const MAX_WAIT_MS_DEFAULT = 500;
const PARTITION_MAX_BYTES_DEFAULT = 1024 * 1024;
const RESPONSE_MAX_BYTES_DEFAULT = 50 * 1024 * 1024;

export class PartitionFetcher {
  private readonly maxWaitMs: number;
  private readonly partitionMaxBytes: number;
  private readonly responseMaxBytes: number;

  constructor(
    private readonly client: ClusterClient<RequestTransport>,
    private readonly topic: TopicInfo,
    readonly positions: readonly FetchPosition[],
    options: PartitionFetcherOptions = {},
  ) {
    this.maxWaitMs = options.maxWaitMs ?? MAX_WAIT_MS_DEFAULT;
    this.partitionMaxBytes = options.partitionMaxBytes ?? PARTITION_MAX_BYTES_DEFAULT;
    this.responseMaxBytes = options.responseMaxBytes ?? RESPONSE_MAX_BYTES_DEFAULT;
  }

  /** True once every partition's position has reached the high watermark of its last fetch. */
  atEnd(): boolean {
    return this.positions.every((position) => position.highWatermark >= 0n && position.offset >= position.highWatermark);
  }

  /**
   * One Fetch round (one request per leader); resolves with the records it returned, in offset
   * order per partition, and advances the positions past them. `only` limits the round to some
   * partitions (a reader that merges partitions refills the ones it has run out of).
   */
  async fetchOnce(only?: ReadonlySet<number>): Promise<FormattableRecord[]> {
    const byLeader = new Map<number, FetchPosition[]>();
    for (const position of this.positions) {
      if (only !== undefined && !only.has(position.partition)) continue;
      const leaderId = this.topic.partitions.find((info) => info.partition === position.partition)?.leaderId ?? -1;
      byLeader.set(leaderId, [...(byLeader.get(leaderId) ?? []), position]);
    }
    const records: FormattableRecord[] = [];
    for (const [leaderId, positions] of byLeader) {
      const connection = await this.client.leaderConnection(leaderId);
      const version = connection.versionFor(ApiKey.Fetch, CLIENT_VERSIONS.fetch.min, CLIENT_VERSIONS.fetch.max);
      const response = await connection.send(ApiKey.Fetch, version, {
        replicaId: -1,
        maxWaitMs: this.maxWaitMs,
        minBytes: 1,
        maxBytes: this.responseMaxBytes,
        isolationLevel: READ_COMMITTED,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [
          {
            topic: this.topic.name,
            partitions: positions.map((position) => ({
              partition: position.partition,
              currentLeaderEpoch: -1,
              fetchOffset: position.offset,
              lastFetchedEpoch: -1,
              logStartOffset: -1n,
              partitionMaxBytes: this.partitionMaxBytes,
            })),
          },
        ],
        forgottenTopicsData: [],
        rackId: '',
      });
      if (response.errorCode !== undefined && response.errorCode !== ErrorCode.NONE) {
        throw new KafkaProtocolError(response.errorCode, `fetch from ${this.topic.name}`);
      }
      for (const topicResponse of response.responses) {
        for (const data of topicResponse.partitions) {
          const position = positions.find((candidate) => candidate.partition === data.partitionIndex);
          if (position === undefined) continue;
          if (data.errorCode !== ErrorCode.NONE) {
            throw new KafkaProtocolError(data.errorCode, `fetch from ${this.topic.name}-${data.partitionIndex} at offset ${position.offset}`);
          }
          position.highWatermark = data.highWatermark;
          if (data.records === null || data.records.length === 0) continue;
          let batches: RecordBatch[];
          try {
            batches = decodeRecordBatches(data.records, { partialTrailingBatch: 'ignore' });
          } catch (error) {
            if (error instanceof DecodeError) {
              throw new Error(`the broker returned a corrupt batch for ${this.topic.name}-${data.partitionIndex}: ${error.message}`);
            }
            throw error;
          }
          this.collect(position, batches, data.abortedTransactions ?? [], records);
        }
      }
    }
    return records;
  }

  private collect(position: FetchPosition, batches: readonly RecordBatch[], aborted: readonly FetchResponseAbortedTransaction[], out: FormattableRecord[]): void {
    // Kafka's consumer algorithm: a producer's records are aborted from its transaction's first
    // offset up to the abort marker.
    const pendingAborts = [...aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
    const abortedProducers = new Set<bigint>();
    for (const batch of batches) {
      const lastOffset = batch.baseOffset + BigInt(batch.lastOffsetDelta);
      while (pendingAborts.length > 0 && pendingAborts[0]!.firstOffset <= lastOffset) abortedProducers.add(pendingAborts.shift()!.producerId);
      if (lastOffset < position.offset) continue;
      if (isControl(batch.attributes)) {
        const marker = batch.records[0];
        if (marker !== undefined && decodeControlRecord(marker).type === 'abort') abortedProducers.delete(batch.producerId);
      } else if (!(isTransactional(batch.attributes) && abortedProducers.has(batch.producerId))) {
        const logAppendTime = hasLogAppendTime(batch.attributes);
        for (const record of batch.records) {
          const offset = batch.baseOffset + BigInt(record.offsetDelta);
          if (offset < position.offset) continue;
          out.push({
            topic: this.topic.name,
            partition: position.partition,
            offset,
            timestamp: logAppendTime ? batch.maxTimestamp : batch.baseTimestamp + record.timestampDelta,
            key: record.key,
            value: record.value,
            headers: record.headers,
          });
        }
      }
      position.offset = lastOffset + 1n;
    }
  }
}
