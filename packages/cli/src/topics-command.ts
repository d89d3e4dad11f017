import kafkajs, { type Admin } from 'kafkajs';
import { ApiKey, ErrorCode } from '@defter/protocol';
import { CLIENT_VERSIONS, ClusterClient } from './cluster-client.js';
import type { CliIo } from './io.js';
import { KafkaProtocolError } from './kafka-connection.js';
import { describeClientError, withAdmin } from './kafkajs-client.js';
import { unknownTopicMessage } from './suggest.js';

/**
 * `defter topics list|create|describe|delete|alter`: the admin side, over kafkajs's admin client
 * (and IncrementalAlterConfigs over the raw protocol, which kafkajs 2.2.4 lacks, so that `alter`
 * changes only the named settings instead of replacing the topic's whole configuration).
 */

export interface TopicsContext {
  bootstrapServer: string;
  io: CliIo;
}

/** Parses repeated `k=v` options into config entries; a missing `=` is a usage error. */
export function parseConfigPairs(pairs: readonly string[], option: string): Array<{ name: string; value: string }> {
  return pairs.map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`${option} expects key=value, got '${pair}'`);
    return { name: pair.slice(0, at).trim(), value: pair.slice(at + 1) };
  });
}

async function adminCall<T>(context: TopicsContext, work: (admin: Admin) => Promise<T>): Promise<T> {
  try {
    return await withAdmin(context.bootstrapServer, work);
  } catch (error) {
    if (error instanceof TopicsCommandError) throw error;
    throw new Error(describeClientError(error, context.bootstrapServer));
  }
}

/** A failure already phrased for the user, passed through the kafkajs error translation untouched. */
class TopicsCommandError extends Error {}

async function requireTopic(admin: Admin, topic: string): Promise<void> {
  const topics = await admin.listTopics();
  if (!topics.includes(topic)) throw new TopicsCommandError(unknownTopicMessage(topic, topics));
}

export async function listTopics(context: TopicsContext): Promise<void> {
  const topics = await adminCall(context, (admin) => admin.listTopics());
  for (const topic of [...topics].sort()) context.io.out(topic);
}

export interface CreateTopicOptions {
  partitions?: number;
  replicationFactor?: number;
  config: readonly string[];
}

export async function createTopic(context: TopicsContext, topic: string, options: CreateTopicOptions): Promise<void> {
  const configEntries = parseConfigPairs(options.config, '--config');
  const created = await adminCall(context, async (admin) => {
    const ok = await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          ...(options.partitions === undefined ? {} : { numPartitions: options.partitions }),
          ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }),
          configEntries,
        },
      ],
    });
    if (!ok) throw new TopicsCommandError(`topic '${topic}' already exists.`);
    return (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0];
  });
  context.io.out(`Created topic ${topic} with ${created?.partitions.length ?? options.partitions ?? '?'} partition(s).`);
}

export async function deleteTopic(context: TopicsContext, topic: string): Promise<void> {
  await adminCall(context, async (admin) => {
    await requireTopic(admin, topic);
    await admin.deleteTopics({ topics: [topic] });
  });
  context.io.out(`Deleted topic ${topic}.`);
}

export interface DescribeTopicOptions {
  /** Every config with its value, not only the topic's own overrides. */
  allConfigs: boolean;
}

export async function describeTopic(context: TopicsContext, topic: string, options: DescribeTopicOptions): Promise<void> {
  const { metadata, offsets, configs } = await adminCall(context, async (admin) => {
    await requireTopic(admin, topic);
    const metadata = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]!;
    const offsets = await admin.fetchTopicOffsets(topic);
    const described = await admin.describeConfigs({ resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic }], includeSynonyms: false });
    const resource = described.resources[0];
    if (resource !== undefined && resource.errorCode !== 0) throw new KafkaProtocolError(resource.errorCode, `configs of topic '${topic}'`, resource.errorMessage);
    return { metadata, offsets, configs: resource?.configEntries ?? [] };
  });
  const partitions = [...metadata.partitions].sort((a, b) => a.partitionId - b.partitionId);
  const replicationFactor = partitions[0]?.replicas.length ?? 0;
  const io = context.io;
  io.out(`Topic: ${topic}\tPartitionCount: ${partitions.length}\tReplicationFactor: ${replicationFactor}`);
  for (const partition of partitions) {
    const range = offsets.find((entry) => entry.partition === partition.partitionId);
    io.out(
      `\tPartition: ${partition.partitionId}\tLeader: ${partition.leader}\tReplicas: ${partition.replicas.join(',')}\tIsr: ${partition.isr.join(',')}` +
        `\tEarliest: ${range?.low ?? '?'}\tLatest: ${range?.high ?? '?'}`,
    );
  }
  const shown = [...configs].filter((entry) => options.allConfigs || !entry.isDefault).sort((a, b) => a.configName.localeCompare(b.configName));
  io.out(options.allConfigs ? 'Configs:' : shown.length === 0 ? 'Configs: (no overrides; --all-configs lists every value)' : 'Configs (overrides):');
  for (const entry of shown) io.out(`\t${entry.configName}=${entry.isSensitive ? '(sensitive)' : entry.configValue}`);
}

export interface AlterTopicOptions {
  config: readonly string[];
  deleteConfig: readonly string[];
  partitions?: number;
}

const CONFIG_OPERATION_SET = 0;
const CONFIG_OPERATION_DELETE = 1;
const RESOURCE_TYPE_TOPIC = 2;

export async function alterTopic(context: TopicsContext, topic: string, options: AlterTopicOptions): Promise<void> {
  const sets = parseConfigPairs(options.config, '--config');
  if (sets.length === 0 && options.deleteConfig.length === 0 && options.partitions === undefined) {
    throw new Error('nothing to alter: give --config key=value, --delete-config key or --partitions N');
  }
  if (options.partitions !== undefined) {
    const count = options.partitions;
    await adminCall(context, async (admin) => {
      await requireTopic(admin, topic);
      await admin.createPartitions({ topicPartitions: [{ topic, count }] });
    });
    context.io.out(`Topic ${topic} now has ${count} partitions.`);
  }
  if (sets.length === 0 && options.deleteConfig.length === 0) return;
  const client = await ClusterClient.connect(context.bootstrapServer);
  try {
    const existing = await client.topicNames();
    if (!existing.includes(topic)) throw new Error(unknownTopicMessage(topic, existing));
    const connection = client.bootstrap;
    const version = connection.versionFor(ApiKey.IncrementalAlterConfigs, CLIENT_VERSIONS.incrementalAlterConfigs.min, CLIENT_VERSIONS.incrementalAlterConfigs.max);
    const response = await connection.send(ApiKey.IncrementalAlterConfigs, version, {
      validateOnly: false,
      resources: [
        {
          resourceType: RESOURCE_TYPE_TOPIC,
          resourceName: topic,
          configs: [
            ...sets.map(({ name, value }) => ({ name, configOperation: CONFIG_OPERATION_SET, value })),
            ...options.deleteConfig.map((name) => ({ name: name.trim(), configOperation: CONFIG_OPERATION_DELETE, value: null })),
          ],
        },
      ],
    });
    for (const result of response.responses) {
      if (result.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(result.errorCode, `altering topic '${topic}'`, result.errorMessage);
    }
  } finally {
    await client.close();
  }
  const changes = [...sets.map(({ name, value }) => `${name}=${value}`), ...options.deleteConfig.map((name) => `${name} (deleted)`)];
  context.io.out(`Altered topic ${topic}: ${changes.join(', ')}.`);
}
