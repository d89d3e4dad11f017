import { ApiKey, ErrorCode } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { EARLIEST_LOCAL_TIMESTAMP, IsolationLevel, MAX_TIMESTAMP } from '../replica/replica-manager.js';

/** First ListOffsets version that knows the max-timestamp query (-3, KIP-734). */
const VERSION_MAX_TIMESTAMP = 7;
/** First ListOffsets version that knows earliest-local (-4, KIP-405). */
const VERSION_EARLIEST_LOCAL = 8;
/** First ListOffsets version whose partitions carry a leader epoch. */
const VERSION_LEADER_EPOCH = 4;

/**
 * ListOffsets v0-8: latest, earliest, by timestamp, max timestamp (v7+); v0 answers with its
 * list of old-style offsets instead.
 */
export const listOffsetsHandler = defineHandler({
  apiKey: ApiKey.ListOffsets,
  minVersion: 0,
  maxVersion: 8,
  async handle(request, context) {
    const { replicaManager } = context.broker;
    const version = context.header.apiVersion;
    const isolationLevel = request.isolationLevel ?? IsolationLevel.READ_UNCOMMITTED;
    const topics = await Promise.all(
      request.topics.map(async (topic) => ({
        name: topic.name,
        partitions: await Promise.all(
          topic.partitions.map(async (partition) => {
            const partitionIndex = partition.partitionIndex;
            if (version === 0) {
              const result = await replicaManager.legacyOffsetsBefore(topic.name, partitionIndex, partition.timestamp, partition.maxNumOffsets ?? 1);
              return { partitionIndex, errorCode: result.errorCode, oldStyleOffsets: result.offsets };
            }
            if (
              (partition.timestamp === MAX_TIMESTAMP && version < VERSION_MAX_TIMESTAMP) ||
              (partition.timestamp === EARLIEST_LOCAL_TIMESTAMP && version < VERSION_EARLIEST_LOCAL)
            ) {
              return { partitionIndex, errorCode: ErrorCode.UNSUPPORTED_VERSION, timestamp: -1n, offset: -1n };
            }
            const result = await replicaManager.listOffset({ topic: topic.name, partition: partitionIndex, timestamp: partition.timestamp, isolationLevel });
            return {
              partitionIndex,
              errorCode: result.errorCode,
              timestamp: result.timestampMs,
              offset: result.offset,
              ...(version >= VERSION_LEADER_EPOCH ? { leaderEpoch: result.leaderEpoch } : {}),
            };
          }),
        ),
      })),
    );
    return { throttleTimeMs: 0, topics };
  },
});
