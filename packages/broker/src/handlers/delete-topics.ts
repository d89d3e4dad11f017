import { ApiKey, ErrorCode, type DeleteTopicsResponseDeletableTopicResult } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { adminFailure, duplicatesIn } from '../metadata/admin-failure.js';
import { ZERO_UUID } from '../metadata/uuid.js';

/**
 * DeleteTopics v0–6: by name, and from v6 by topic id. A topic is gone for clients as soon as the
 * answer arrives (its logs are removed before it). A name or id given twice is INVALID_REQUEST.
 */
export const deleteTopicsHandler = defineHandler({
  apiKey: ApiKey.DeleteTopics,
  minVersion: 0,
  maxVersion: 6,
  async handle(request, context) {
    const version = context.header.apiVersion;
    const { metadata, logger } = context.broker;
    const entries = version >= 6 ? (request.topics ?? []) : (request.topicNames ?? []).map((name) => ({ name, topicId: ZERO_UUID }));
    const duplicateNames = duplicatesIn(entries.flatMap((entry) => (entry.name === null ? [] : [entry.name])));
    const duplicateIds = duplicatesIn(entries.flatMap((entry) => (entry.topicId === ZERO_UUID ? [] : [entry.topicId])));
    const results: DeleteTopicsResponseDeletableTopicResult[] = [];
    const result = (name: string | null, topicId: string, errorCode: number, errorMessage: string | null): void => {
      results.push({ name: name ?? (version >= 6 ? null : ''), topicId, errorCode, errorMessage });
    };
    for (const name of duplicateNames) result(name, ZERO_UUID, ErrorCode.INVALID_REQUEST, 'Duplicate topic name.');
    for (const topicId of duplicateIds) result(null, topicId, ErrorCode.INVALID_REQUEST, 'Duplicate topic id.');

    for (const { name, topicId } of entries) {
      if ((name !== null && duplicateNames.has(name)) || duplicateIds.has(topicId)) continue;
      if (name !== null && topicId !== ZERO_UUID) {
        result(name, topicId, ErrorCode.INVALID_REQUEST, 'You may not specify both topic name and topic id.');
        continue;
      }
      if (name === null && topicId === ZERO_UUID) {
        result(null, topicId, ErrorCode.INVALID_REQUEST, 'Neither topic name nor id were specified.');
        continue;
      }
      const topic = name === null ? metadata.topicById(topicId) : metadata.topic(name);
      if (topic === undefined) {
        if (name === null) result(null, topicId, ErrorCode.UNKNOWN_TOPIC_ID, 'This server does not host this topic ID.');
        else result(name, ZERO_UUID, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'This server does not host this topic-partition.');
        continue;
      }
      try {
        await metadata.deleteTopic(topic.name);
        result(topic.name, topic.topicId, ErrorCode.NONE, null);
      } catch (error) {
        const failure = adminFailure(error, logger, { api: 'DeleteTopics', topic: topic.name });
        result(topic.name, topic.topicId, failure.errorCode, failure.errorMessage);
      }
    }
    return { throttleTimeMs: 0, responses: results };
  },
});
