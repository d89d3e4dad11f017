import { validateTopicName } from '@defter/log';
import { ApiKey, ErrorCode, type CreateTopicsRequestCreatableTopic, type CreateTopicsResponseCreatableTopicResult } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import type { BrokerConfig } from '../config.js';
import { KafkaError } from '../errors.js';
import { adminFailure, duplicatesIn } from '../metadata/admin-failure.js';
import { checkReplicaAssignment } from '../metadata/replica-assignment.js';
import { configPairsToMap, describeTopicConfigs } from '../metadata/topic-configs.js';
import { ZERO_UUID } from '../metadata/uuid.js';

/** The only replication factor one node can give. */
const REPLICATION_FACTOR = 1;

/**
 * CreateTopics v0–7. `numPartitions`/`replicationFactor` -1 take the broker defaults; a manual
 * assignment is accepted when it places every partition on this node only. Each topic succeeds
 * or fails on its own; a topic named twice in one request fails as INVALID_REQUEST (Kafka's rule).
 */
export const createTopicsHandler = defineHandler({
  apiKey: ApiKey.CreateTopics,
  minVersion: 0,
  maxVersion: 7,
  async handle(request, context) {
    const { config, metadata, logger } = context.broker;
    const validateOnly = context.header.apiVersion >= 1 && request.validateOnly === true;
    const duplicates = duplicatesIn(request.topics.map((topic) => topic.name));
    const results: CreateTopicsResponseCreatableTopicResult[] = [];
    for (const name of duplicates) {
      results.push(failed(name, ErrorCode.INVALID_REQUEST, 'Found multiple entries for this topic in the request.'));
    }
    for (const topic of request.topics) {
      if (duplicates.has(topic.name)) continue;
      try {
        validateTopicName(topic.name);
        const partitions = partitionsToCreate(topic, config);
        const configs = Object.fromEntries(configPairsToMap(topic.configs));
        const created = await metadata.createTopic(topic.name, partitions, configs, { validateOnly });
        results.push({
          name: created.name,
          topicId: created.topicId,
          errorCode: ErrorCode.NONE,
          errorMessage: null,
          topicConfigErrorCode: ErrorCode.NONE,
          numPartitions: created.partitions,
          replicationFactor: REPLICATION_FACTOR,
          configs: describeTopicConfigs(created.configs, config.log).map((entry) => ({
            name: entry.name,
            value: entry.value,
            readOnly: entry.readOnly,
            configSource: entry.source,
            isSensitive: false,
          })),
        });
      } catch (error) {
        const { errorCode, errorMessage } = adminFailure(error, logger, { api: 'CreateTopics', topic: topic.name });
        results.push(failed(topic.name, errorCode, errorMessage));
      }
    }
    return { throttleTimeMs: 0, topics: results };
  },
});

function failed(name: string, errorCode: number, errorMessage: string | null): CreateTopicsResponseCreatableTopicResult {
  return { name, topicId: ZERO_UUID, errorCode, errorMessage, topicConfigErrorCode: ErrorCode.NONE, numPartitions: -1, replicationFactor: -1, configs: [] };
}

/** The partition count a CreateTopics entry asks for, checked against what one node can host. */
function partitionsToCreate(topic: CreateTopicsRequestCreatableTopic, config: BrokerConfig): number {
  const { numPartitions, replicationFactor, assignments } = topic;
  if (assignments.length > 0) {
    if (numPartitions !== -1 || replicationFactor !== -1) {
      throw new KafkaError(ErrorCode.INVALID_REQUEST, 'Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.');
    }
    const indexes = assignments.map((assignment) => assignment.partitionIndex).sort((a, b) => a - b);
    if (indexes.some((index, position) => index !== position)) {
      throw new KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, 'Partitions should be numbered consecutively starting from 0, each once.');
    }
    for (const { partitionIndex, brokerIds } of assignments) checkReplicaAssignment(partitionIndex, brokerIds, config.nodeId);
    return assignments.length;
  }
  const partitions = numPartitions === -1 ? config.numPartitions : numPartitions;
  if (partitions <= 0) throw new KafkaError(ErrorCode.INVALID_PARTITIONS, `Number of partitions was set to an invalid non-positive value: ${numPartitions}.`);
  const factor = replicationFactor === -1 ? config.defaultReplicationFactor : replicationFactor;
  if (factor <= 0) {
    throw new KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR, 'Replication factor must be larger than 0, or -1 to use the default value.');
  }
  if (factor > REPLICATION_FACTOR) {
    throw new KafkaError(
      ErrorCode.INVALID_REPLICATION_FACTOR,
      `Unable to replicate the partition ${factor} time(s): The target replication factor of ${factor} cannot be reached because only ${REPLICATION_FACTOR} broker(s) are registered.`,
    );
  }
  return partitions;
}
