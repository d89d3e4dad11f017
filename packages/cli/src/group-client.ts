import { ApiKey, ConsumerProtocolAssignmentSchema, DecodeError, ErrorCode, decodeVersionedData } from '@defter/protocol';
import type { ClusterClient } from './cluster-client.js';
import { KafkaProtocolError, type KafkaConnection } from './kafka-connection.js';
import { CoordinatorKeyType, findCoordinator } from './find-coordinator.js';

/**
 * The consumer-group side of the CLI over the raw protocol: find a group's coordinator, list,
 * describe and delete groups, read committed offsets and commit new ones the way
 * kafka-consumer-groups does (a "simple" commit: generation -1, no member id, so only an empty group
 * accepts it).
 */

/** Version ranges this client encodes (below the batched FindCoordinator v4 and OffsetFetch v8). */
export const GROUP_CLIENT_VERSIONS = {
  listGroups: { min: 0, max: 4 },
  describeGroups: { min: 0, max: 5 },
  offsetFetch: { min: 2, max: 7 },
  offsetCommit: { min: 2, max: 8 },
  deleteGroups: { min: 0, max: 2 },
} as const;


export interface GroupListing {
  readonly groupId: string;
  /** `consumer` for Kafka consumers, `connect` for Connect workers, '' for offsets-only groups. */
  readonly protocolType: string;
  /** Known from ListGroups v4+; otherwise undefined. */
  readonly state: string | undefined;
}

export interface TopicPartitions {
  readonly topic: string;
  readonly partitions: readonly number[];
}

export interface GroupMember {
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  /** The member's partitions, decoded from its consumer-protocol assignment (empty for other protocols). */
  readonly assignment: readonly TopicPartitions[];
}

export interface GroupDescription {
  readonly groupId: string;
  readonly state: string;
  readonly protocolType: string;
  /** The chosen assignor (`range`, `roundrobin`, `cooperative-sticky` …); '' outside Stable. */
  readonly protocol: string;
  readonly members: readonly GroupMember[];
}

export interface GroupOffset {
  readonly topic: string;
  readonly partition: number;
  /** -1n: nothing committed. */
  readonly offset: bigint;
  readonly metadata: string | null;
}

/**
 * Decodes a member's assignment as the consumer protocol carries it (ConsumerProtocolAssignment:
 * an int16 version, then the struct at that version; newer versions only append fields, which are
 * ignored). Only the partitions are kept, sorted. Empty bytes are "no partitions" (some clients
 * send them). Throws only `DecodeError`.
 */
export function decodeConsumerAssignment(bytes: Buffer): TopicPartitions[] {
  if (bytes.length === 0) return [];
  const { data } = decodeVersionedData(ConsumerProtocolAssignmentSchema, bytes);
  return data.assignedPartitions.map(({ topic, partitions }) => ({ topic, partitions: partitions.sort((a, b) => a - b) }));
}

export class GroupClient {
  constructor(private readonly cluster: ClusterClient) {}

