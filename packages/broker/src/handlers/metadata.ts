import { validateTopicName } from '@defter/log';
import { ApiKey, ErrorCode, type MetadataRequestTopic, type MetadataResponseTopic } from '@defter/protocol';
import { defineHandler, type RequestContext } from '../api/handler.js';
import { adminFailure } from '../metadata/admin-failure.js';
import { AUTHORIZED_OPERATIONS_OMITTED, CLUSTER_OPERATIONS_ALL, TOPIC_OPERATIONS_ALL } from '../metadata/authorized-operations.js';
import type { TopicMetadata } from '../metadata/metadata-store.js';
import { ZERO_UUID } from '../metadata/uuid.js';

/**
 * Metadata v0–12: this node is the only broker, the controller and every partition's leader.
 * Topics: v0 `[]` = all; v1+ `null` = all, `[]` = none. Unknown topics are created when the broker
 * allows it (`auto.create.topics.enable`) and the request does (v4+; implied before), and are then
 * answered with their partitions at once: a created topic's logs already exist.
 */
export const metadataHandler = defineHandler({
  apiKey: ApiKey.Metadata,
  minVersion: 0,
  maxVersion: 12,
  async handle(request, context) {
    const version = context.header.apiVersion;
    const { config, metadata } = context.broker;
    const listener = context.broker.advertisedListener();
    const includeTopicOperations = version >= 8 && request.includeTopicAuthorizedOperations === true;
    const describe = (topic: TopicMetadata): MetadataResponseTopic => describeTopic(topic, config.nodeId, includeTopicOperations);

    const allTopics = request.topics === null || (version === 0 && request.topics.length === 0);
    const topics = allTopics ? metadata.topics().map(describe) : await requestedTopics(request.topics ?? [], version, request.allowAutoTopicCreation !== false, context, describe);
    return {
      throttleTimeMs: 0,
      brokers: [{ nodeId: config.nodeId, host: listener.host, port: listener.port, rack: null }],
      clusterId: metadata.clusterId,
      controllerId: config.nodeId,
      topics,
      // Asked for in v8–10 only (v11+ moved it to DescribeCluster).
      clusterAuthorizedOperations:
        version >= 8 && version <= 10 && request.includeClusterAuthorizedOperations === true ? CLUSTER_OPERATIONS_ALL : AUTHORIZED_OPERATIONS_OMITTED,
    };
  },
});

function describeTopic(topic: TopicMetadata, nodeId: number, includeOperations: boolean): MetadataResponseTopic {
  const partitions = Array.from({ length: topic.partitions }, (_, partitionIndex) => ({
    errorCode: ErrorCode.NONE,
    partitionIndex,
    leaderId: nodeId,
    leaderEpoch: 0,
    replicaNodes: [nodeId],
    isrNodes: [nodeId],
    offlineReplicas: [],
  }));
  return {
    errorCode: ErrorCode.NONE,
    name: topic.name,
    topicId: topic.topicId,
    isInternal: topic.internal,
    partitions,
    topicAuthorizedOperations: includeOperations ? TOPIC_OPERATIONS_ALL : AUTHORIZED_OPERATIONS_OMITTED,
  };
}

function topicError(errorCode: number, name: string | null, topicId: string, version: number): MetadataResponseTopic {
  return {
    errorCode,
    // The response's name is nullable only from v12 on.
    name: name ?? (version >= 12 ? null : ''),
    topicId,
    isInternal: false,
    partitions: [],
    topicAuthorizedOperations: AUTHORIZED_OPERATIONS_OMITTED,
  };
}

async function requestedTopics(
  requested: readonly MetadataRequestTopic[],
  version: number,
  requestAllowsAutoCreation: boolean,
  context: RequestContext,
  describe: (topic: TopicMetadata) => MetadataResponseTopic,
): Promise<MetadataResponseTopic[]> {
  const { metadata, logger } = context.broker;
  // v4+ says whether auto-creation is wanted; older clients always implied it.
  const autoCreate = version < 4 || requestAllowsAutoCreation;
  const answered = new Set<string>();
  const results: MetadataResponseTopic[] = [];
  for (const { name, topicId = ZERO_UUID } of requested) {
    if (name === null) {
      // By id (v10+): a topic id names one topic or none; ids are never created.
      if (answered.has(`id:${topicId}`)) continue;
      answered.add(`id:${topicId}`);
      const topic = topicId === ZERO_UUID ? undefined : metadata.topicById(topicId);
      results.push(topic === undefined ? topicError(ErrorCode.UNKNOWN_TOPIC_ID, null, topicId, version) : describe(topic));
      continue;
    }
    if (answered.has(name)) continue;
    answered.add(name);
    const known = metadata.topic(name);
    if (known !== undefined) {
      results.push(describe(known));
      continue;
    }
    try {
      validateTopicName(name);
      if (!autoCreate) {
        results.push(topicError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name, ZERO_UUID, version));
        continue;
      }
      results.push(describe(await metadata.autoCreateTopic(name)));
    } catch (error) {
      results.push(topicError(adminFailure(error, logger, { api: 'Metadata', topic: name }).errorCode, name, ZERO_UUID, version));
    }
  }
  return results;
}
