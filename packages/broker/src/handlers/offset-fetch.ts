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
/** First OffsetFetch version with `requireStable`. */
const VERSION_REQUIRE_STABLE = 7;

interface RequestedTopic {
  name: string;
  partitionIndexes: number[];
}

/**
 * OffsetFetch v0-9: the committed offset, leader epoch and metadata of each requested partition;
 * -1 (and metadata "") where nothing is committed, with no error, as Kafka answers and as every
 * client expects. `topics: null` (v2+) means every partition the group has committed. v8+ asks for
 * several groups at once. With `requireStable` (v7+, KIP-447) a partition that an open transaction
 * is committing an offset for answers UNSTABLE_OFFSET_COMMIT (offset -1), as Kafka does per
 * partition; the client retries until the transaction ends. Without it, the last committed offset.
 */
export const offsetFetchHandler = defineHandler({
  apiKey: ApiKey.OffsetFetch,
  minVersion: 0,
  maxVersion: 9,
  handle(request, context) {
    const { offsetStore } = context.broker;
    const version = context.header.apiVersion;
    const requireStable = version >= VERSION_REQUIRE_STABLE && request.requireStable === true;
    if (version >= VERSION_BATCHED) {
      return {
        throttleTimeMs: 0,
        groups: (request.groups ?? []).map((group) => ({
          groupId: group.groupId,
          topics: committedTopics(offsetStore, group.groupId, group.topics, requireStable).map((topic) => ({
            name: topic.name,
            partitions: topic.partitions.map((partition) => ({ ...partition, committedLeaderEpoch: partition.committedLeaderEpoch ?? -1 })),
          })),
          errorCode: ErrorCode.NONE,
        })),
      };
    }
    // Versions before 5 have no leader epoch field: the codec leaves it out.
    const topics = committedTopics(offsetStore, request.groupId ?? '', request.topics ?? null, requireStable);
    return { throttleTimeMs: 0, topics, errorCode: ErrorCode.NONE };
  },
});

/**
 * The committed offsets of the requested partitions (every committed one when `requested` is
 * null); with `requireStable`, those an open transaction is committing are UNSTABLE_OFFSET_COMMIT.
 */
export function committedTopics(
  store: Pick<OffsetStore, 'fetch' | 'hasPendingOffset'>,
  groupId: string,
  requested: readonly RequestedTopic[] | null,
  requireStable: boolean,
): OffsetFetchResponseTopic[] {
  const toPartition = (offset: CommittedOffset): OffsetFetchResponsePartition =>
    requireStable && store.hasPendingOffset(groupId, offset.topic, offset.partition) ? unstablePartition(offset.partition) : committedPartition(offset);
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

function committedPartition(offset: CommittedOffset): OffsetFetchResponsePartition {
  return {
    partitionIndex: offset.partition,
    committedOffset: offset.offset,
    committedLeaderEpoch: offset.leaderEpoch,
    metadata: offset.metadata ?? '',
    errorCode: ErrorCode.NONE,
  };
}

/** Kafka's answer for a partition with a pending transactional offset: no offset, the error. */
function unstablePartition(partition: number): OffsetFetchResponsePartition {
  return { partitionIndex: partition, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT };
}
