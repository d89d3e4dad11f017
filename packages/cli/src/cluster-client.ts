import { ApiKey, ErrorCode, type MetadataResponse, type MetadataResponseTopic } from '@defter/protocol';
import { KafkaConnection, KafkaProtocolError, parseHostPort } from './kafka-connection.js';
import type { RequestTransport } from './request-transport.js';
import { unknownTopicMessage } from './suggest.js';

/**
 * The raw-protocol side of the CLI: a bootstrap connection for Metadata, one connection per
 * partition leader for ListOffsets and Fetch, opened on first use. `inProcess` serves the same
 * requests from a broker of this process (every leader is that broker).
 */

/** Version ranges this client encodes: within the generated codecs, below the topic-id-only Fetch v13. */
export const CLIENT_VERSIONS = {
  metadata: { min: 1, max: 12 },
  listOffsets: { min: 1, max: 7 },
  fetch: { min: 4, max: 12 },
  incrementalAlterConfigs: { min: 0, max: 1 },
} as const;

/** ListOffsets' special timestamps. */
export const LATEST_TIMESTAMP = -1n;
export const EARLIEST_TIMESTAMP = -2n;

export interface PartitionInfo {
  readonly partition: number;
  readonly leaderId: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
}

export interface TopicInfo {
  readonly name: string;
  readonly topicId: string | undefined;
  readonly internal: boolean;
  readonly partitions: readonly PartitionInfo[];
}

export interface PartitionOffsets {
  readonly partition: number;
  readonly earliest: bigint;
  readonly latest: bigint;
}

/** ListOffsets' isolation levels: up to the high watermark, or up to the last stable offset. */
export const READ_UNCOMMITTED = 0;
export const READ_COMMITTED = 1;

type OpenLeader<Transport> = (leaderId: number, address: { host: string; port: number } | undefined) => Promise<Transport>;

export class ClusterClient<Transport extends RequestTransport = KafkaConnection> {
  private readonly leaders = new Map<number, Promise<Transport>>();
  private brokers = new Map<number, { host: string; port: number }>();

  private constructor(
    readonly bootstrap: Transport,
    private readonly openLeader: OpenLeader<Transport>,
  ) {}

  /** Connects to `host:port` and negotiates API versions. */
  static async connect(bootstrapServer: string): Promise<ClusterClient> {
    const connection = await KafkaConnection.connect(parseHostPort(bootstrapServer));
    try {
      await connection.negotiateVersions();
    } catch (error) {
      await connection.close();
      throw error;
    }
    return new ClusterClient(connection, async (leaderId, address) => {
      if (address === undefined) throw new Error(`the cluster's metadata names no broker ${leaderId} (the partition has no leader)`);
      const leader = await KafkaConnection.connect(address);
      await leader.negotiateVersions();
      return leader;
    });
  }

  /** A client of a broker in this process, through `transport`: it leads every partition. */
  static inProcess(transport: RequestTransport): ClusterClient<RequestTransport> {
    return new ClusterClient(transport, async () => transport);
  }

