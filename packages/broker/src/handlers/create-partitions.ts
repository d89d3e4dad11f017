import { ApiKey, ErrorCode, type CreatePartitionsResponseCreatePartitionsTopicResult } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { KafkaError } from '../errors.js';
import { adminFailure, duplicatesIn } from '../metadata/admin-failure.js';
import { checkReplicaAssignment } from '../metadata/replica-assignment.js';

/**
 * CreatePartitions v0–3: grows topics to a new total (never shrinks). Assignments, when given,
 * must place every new partition on this node. A topic named twice is INVALID_REQUEST.
 */
export const createPartitionsHandler = defineHandler({
  apiKey: ApiKey.CreatePartitions,
  minVersion: 0,
  maxVersion: 3,
  async handle(request, context) {
    const { config, metadata, logger } = context.broker;
    const duplicates = duplicatesIn(request.topics.map((topic) => topic.name));
    const results: CreatePartitionsResponseCreatePartitionsTopicResult[] = [];
    for (const name of duplicates) results.push({ name, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Duplicate topic in request.' });
    for (const { name, count, assignments } of request.topics) {
      if (duplicates.has(name)) continue;
      try {
        const topic = metadata.topic(name);
        if (topic !== undefined && assignments !== null && count > topic.partitions) {
          const added = count - topic.partitions;
          if (assignments.length !== added) {
            throw new KafkaError(
              ErrorCode.INVALID_REPLICA_ASSIGNMENT,
              `Attempted to add ${added} additional partition(s), but only ${assignments.length} assignment(s) were specified.`,
            );
          }
          assignments.forEach(({ brokerIds }, index) => checkReplicaAssignment(topic.partitions + index, brokerIds, config.nodeId));
        }
        await metadata.createPartitions(name, count, { validateOnly: request.validateOnly });
        results.push({ name, errorCode: ErrorCode.NONE, errorMessage: null });
      } catch (error) {
        results.push({ name, ...adminFailure(error, logger, { api: 'CreatePartitions', topic: name }) });
      }
    }
    return { throttleTimeMs: 0, results };
  },
});