  /** Every group of every broker in the cluster, sorted by id. */
  async listGroups(): Promise<GroupListing[]> {
    const metadata = await this.cluster.metadata([]);
    const listings = new Map<string, GroupListing>();
    for (const broker of metadata.brokers) {
      const connection = await this.cluster.leaderConnection(broker.nodeId);
      const version = connection.versionFor(ApiKey.ListGroups, GROUP_CLIENT_VERSIONS.listGroups.min, GROUP_CLIENT_VERSIONS.listGroups.max);
      const response = await connection.send(ApiKey.ListGroups, version, { statesFilter: [], typesFilter: [] });
      if (response.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(response.errorCode, `listing the groups of broker ${broker.nodeId}`);
      for (const group of response.groups) {
        listings.set(group.groupId, { groupId: group.groupId, protocolType: group.protocolType, state: group.groupState });
      }
    }
    return [...listings.values()].sort((a, b) => a.groupId.localeCompare(b.groupId));
  }

  /** The connection to the group's coordinator; retries while the coordinator is loading or moving. */
  async coordinator(groupId: string): Promise<KafkaConnection> {
    return findCoordinator(this.cluster, groupId, CoordinatorKeyType.GROUP);
  }


  async describeGroup(groupId: string): Promise<GroupDescription> {
    const connection = await this.coordinator(groupId);
    const version = connection.versionFor(ApiKey.DescribeGroups, GROUP_CLIENT_VERSIONS.describeGroups.min, GROUP_CLIENT_VERSIONS.describeGroups.max);
    const response = await connection.send(ApiKey.DescribeGroups, version, { groups: [groupId], includeAuthorizedOperations: false });
    const group = response.groups.find((candidate) => candidate.groupId === groupId);
    if (group === undefined) throw new Error(`the broker did not describe group '${groupId}'`);
    if (group.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(group.errorCode, `describing group '${groupId}'`);
    const isConsumer = group.protocolType === 'consumer';
    return {
      groupId,
      state: group.groupState,
      protocolType: group.protocolType,
      protocol: group.protocolData,
      members: group.members.map((member) => ({
        memberId: member.memberId,
        groupInstanceId: member.groupInstanceId ?? null,
        clientId: member.clientId,
        clientHost: member.clientHost,
        assignment: isConsumer ? decodeAssignmentOf(member.memberAssignment, member.memberId) : [],
      })),
    };
  }

  /** The group's committed offsets: of every partition it has committed when `topics` is null. */
  async committedOffsets(groupId: string, topics: readonly TopicPartitions[] | null = null): Promise<GroupOffset[]> {
    const connection = await this.coordinator(groupId);
    const version = connection.versionFor(ApiKey.OffsetFetch, GROUP_CLIENT_VERSIONS.offsetFetch.min, GROUP_CLIENT_VERSIONS.offsetFetch.max);
    const response = await connection.send(ApiKey.OffsetFetch, version, {
      groupId,
      topics: topics === null ? null : topics.map(({ topic, partitions }) => ({ name: topic, partitionIndexes: [...partitions] })),
      requireStable: false,
    });
    const topLevelError = response.errorCode ?? ErrorCode.NONE;
    if (topLevelError !== ErrorCode.NONE) throw new KafkaProtocolError(topLevelError, `fetching the offsets of group '${groupId}'`);
    const offsets: GroupOffset[] = [];
    for (const topic of response.topics ?? []) {
      for (const partition of topic.partitions) {
        if (partition.errorCode !== ErrorCode.NONE) {
          throw new KafkaProtocolError(partition.errorCode, `the committed offset of ${topic.name}-${partition.partitionIndex} for group '${groupId}'`);
        }
        offsets.push({ topic: topic.name, partition: partition.partitionIndex, offset: partition.committedOffset, metadata: partition.metadata });
      }
    }
    return offsets.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  }

  /**
   * Commits `offsets` outside any generation (generation -1, no member id), as admin tools do: the
   * coordinator accepts it only while the group has no members.
   */
  async commitOffsets(groupId: string, offsets: ReadonlyArray<{ topic: string; partition: number; offset: bigint }>): Promise<void> {
    const connection = await this.coordinator(groupId);
    const version = connection.versionFor(ApiKey.OffsetCommit, GROUP_CLIENT_VERSIONS.offsetCommit.min, GROUP_CLIENT_VERSIONS.offsetCommit.max);
    const byTopic = new Map<string, Array<{ partition: number; offset: bigint }>>();
    for (const entry of offsets) byTopic.set(entry.topic, [...(byTopic.get(entry.topic) ?? []), entry]);
    const response = await connection.send(ApiKey.OffsetCommit, version, {
      groupId,
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      retentionTimeMs: -1n,
      topics: [...byTopic].map(([name, partitions]) => ({
        name,
        partitions: partitions.map(({ partition, offset }) => ({
          partitionIndex: partition,
          committedOffset: offset,
          committedLeaderEpoch: -1,
          committedMetadata: '',
        })),
      })),
    });
    for (const topic of response.topics) {
      for (const partition of topic.partitions) {
        if (partition.errorCode !== ErrorCode.NONE) {
          throw new KafkaProtocolError(partition.errorCode, `committing the offset of ${topic.name}-${partition.partitionIndex} for group '${groupId}'`);
        }
      }
    }
  }

  /** Deletes a group and its committed offsets; throws KafkaProtocolError (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND …). */
  async deleteGroup(groupId: string): Promise<void> {
    const connection = await this.coordinator(groupId);
    const version = connection.versionFor(ApiKey.DeleteGroups, GROUP_CLIENT_VERSIONS.deleteGroups.min, GROUP_CLIENT_VERSIONS.deleteGroups.max);
    const response = await connection.send(ApiKey.DeleteGroups, version, { groupsNames: [groupId] });
    const result = response.results.find((candidate) => candidate.groupId === groupId);
    if (result === undefined) throw new Error(`the broker did not answer for group '${groupId}'`);
    if (result.errorCode !== ErrorCode.NONE) throw new KafkaProtocolError(result.errorCode, `deleting group '${groupId}'`);
  }
}

function decodeAssignmentOf(bytes: Buffer, memberId: string): TopicPartitions[] {
  try {
    return decodeConsumerAssignment(bytes);
  } catch (error) {
    if (error instanceof DecodeError) throw new Error(`member ${memberId} has an assignment that is not a consumer-protocol assignment (${error.message})`);
    throw error;
  }
}
