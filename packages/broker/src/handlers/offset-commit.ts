import { ApiKey, ErrorCode, type OffsetCommitResponseTopic } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { errorCodeOf, errorMessageOf } from '../errors.js';
import type { CommittedOffset } from '../group/offset-store.js';

/** Generation of a commit that comes from outside the group protocol (v0, or admin tools). */
const NO_GENERATION = -1;
/** First OffsetCommit version that carries a member id and a generation. */
const VERSION_GENERATION = 1;
/** First OffsetCommit version whose partitions carry the leader epoch. */
const VERSION_LEADER_EPOCH = 6;

/**
 * OffsetCommit v0-9. Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION; the coordinator
 * then decides whether this member may commit now (generation -1 on an empty group is a "simple"
 * commit), and its refusal applies to every other partition; metadata over offset.metadata.max.bytes
 * gets OFFSET_METADATA_TOO_LARGE; the rest is stored in one append. v1's commit timestamp and v2-4's
 * retention time are ignored, as in Kafka since 2.1 (retention is the broker's setting).
 */
export const offsetCommitHandler = defineHandler({
  apiKey: ApiKey.OffsetCommit,
  minVersion: 0,
  maxVersion: 9,
  async handle(request, context) {
    const { metadata, groupCoordinator, offsetStore, logger } = context.broker;
    const version = context.header.apiVersion;
    const groupId = request.groupId;
    const generationId = version >= VERSION_GENERATION ? (request.generationIdOrMemberEpoch ?? NO_GENERATION) : NO_GENERATION;
    const memberId = version >= VERSION_GENERATION ? (request.memberId ?? '') : '';
    const groupError = groupCoordinator.validateOffsetCommit(groupId, memberId, generationId, request.groupInstanceId ?? null);

    const errors = new Map<string, number>();
    const toCommit: Array<Omit<CommittedOffset, 'commitTimestampMs'>> = [];
    for (const topic of request.topics) {
      const partitions = metadata.topic(topic.name)?.partitions ?? 0;
      for (const partition of topic.partitions) {
        const key = keyOf(topic.name, partition.partitionIndex);
        if (partition.partitionIndex < 0 || partition.partitionIndex >= partitions) errors.set(key, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
        else if (groupError !== ErrorCode.NONE) errors.set(key, groupError);
        else if (offsetStore.isMetadataTooLarge(partition.committedMetadata)) errors.set(key, ErrorCode.OFFSET_METADATA_TOO_LARGE);
        else {
          errors.delete(key);
          toCommit.push({
            topic: topic.name,
            partition: partition.partitionIndex,
            offset: partition.committedOffset,
            leaderEpoch: version >= VERSION_LEADER_EPOCH ? (partition.committedLeaderEpoch ?? -1) : -1,
            metadata: partition.committedMetadata,
          });
        }
      }
    }

    if (toCommit.length > 0) {
      try {
        await offsetStore.commit(groupId, toCommit);
      } catch (error) {
        const code = errorCodeOf(error);
        if (code === ErrorCode.UNKNOWN_SERVER_ERROR) logger.error({ err: error, groupId }, 'offset commit failed');
        else logger.info({ groupId, code, reason: errorMessageOf(error) }, 'offset commit refused');
        for (const offset of toCommit) errors.set(keyOf(offset.topic, offset.partition), code);
      }
    }

    const topics: OffsetCommitResponseTopic[] = request.topics.map((topic) => ({
      name: topic.name,
      partitions: topic.partitions.map((partition) => ({
        partitionIndex: partition.partitionIndex,
        errorCode: errors.get(keyOf(topic.name, partition.partitionIndex)) ?? ErrorCode.NONE,
      })),
    }));
    return { throttleTimeMs: 0, topics };
  },
});

/** Topic names cannot contain a NUL, so this key is unambiguous. */
function keyOf(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
