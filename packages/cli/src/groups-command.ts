import { ErrorCode } from '@defter/protocol';
import { ClusterClient, type TopicInfo } from './cluster-client.js';
import { GroupClient, type GroupDescription, type GroupListing, type GroupOffset } from './group-client.js';
import type { CliIo } from './io.js';
import { KafkaProtocolError } from './kafka-connection.js';
import { nearest } from './suggest.js';

/**
 * `defter groups list|describe|delete|reset-offsets`: consumer groups seen from outside, with the
 * lag of each partition (log end offset minus committed offset) as the figure anyone can read.
 */

export interface GroupsContext {
  bootstrapServer: string;
  io: CliIo;
}

/** Group states in which nobody consumes, so offsets may be changed under the group. */
const INACTIVE_STATES: ReadonlySet<string> = new Set(['Empty', 'Dead']);

/** Where `reset-offsets` moves each partition. */
export type OffsetResetTarget =
  | { readonly kind: 'earliest' }
  | { readonly kind: 'latest' }
  | { readonly kind: 'datetime'; readonly timestampMs: bigint }
  | { readonly kind: 'offset'; readonly offset: bigint }
  | { readonly kind: 'shift'; readonly by: bigint };

/** What is known of one partition before a reset. */
export interface PartitionPosition {
  readonly topic: string;
  readonly partition: number;
  /** -1n: nothing committed. */
  readonly committed: bigint;
  /** Log start offset. */
  readonly earliest: bigint;
  /** High watermark. */
  readonly latest: bigint;
  /** The first offset at or after the target timestamp, -1n when none (only for `datetime`). */
  readonly atTimestamp?: bigint;
}

export interface PlannedReset {
  readonly topic: string;
  readonly partition: number;
  readonly committed: bigint;
  readonly target: bigint;
}

/**
 * The new offset of each partition, as kafka-consumer-groups computes it: explicit offsets and
 * shifts are clamped into the log's range [earliest, latest]; a timestamp after the last record
 * means the end of the log. Shifting a partition with no committed offset is an error.
 */
export function planOffsetReset(target: OffsetResetTarget, positions: readonly PartitionPosition[]): PlannedReset[] {
  return positions.map((position) => {
    const clamp = (offset: bigint) => (offset < position.earliest ? position.earliest : offset > position.latest ? position.latest : offset);
    let offset: bigint;
    switch (target.kind) {
      case 'earliest':
        offset = position.earliest;
        break;
      case 'latest':
        offset = position.latest;
        break;
      case 'offset':
        offset = clamp(target.offset);
        break;
      case 'shift':
        if (position.committed < 0n) {
          throw new Error(`cannot shift ${position.topic}-${position.partition}: the group has no committed offset there (use --to-offset, --to-earliest or --to-latest)`);
        }
        offset = clamp(position.committed + target.by);
        break;
      case 'datetime': {
        const found = position.atTimestamp ?? -1n;
        offset = found < 0n ? position.latest : clamp(found);
        break;
      }
    }
    return { topic: position.topic, partition: position.partition, committed: position.committed, target: offset };
  });
}

/** `orders` (every partition) or Kafka's `orders:0,2` (those partitions). */
export function parseTopicSelection(text: string): { topic: string; partitions: number[] | undefined } {
  const at = text.lastIndexOf(':');
  if (at < 0) return { topic: text.trim(), partitions: undefined };
  const topic = text.slice(0, at).trim();
  const list = text.slice(at + 1).trim();
  if (topic === '' || !/^\d+(,\d+)*$/.test(list)) throw new Error(`--topic expects TOPIC or TOPIC:P1,P2,…, got '${text}'`);
  return { topic, partitions: [...new Set(list.split(',').map(Number))].sort((a, b) => a - b) };
}

/** Milliseconds since the epoch of an ISO-8601 date-time (without a zone: local time, as Kafka's tool). */
export function parseDateTime(text: string): bigint {
  const trimmed = text.trim();
  const ms = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (Number.isNaN(ms)) throw new Error(`'${text}' is not a date-time: expected ISO 8601, e.g. 2024-05-01T12:00:00Z`);
  return BigInt(ms);
}

/** One sentence for a group that does not exist, with the nearest existing id when there is one. */
export function unknownGroupMessage(groupId: string, existing: readonly string[]): string {
  const suggestion = nearest(groupId, existing);
  if (suggestion !== undefined) return `group '${groupId}' does not exist. Did you mean '${suggestion}'?`;
  if (existing.length === 0) return `group '${groupId}' does not exist (the cluster has no groups).`;
  return `group '${groupId}' does not exist.`;
}

async function withGroupClient<T>(context: GroupsContext, work: (groups: GroupClient, cluster: ClusterClient) => Promise<T>): Promise<T> {
  const cluster = await ClusterClient.connect(context.bootstrapServer);
  try {
    return await work(new GroupClient(cluster), cluster);
  } finally {
    await cluster.close();
  }
}