  /** Metadata for the named topics, or for every topic when `topics` is null. Never auto-creates. */
  async metadata(topics: readonly string[] | null): Promise<MetadataResponse> {
    const version = this.bootstrap.versionFor(ApiKey.Metadata, CLIENT_VERSIONS.metadata.min, CLIENT_VERSIONS.metadata.max);
    const response = await this.bootstrap.send(ApiKey.Metadata, version, {
      topics: topics === null ? null : topics.map((name) => ({ name })),
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    this.brokers = new Map(response.brokers.map((broker) => [broker.nodeId, { host: broker.host, port: broker.port }]));
    return response;
  }

  /** The names of every topic, sorted. */
  async topicNames(): Promise<string[]> {
    const response = await this.metadata(null);
    return response.topics.map((topic) => topic.name ?? '').filter((name) => name.length > 0).sort();
  }

  /**
   * One topic's partitions; an unknown topic is an error that suggests the nearest existing name.
   */
  async topic(name: string): Promise<TopicInfo> {
    const response = await this.metadata([name]);
    const found = response.topics.find((topic) => topic.name === name);
    if (found === undefined || found.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) {
      throw new Error(unknownTopicMessage(name, await this.topicNames()));
    }
    if (found.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(found.errorCode, `metadata for topic '${name}'`);
    return topicInfo(found);
  }

  /** The connection to a partition's leader (the bootstrap broker's address space). */
  leaderConnection(leaderId: number): Promise<Transport> {
    const existing = this.leaders.get(leaderId);
    if (existing !== undefined) return existing;
    const opening = this.openLeader(leaderId, this.brokers.get(leaderId));
    this.leaders.set(leaderId, opening);
    opening.catch(() => this.leaders.delete(leaderId));
    return opening;
  }

  /** The offset at `timestamp` (or EARLIEST/LATEST) of each partition, asking each leader. */
  async listOffsets(topic: TopicInfo, partitions: readonly number[], timestamp: bigint, isolationLevel = READ_UNCOMMITTED): Promise<Map<number, bigint>> {
    const byLeader = new Map<number, number[]>();
    for (const partition of partitions) {
      const info = topic.partitions.find((candidate) => candidate.partition === partition);
      if (info === undefined) throw new Error(`topic '${topic.name}' has no partition ${partition} (it has ${topic.partitions.length})`);
      byLeader.set(info.leaderId, [...(byLeader.get(info.leaderId) ?? []), partition]);
    }
    const offsets = new Map<number, bigint>();
    for (const [leaderId, leaderPartitions] of byLeader) {
      const connection = await this.leaderConnection(leaderId);
      const version = connection.versionFor(ApiKey.ListOffsets, CLIENT_VERSIONS.listOffsets.min, CLIENT_VERSIONS.listOffsets.max);
      const response = await connection.send(ApiKey.ListOffsets, version, {
        replicaId: -1,
        isolationLevel,
        topics: [{ name: topic.name, partitions: leaderPartitions.map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp })) }],
      });
      for (const topicResponse of response.topics) {
        for (const partition of topicResponse.partitions) {
          if (partition.errorCode !== ErrorCode.NONE) {
            throw new KafkaProtocolError(partition.errorCode, `offsets of ${topic.name}-${partition.partitionIndex}`);
          }
          offsets.set(partition.partitionIndex, partition.offset ?? -1n);
        }
      }
    }
    return offsets;
  }

  /** Earliest (log start) and latest (high watermark) offsets of the given partitions. */
  async partitionOffsets(topic: TopicInfo, partitions: readonly number[] = topic.partitions.map((p) => p.partition)): Promise<PartitionOffsets[]> {
    const earliest = await this.listOffsets(topic, partitions, EARLIEST_TIMESTAMP);
    const latest = await this.listOffsets(topic, partitions, LATEST_TIMESTAMP);
    return partitions.map((partition) => ({ partition, earliest: earliest.get(partition) ?? -1n, latest: latest.get(partition) ?? -1n }));
  }

  async close(): Promise<void> {
    const leaders = [...this.leaders.values()];
    this.leaders.clear();
    await Promise.allSettled(
      leaders.map(async (opening) => {
        const leader = await opening;
        if (leader !== this.bootstrap) await leader.close();
      }),
    );
    await this.bootstrap.close();
  }
}

function topicInfo(topic: MetadataResponseTopic): TopicInfo {
  return {
    name: topic.name ?? '',
    topicId: topic.topicId,
    internal: topic.isInternal ?? false,
    partitions: [...topic.partitions]
      .sort((a, b) => a.partitionIndex - b.partitionIndex)
      .map((partition) => ({ partition: partition.partitionIndex, leaderId: partition.leaderId, replicas: partition.replicaNodes, isr: partition.isrNodes })),
  };
}
