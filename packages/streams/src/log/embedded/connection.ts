import { ApiKey, ErrorCode } from '@defter/protocol';
import type { InProcessClient } from '@defter/broker';
import type { NewTopic } from '../stream-log.js';
import { EmbeddedLogError } from './log-errors.js';
import type { ProtocolVersions } from './protocol-versions.js';

/** The in-process client and the versions negotiated for it: what every part of the embedded log talks through. */
export interface BrokerConnection {
  readonly client: InProcessClient;
  readonly versions: ProtocolVersions;
}

export interface TopicDescription {
  readonly name: string;
  readonly topicId: string;
  readonly partitions: number;
  readonly internal: boolean;
}

/** The named topics as Metadata describes them (never auto-created); a missing topic is a clear error. */
export async function describeTopics(connection: BrokerConnection, names: readonly string[]): Promise<TopicDescription[]> {
  const response = await connection.client.send(ApiKey.Metadata, connection.versions.metadata, {
    topics: names.map((name) => ({ name })),
    allowAutoTopicCreation: false,
    includeTopicAuthorizedOperations: false,
  });
  return names.map((name) => {
    const topic = response.topics.find((entry) => entry.name === name);
    if (topic === undefined || topic.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) throw new Error(`topic "${name}" does not exist`);
    if (topic.errorCode !== ErrorCode.NONE) throw new EmbeddedLogError(topic.errorCode, `describing topic "${name}"`);
    return { name, topicId: topic.topicId ?? '', partitions: topic.partitions.length, internal: topic.isInternal === true };
  });
}

/** Every topic's name and whether it is internal. */
export async function listTopics(connection: BrokerConnection): Promise<TopicDescription[]> {
  const response = await connection.client.send(ApiKey.Metadata, connection.versions.metadata, { topics: null, allowAutoTopicCreation: false });
  return response.topics.map((topic) => ({
    name: topic.name ?? '',
    topicId: topic.topicId ?? '',
    partitions: topic.partitions.length,
    internal: topic.isInternal === true,
  }));
}

/** Creates the topics that do not exist; TOPIC_ALREADY_EXISTS leaves a topic as it is. */
export async function createTopics(connection: BrokerConnection, topics: readonly NewTopic[]): Promise<void> {
  if (topics.length === 0) return;
  const response = await connection.client.send(ApiKey.CreateTopics, connection.versions.createTopics, {
    timeoutMs: 30_000,
    validateOnly: false,
    topics: topics.map((topic) => ({
      name: topic.name,
      numPartitions: topic.partitions,
      replicationFactor: -1,
      assignments: [],
      configs: Object.entries(topic.configs ?? {}).map(([name, value]) => ({ name, value })),
    })),
  });
  for (const result of response.topics) {
    if (result.errorCode === ErrorCode.NONE || result.errorCode === ErrorCode.TOPIC_ALREADY_EXISTS) continue;
    throw new EmbeddedLogError(result.errorCode, `creating topic "${result.name}"`, result.errorMessage ?? undefined);
  }
}
