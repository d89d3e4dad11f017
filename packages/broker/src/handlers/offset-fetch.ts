import {
  ApiKey,
  ErrorCode,
  type OffsetFetchResponsePartition,
  type OffsetFetchResponseTopic,
} from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import type { CommittedOffset, OffsetStore } from '../group/offset-store.js';

/** First OffsetFetch version that asks for several groups at once. */
const VERSION_BATCHED = 8;

interface RequestedTopic {
  name: string;
  partitionIndexes: number[];
}

/**
 * OffsetFetch v0-9: the committed offset, leader epoch and metadata of each requested partition;
 * -1 (and metadata "") where nothing is committed, with no error, as Kafka answers and as every
 * client expects. `topics: null` (v2+) means every partition the group has committed. v8+ asks for
 * several groups at once. `requireStable` needs no wait while there are no transactional commits.
 */
export const offsetFetchHandler = defineHandler({
  apiKey: ApiKey.OffsetFetch,
  minVersion: 0,
  maxVersion: 9,
  handle(request, context) {
    const { offsetStore } = context.broker;
    const version = context.header.apiVersion;
    if (version >= VERSION_BATCHED) {
      return {
        throttleTimeMs: 0,
        groups: (request.groups ?? []).map((group) => ({
          groupId: group.groupId,
          topics: committedTopics(offsetStore, group.groupId, group.topics).map((topic) => ({
            name: topic.name,
            partitions: topic.partitions.map((partition) => ({ ...partition, committedLeaderEpoch: partition.committedLeaderEpoch ?? -1 })),
          })),
          errorCode: ErrorCode.NONE,
        })),
      };
    }
    // Versions before 5 have no leader epoch field: the codec leaves it out.
    const topics = committedTopics(offsetStore, request.groupId ?? '', request.topics ?? null);
    return { throttleTimeMs: 0, topics, errorCode: ErrorCode.NONE };
  },
});

function committedTopics(store: OffsetStore, groupId: string, requested: readonly RequestedTopic[] | null): OffsetFetchResponseTopic[] {
  if (requested === null) {
    const byTopic = new Map<string, OffsetFetchResponsePartition[]>();
    for (const offset of store.fetch(groupId)) {
      let partitions = byTopic.get(offset.topic);
      if (partitions === undefined) byTopic.set(offset.topic, (partitions = []));
      partitions.push(toPartition(offset));
    }
    return [...byTopic].map(([name, partitions]) => ({ name, partitions }));
  }
  return requested.map((topic) => ({
    name: topic.name,
    partitions: store.fetch(groupId, topic.partitionIndexes.map((partition) => ({ topic: topic.name, partition }))).map(toPartition),
  }));
}

function toPartition(offset: CommittedOffset): OffsetFetchResponsePartition {
  return {
    partitionIndex: offset.partition,
    committedOffset: offset.offset,
    committedLeaderEpoch: offset.leaderEpoch,
    metadata: offset.metadata ?? '',
    errorCode: ErrorCode.NONE,
  };
}