async function requireGroup(groups: GroupClient, groupId: string): Promise<GroupListing> {
  const listings = await groups.listGroups();
  const found = listings.find((listing) => listing.groupId === groupId);
  if (found === undefined) throw new Error(unknownGroupMessage(groupId, listings.map((listing) => listing.groupId)));
  return found;
}

export async function listGroups(context: GroupsContext, options: { state: boolean }): Promise<void> {
  await withGroupClient(context, async (groups) => {
    const listings = await groups.listGroups();
    if (!options.state) {
      for (const listing of listings) context.io.out(listing.groupId);
      return;
    }
    context.io.out('GROUP\tSTATE\tPROTOCOL-TYPE');
    for (const listing of listings) {
      // ListGroups before v4 has no state: ask the coordinator.
      const state = listing.state ?? (await groups.describeGroup(listing.groupId)).state;
      context.io.out(`${listing.groupId}\t${state}\t${listing.protocolType || '-'}`);
    }
  });
}

interface DescribedPartition {
  readonly topic: string;
  readonly partition: number;
  readonly committed: bigint;
  /** undefined when the topic no longer exists. */
  readonly logEndOffset: bigint | undefined;
  readonly owner: { memberId: string; clientId: string; clientHost: string } | undefined;
}

export async function describeGroup(context: GroupsContext, groupId: string): Promise<void> {
  await withGroupClient(context, async (groups, cluster) => {
    await requireGroup(groups, groupId);
    const description = await groups.describeGroup(groupId);
    const committed = await groups.committedOffsets(groupId);
    const rows = await describedPartitions(cluster, description, committed);
    printDescription(context.io, description, rows);
  });
}

async function describedPartitions(cluster: ClusterClient, description: GroupDescription, committed: readonly GroupOffset[]): Promise<DescribedPartition[]> {
  const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;
  const owners = new Map<string, DescribedPartition['owner']>();
  const partitionsByTopic = new Map<string, Set<number>>();
  const note = (topic: string, partition: number) => partitionsByTopic.set(topic, (partitionsByTopic.get(topic) ?? new Set()).add(partition));
  for (const member of description.members) {
    for (const { topic, partitions } of member.assignment) {
      for (const partition of partitions) {
        owners.set(key(topic, partition), { memberId: member.memberId, clientId: member.clientId, clientHost: member.clientHost });
        note(topic, partition);
      }
    }
  }
  const committedAt = new Map<string, bigint>();
  for (const offset of committed) {
    committedAt.set(key(offset.topic, offset.partition), offset.offset);
    note(offset.topic, offset.partition);
  }
  const rows: DescribedPartition[] = [];
  for (const topic of [...partitionsByTopic.keys()].sort()) {
    const partitions = [...partitionsByTopic.get(topic)!].sort((a, b) => a - b);
    const ends = await logEndOffsets(cluster, topic, partitions);
    for (const partition of partitions) {
      rows.push({
        topic,
        partition,
        committed: committedAt.get(key(topic, partition)) ?? -1n,
        logEndOffset: ends.get(partition),
        owner: owners.get(key(topic, partition)),
      });
    }
  }
  return rows;
}

/** High watermarks of the partitions that still exist (a deleted topic's committed offsets remain listed). */
async function logEndOffsets(cluster: ClusterClient, topic: string, partitions: readonly number[]): Promise<Map<number, bigint>> {
  const metadata = await cluster.metadata([topic]);
  const found = metadata.topics.find((candidate) => candidate.name === topic);
  if (found === undefined || found.errorCode !== ErrorCode.NONE) return new Map();
  const info: TopicInfo = {
    name: topic,
    topicId: found.topicId,
    internal: found.isInternal ?? false,
    partitions: found.partitions.map((partition) => ({ partition: partition.partitionIndex, leaderId: partition.leaderId, replicas: partition.replicaNodes, isr: partition.isrNodes })),
  };
  const existing = partitions.filter((partition) => info.partitions.some((candidate) => candidate.partition === partition));
  return existing.length === 0 ? new Map() : cluster.listOffsets(info, existing, -1n);
}

function printDescription(io: CliIo, description: GroupDescription, rows: readonly DescribedPartition[]): void {
  const protocol = description.protocolType === '' ? '-' : description.protocol === '' ? description.protocolType : `${description.protocolType}/${description.protocol}`;
  io.out(`Group: ${description.groupId}\tState: ${description.state}\tProtocol: ${protocol}\tMembers: ${description.members.length}`);
  io.out('TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tMEMBER-ID\tCLIENT-ID\tHOST');
  let totalLag = 0n;
  for (const row of rows) {
    const lag = row.committed >= 0n && row.logEndOffset !== undefined ? row.logEndOffset - row.committed : undefined;
    if (lag !== undefined) totalLag += lag;
    io.out(
      [
        row.topic,
        row.partition,
        row.committed >= 0n ? row.committed : '-',
        row.logEndOffset ?? '-',
        lag ?? '-',
        row.owner?.memberId ?? '-',
        row.owner?.clientId ?? '-',
        row.owner?.clientHost ?? '-',
      ].join('\t'),
    );
  }
  // Members that own nothing still show, as kafka-consumer-groups does.
  for (const member of description.members) {
    if (member.assignment.every(({ partitions }) => partitions.length === 0)) {
      io.out(['-', '-', '-', '-', '-', member.memberId, member.clientId, member.clientHost].join('\t'));
    }
  }
  io.out(`Total lag: ${totalLag}`);
}

