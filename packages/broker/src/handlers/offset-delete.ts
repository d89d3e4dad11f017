import { ApiKey, ErrorCode, type OffsetDeleteResponseTopic } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { errorCodeOf, errorMessageOf } from '../errors.js';
import type { TopicPartitionRef } from '../group/offset-store.js';

/**
 * OffsetDelete v0 (KIP-496): removes a group's committed offsets for some partitions. A group that
 * neither has members nor offsets is GROUP_ID_NOT_FOUND. An empty group loses every requested
 * partition; a group with members keeps the partitions of topics its members subscribe to
 * (GROUP_SUBSCRIBED_TO_TOPIC), and a group whose subscriptions are unknown (not a consumer group)
 * refuses with NON_EMPTY_GROUP. Unknown topics or partitions are UNKNOWN_TOPIC_OR_PARTITION.
 */
export const offsetDeleteHandler = defineHandler({
  apiKey: ApiKey.OffsetDelete,
  minVersion: 0,
  maxVersion: 0,
  async handle(request, context) {
    const { metadata, groupCoordinator, offsetStore, logger } = context.broker;
    const groupId = request.groupId;
    const refuse = (errorCode: number) => ({ errorCode, throttleTimeMs: 0, topics: [] });

    const state = groupCoordinator.groupState(groupId) ?? (offsetStore.hasOffsets(groupId) ? 'Empty' : undefined);
    if (state === undefined || state === 'Dead') return refuse(ErrorCode.GROUP_ID_NOT_FOUND);
    let subscribed: ReadonlySet<string> | undefined = new Set();
    if (state !== 'Empty') {
      subscribed = groupCoordinator.subscribedTopics(groupId);
      if (subscribed === undefined) return refuse(ErrorCode.NON_EMPTY_GROUP);
    }

    const toDelete: TopicPartitionRef[] = [];
    const topics: OffsetDeleteResponseTopic[] = request.topics.map((topic) => {
      const partitionCount = metadata.topic(topic.name)?.partitions ?? 0;
      return {
        name: topic.name,
        partitions: topic.partitions.map(({ partitionIndex }) => {
          let errorCode: number = ErrorCode.NONE;
          if (partitionIndex < 0 || partitionIndex >= partitionCount) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          else if (subscribed.has(topic.name)) errorCode = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC;
          else toDelete.push({ topic: topic.name, partition: partitionIndex });
          return { partitionIndex, errorCode };
        }),
      };
    });

    try {
      await offsetStore.deleteOffsets(groupId, toDelete);
    } catch (error) {
      const code = errorCodeOf(error);
      if (code === ErrorCode.UNKNOWN_SERVER_ERROR) logger.error({ err: error, groupId }, 'offset delete failed');
      else logger.info({ groupId, code, reason: errorMessageOf(error) }, 'offset delete refused');
      return refuse(code);
    }
    return { errorCode: ErrorCode.NONE, throttleTimeMs: 0, topics };
  },
});
