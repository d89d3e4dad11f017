import { ApiKey, ErrorCode } from '@defter/protocol';
import type { FetchedBatch, IsolationLevel, PartitionRange, ReadPartitionOptions, TopicPartition } from '../stream-log.js';
import { describeTopics, type BrokerConnection } from './connection.js';
import { EmbeddedLogError } from './log-errors.js';
import { FETCH_VERSION_TOPIC_IDS } from './protocol-versions.js';
import { decodeFetchedRecords } from './record-batches.js';

const EARLIEST_TIMESTAMP = -2n;
const LATEST_TIMESTAMP = -1n;
const READ_PARTITION_MAX_BYTES_DEFAULT = 1_048_576;
/** A restore reads what is there: a fetch that finds nothing new waits at most this long before asking again. */
const READ_PARTITION_WAIT_MS = 50;

function isolationCode(isolationLevel: IsolationLevel): number {
  return isolationLevel === 'read_committed' ? 1 : 0;
}

async function listOffset(connection: BrokerConnection, partition: TopicPartition, isolationLevel: IsolationLevel, timestamp: bigint): Promise<bigint> {
  const response = await connection.client.send(ApiKey.ListOffsets, connection.versions.listOffsets, {
    replicaId: -1,
    isolationLevel: isolationCode(isolationLevel),
    topics: [{ name: partition.topic, partitions: [{ partitionIndex: partition.partition, currentLeaderEpoch: -1, timestamp }] }],
    timeoutMs: 30_000,
  });
  const result = response.topics.find((topic) => topic.name === partition.topic)?.partitions.find((entry) => entry.partitionIndex === partition.partition);
  const code = result?.errorCode ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  if (code !== ErrorCode.NONE) throw new EmbeddedLogError(code, `listing offsets of ${partition.topic}[${partition.partition}]`);
  return result!.offset ?? 0n;
}

/** The log start offset and the end offset (high watermark, or last stable offset under read_committed) of one partition. */
export async function offsetRange(connection: BrokerConnection, partition: TopicPartition, isolationLevel: IsolationLevel): Promise<PartitionRange> {
  const logStartOffset = await listOffset(connection, partition, isolationLevel, EARLIEST_TIMESTAMP);
  const endOffset = await listOffset(connection, partition, isolationLevel, LATEST_TIMESTAMP);
  return { logStartOffset, endOffset };
}

/** One partition's batches from `fromOffset` up to `toOffset`, fetched outside any group (the `StreamLog` contract, part 7). */
export async function* readPartition(connection: BrokerConnection, options: ReadPartitionOptions): AsyncGenerator<FetchedBatch> {
  const { topic, partition, toOffset, isolationLevel } = options;
  if (options.fromOffset >= toOffset) return;
  const { logStartOffset } = await offsetRange(connection, options, isolationLevel);
  let position = options.fromOffset < logStartOffset ? logStartOffset : options.fromOffset;
  const byTopicId = connection.versions.fetch >= FETCH_VERSION_TOPIC_IDS;
  const topicId = byTopicId ? (await describeTopics(connection, [topic]))[0]!.topicId : '';
  while (position < toOffset) {
    const response = await connection.client.send(ApiKey.Fetch, connection.versions.fetch, {
      replicaId: -1,
      maxWaitMs: READ_PARTITION_WAIT_MS,
      minBytes: 1,
      maxBytes: options.maxBytes ?? READ_PARTITION_MAX_BYTES_DEFAULT,
      isolationLevel: isolationCode(isolationLevel),
      sessionId: 0,
      sessionEpoch: -1,
      topics: [
        {
          ...(byTopicId ? { topicId } : { topic }),
          partitions: [
            {
              partition,
              currentLeaderEpoch: -1,
              fetchOffset: position,
              lastFetchedEpoch: -1,
              logStartOffset: -1n,
              partitionMaxBytes: options.maxBytes ?? READ_PARTITION_MAX_BYTES_DEFAULT,
            },
          ],
        },
      ],
      forgottenTopicsData: [],
      rackId: '',
    });
    if (response.errorCode !== undefined && response.errorCode !== ErrorCode.NONE) throw new EmbeddedLogError(response.errorCode, 'Fetch');
    const result = response.responses[0]?.partitions.find((entry) => entry.partitionIndex === partition);
    const code = result?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
    if (code !== ErrorCode.NONE) throw new EmbeddedLogError(code, `reading ${topic}[${partition}] at offset ${position}`);
    const decoded = decodeFetchedRecords(result!.records, position, result!.abortedTransactions);
    const visibleEnd = isolationLevel === 'read_committed' ? (result!.lastStableOffset ?? result!.highWatermark) : result!.highWatermark;
    // Nothing past `position` yet (the end asked for lies beyond what is visible): ask again.
    if (decoded.nextOffset <= position) continue;
    const records = decoded.records.filter((record) => record.offset < toOffset);
    const nextOffset = decoded.nextOffset > toOffset && records.length < decoded.records.length ? toOffset : decoded.nextOffset;
    yield { topic, partition, records, nextOffset, highWatermark: visibleEnd };
    position = nextOffset;
  }
}