export async function deleteGroups(context: GroupsContext, groupIds: readonly string[]): Promise<void> {
  await withGroupClient(context, async (groups) => {
    for (const groupId of groupIds) {
      await requireGroup(groups, groupId);
      try {
        await groups.deleteGroup(groupId);
      } catch (error) {
        if (error instanceof KafkaProtocolError && error.code === ErrorCode.NON_EMPTY_GROUP) {
          throw new Error(`group '${groupId}' still has members: stop its consumers before deleting it`);
        }
        throw error;
      }
      context.io.out(`Deleted group ${groupId}.`);
    }
  });
}

export interface ResetOffsetsOptions {
  /** `TOPIC` or `TOPIC:P1,P2` (repeatable). */
  topics: readonly string[];
  target: OffsetResetTarget;
  /** Commit the plan; without it the plan is only printed (a dry run, as kafka-consumer-groups does). */
  execute: boolean;
}

export async function resetOffsets(context: GroupsContext, groupId: string, options: ResetOffsetsOptions): Promise<void> {
  if (options.topics.length === 0) throw new Error('give the topic(s) to reset with --topic TOPIC (or TOPIC:P1,P2)');
  const selections = options.topics.map(parseTopicSelection);
  await withGroupClient(context, async (groups, cluster) => {
    const listings = await groups.listGroups();
    const exists = listings.some((listing) => listing.groupId === groupId);
    if (exists) {
      const description = await groups.describeGroup(groupId);
      if (!INACTIVE_STATES.has(description.state)) {
        throw new Error(
          `cannot reset the offsets of group '${groupId}' while it is active (state ${description.state}, ${description.members.length} member(s)): stop its consumers first`,
        );
      }
    } else {
      // Kafka's tool lets a reset create a group's first offsets; a near miss is probably a typo.
      const suggestion = nearest(groupId, listings.map((listing) => listing.groupId));
      context.io.err(`Note: group '${groupId}' has no offsets yet; --execute creates them.${suggestion === undefined ? '' : ` Did you mean '${suggestion}'?`}`);
    }

    const positions: PartitionPosition[] = [];
    for (const selection of selections) {
      const info = await cluster.topic(selection.topic);
      const all = info.partitions.map((partition) => partition.partition);
      const partitions = selection.partitions ?? all;
      const missing = partitions.filter((partition) => !all.includes(partition));
      if (missing.length > 0) throw new Error(`topic '${info.name}' has no partition ${missing.join(', ')} (it has ${all.length})`);
      const committed = await groups.committedOffsets(groupId, [{ topic: info.name, partitions }]);
      const ranges = await cluster.partitionOffsets(info, partitions);
      const atTimestamp = options.target.kind === 'datetime' ? await cluster.listOffsets(info, partitions, options.target.timestampMs) : undefined;
      for (const range of ranges) {
        positions.push({
          topic: info.name,
          partition: range.partition,
          committed: committed.find((offset) => offset.partition === range.partition)?.offset ?? -1n,
          earliest: range.earliest,
          latest: range.latest,
          ...(atTimestamp === undefined ? {} : { atTimestamp: atTimestamp.get(range.partition) ?? -1n }),
        });
      }
    }

    const plan = planOffsetReset(options.target, positions);
    context.io.out('TOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET');
    for (const row of plan) context.io.out(`${row.topic}\t${row.partition}\t${row.committed >= 0n ? row.committed : '-'}\t${row.target}`);
    if (!options.execute) {
      context.io.out('Dry run: nothing was committed. Add --execute to commit these offsets.');
      return;
    }
    try {
      await groups.commitOffsets(groupId, plan.map(({ topic, partition, target }) => ({ topic, partition, offset: target })));
    } catch (error) {
      // A consumer may have joined since the check above.
      if (error instanceof KafkaProtocolError && (error.code === ErrorCode.UNKNOWN_MEMBER_ID || error.code === ErrorCode.ILLEGAL_GENERATION || error.code === ErrorCode.REBALANCE_IN_PROGRESS)) {
        throw new Error(`group '${groupId}' became active while resetting: nothing was committed; stop its consumers and try again`);
      }
      throw error;
    }
    context.io.out(`Committed the new offsets of ${plan.length} partition(s) for group ${groupId}.`);
  });
}
