import {
  ApiKey,
  ConsumerProtocolAssignmentSchema,
  ConsumerProtocolSubscriptionSchema,
  ErrorCode,
  decodeVersionedData,
  encodeVersionedData,
  type FetchResponsePartitionData,
  type JoinGroupResponseMember,
} from '@defter/protocol';
import {
  topicPartitionKey,
  type ConsumerOptions,
  type FetchedBatch,
  type GroupConsumer,
  type GroupHandlers,
  type GroupMetadata,
  type OffsetToCommit,
  type TopicPartition,
} from '../stream-log.js';
import { describeTopics, type BrokerConnection } from './connection.js';
import { EmbeddedLogError, RebalancedError, delay, isRebalanceCode } from './log-errors.js';
import { FETCH_VERSION_TOPIC_IDS } from './protocol-versions.js';
import { assignRanges } from './range-assignor.js';
import { decodeFetchedRecords } from './record-batches.js';

const PROTOCOL_TYPE = 'consumer';
const ASSIGNOR_NAME = 'range';
/** How long the coordinator waits for every member to rejoin (Kafka's max.poll.interval.ms plays this part). */
const REBALANCE_TIMEOUT_MS = 60_000;
/** Waits before retrying what the broker says will pass (a loading coordinator, an unstable offset). */
const RETRY_BACKOFF_MS = 50;
/** A Fetch waits at least this long, so that an idle consumer with fetchMaxWaitMs 0 does not spin. */
const FETCH_WAIT_MS_MIN = 10;
const FETCH_MAX_BYTES = 50 * 1024 * 1024;
const EARLIEST_TIMESTAMP = -2n;
const LATEST_TIMESTAMP = -1n;
const READ_COMMITTED = 1;
const READ_UNCOMMITTED = 0;

interface PartitionState extends TopicPartition {
  readonly key: string;
  /** The next offset to fetch; -1 until the position is known. */
  position: bigint;
  paused: boolean;
  /** A Fetch for this partition is under way. */
  fetching: boolean;
  /** Its batch is with `onBatch`. */
  handling: boolean;
  /** Waiting for a position (after assignment or OFFSET_OUT_OF_RANGE) or a retry. */
  waiting: boolean;
  /** A fetched batch waiting for a free handler slot. */
  ready: FetchedBatch | undefined;
}

/** holding: assigned, not fetching (while `onAssigned` and positions run, and while revoking). */
type Phase = 'idle' | 'joining' | 'fetching' | 'holding' | 'closed';

/**
 * A consumer-group member over the in-process client: Kafka's classic group protocol with
 * eager rebalancing, and a fetcher that keeps one batch per partition in flight.
 *
 * Membership (one loop): JoinGroup (MEMBER_ID_REQUIRED → rejoin with the given id) → the leader
 * assigns ranges → SyncGroup → `onAssigned` → positions (committed offsets, requireStable; else
 * earliest/latest) → fetch until a heartbeat or a commit reports a rebalance → stop fetching,
 * await every batch under way, await `onRevoked` → rejoin. Heartbeats run on their own timer,
 * during long batches and revocations too.
 *
 * Fetching: every partition that is assigned, positioned, not paused and neither being fetched nor
 * handled goes into one long-poll Fetch; a partition that becomes fetchable while a Fetch waits
 * (its handler settled, it was resumed) goes into a new Fetch at once rather than waiting out the
 * long poll, and `close()` does not wait for a Fetch at all (a late response is dropped). So each
 * partition has at most one Fetch and one batch in flight.
 */
export class EmbeddedGroupConsumer implements GroupConsumer {
  private handlers: GroupHandlers | undefined;
  private memberId = '';
  private generationId = -1;
  private phase: Phase = 'idle';
  /** Bumped whenever the partitions change hands: responses and batches of an older epoch are dropped. */
  private epoch = 0;
  private assigned: TopicPartition[] = [];
  private partitions = new Map<string, PartitionState>();
  private readyQueue: PartitionState[] = [];
  private handlersRunning = 0;
  private readonly handlersUnderWay = new Set<Promise<void>>();
  private rebalance = signal();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatInFlight = false;
  private closing: Promise<void> | undefined;
  private crashed = false;
  private topicIds = new Map<string, string>();
  private topicNamesById = new Map<string, string>();
  private readonly subscription: Buffer;

  constructor(
    private readonly connection: BrokerConnection,
    private readonly options: ConsumerOptions,
  ) {
    if (options.topics.length === 0) throw new RangeError('a consumer needs at least one topic');
    if (options.partitionsConcurrentlyMax < 1) throw new RangeError('partitionsConcurrentlyMax must be at least 1');
    this.subscription = encodeVersionedData(ConsumerProtocolSubscriptionSchema, 0, { topics: [...options.topics].sort(), userData: null });
  }

  async run(handlers: GroupHandlers): Promise<void> {
    if (this.handlers !== undefined) throw new Error('run() was called already');
    if (this.closing !== undefined) throw new Error('the consumer is closed');
    this.handlers = handlers;
    for (const topic of await describeTopics(this.connection, this.options.topics)) {
      this.topicIds.set(topic.name, topic.topicId);
      this.topicNamesById.set(topic.topicId, topic.name);
    }
    // Referenced on purpose: a member of a group keeps its process alive until it is closed, as a
    // kafkajs consumer's sockets do (with no records arriving, nothing else is pending).
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.options.heartbeatIntervalMs);
    void this.membershipLoop();
  }

  // ---- membership -------------------------------------------------------------------------

  private async membershipLoop(): Promise<void> {
    try {
      while (this.closing === undefined) {
        this.rebalance = signal();
        const assignment = await this.joinGroup();
        if (assignment === undefined || this.closing !== undefined) return;
        await this.startAssignment(assignment);
        await this.rebalance.promise;
        await this.stopFetching();
        if (this.closing !== undefined) return;
        const revoked = this.assigned;
        this.assigned = [];
        this.partitions = new Map();
        await this.handlers!.onRevoked(revoked);
      }
    } catch (error) {
      this.crash(asError(error));
    }
  }

  /** Joins and syncs until the group is stable with this member in it; undefined when closing. */
  private async joinGroup(): Promise<TopicPartition[] | undefined> {
    const { client, versions } = this.connection;
    this.phase = 'joining';
    while (this.closing === undefined) {
      const join = await client.send(ApiKey.JoinGroup, versions.joinGroup, {
        groupId: this.options.groupId,
        sessionTimeoutMs: this.options.sessionTimeoutMs,
        rebalanceTimeoutMs: Math.max(REBALANCE_TIMEOUT_MS, this.options.sessionTimeoutMs),
        memberId: this.memberId,
        groupInstanceId: null,
        protocolType: PROTOCOL_TYPE,
        protocols: [{ name: ASSIGNOR_NAME, metadata: this.subscription }],
        reason: null,
      });
      if (this.closing !== undefined) return undefined;
      if (join.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
        this.memberId = join.memberId;
        continue;
      }
      if (!(await this.retryableGroupError(join.errorCode, 'JoinGroup'))) continue;
      this.memberId = join.memberId;
      this.generationId = join.generationId;
      const assignments = join.leader === join.memberId ? await this.assign(join.members) : [];
      const sync = await client.send(ApiKey.SyncGroup, versions.syncGroup, {
        groupId: this.options.groupId,
        generationId: this.generationId,
        memberId: this.memberId,
        groupInstanceId: null,
        protocolType: PROTOCOL_TYPE,
        protocolName: ASSIGNOR_NAME,
        assignments,
      });
      if (this.closing !== undefined) return undefined;
      if (!(await this.retryableGroupError(sync.errorCode, 'SyncGroup'))) continue;
      const subscribed = new Set(this.options.topics);
      const { data } = decodeVersionedData(ConsumerProtocolAssignmentSchema, sync.assignment);
      return data.assignedPartitions
        .filter(({ topic }) => subscribed.has(topic))
        .flatMap(({ topic, partitions }) => partitions.map((partition) => ({ topic, partition })))
        .sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1));
    }
    return undefined;
  }

  /** True when the code is NONE; false (after any wait) when the join must be redone; throws otherwise. */
  private async retryableGroupError(code: number, action: string): Promise<boolean> {
    switch (code) {
      case ErrorCode.NONE:
        return true;
      case ErrorCode.UNKNOWN_MEMBER_ID:
        this.memberId = '';
        return false;
      case ErrorCode.REBALANCE_IN_PROGRESS:
      case ErrorCode.ILLEGAL_GENERATION:
        return false;
      case ErrorCode.COORDINATOR_LOAD_IN_PROGRESS:
      case ErrorCode.COORDINATOR_NOT_AVAILABLE:
      case ErrorCode.NOT_COORDINATOR:
        await delay(RETRY_BACKOFF_MS);
        return false;
      default:
        throw new EmbeddedLogError(code, `${action} for group "${this.options.groupId}"`);
    }
  }

  /** The leader's part: every member's subscription, the topics' partition counts, ranges. */
  private async assign(members: readonly JoinGroupResponseMember[]): Promise<Array<{ memberId: string; assignment: Buffer }>> {
    const subscriptions = members.map((member) => ({
      memberId: member.memberId,
      topics: decodeVersionedData(ConsumerProtocolSubscriptionSchema, member.metadata).data.topics,
    }));
    const partitionCounts = new Map<string, number>();
    for (const topic of new Set(subscriptions.flatMap((member) => member.topics))) {
      // A topic that does not exist (another member's subscription) gets no partitions.
      const [description] = await describeTopics(this.connection, [topic]).catch(() => []);
      if (description !== undefined) partitionCounts.set(topic, description.partitions);
    }
    const plan = assignRanges(subscriptions, partitionCounts);
    return [...plan].map(([memberId, partitions]) => {
      const byTopic = new Map<string, number[]>();
      for (const { topic, partition } of partitions) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
      const assignedPartitions = [...byTopic].map(([topic, list]) => ({ topic, partitions: list }));
      return { memberId, assignment: encodeVersionedData(ConsumerProtocolAssignmentSchema, 0, { assignedPartitions, userData: null }) };
    });
  }

  private heartbeat(): void {
    if (this.heartbeatInFlight || this.phase === 'joining' || this.phase === 'idle' || this.phase === 'closed' || this.memberId === '') return;
    this.heartbeatInFlight = true;
    const generationId = this.generationId;
    this.connection.client
      .send(ApiKey.Heartbeat, this.connection.versions.heartbeat, {
        groupId: this.options.groupId,
        generationId,
        memberId: this.memberId,
        groupInstanceId: null,
      })
      .then(
        (response) => {
          // A join started meanwhile: this answer is about the generation it replaces.
          if (this.phase === 'joining' || generationId !== this.generationId) return;
          if (response.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) this.memberId = '';
          if (response.errorCode === ErrorCode.FENCED_INSTANCE_ID) this.crash(new EmbeddedLogError(response.errorCode, `heartbeat of group "${this.options.groupId}"`));
          else if (isRebalanceCode(response.errorCode)) this.rebalance.resolve();
        },
        (error: unknown) => this.crash(asError(error)),
      )
      .finally(() => {
        this.heartbeatInFlight = false;
      });
  }

  // ---- positions and fetching -------------------------------------------------------------

  private async startAssignment(assignment: TopicPartition[]): Promise<void> {
    this.epoch += 1;
    this.assigned = assignment;
    this.partitions = new Map(
      assignment.map((partition) => {
        const key = topicPartitionKey(partition);
        return [key, { ...partition, key, position: -1n, paused: false, fetching: false, handling: false, waiting: true, ready: undefined }];
      }),
    );
    this.phase = 'holding';
    await this.handlers!.onAssigned(assignment);
    if (this.closing !== undefined) return;
    const epoch = this.epoch;
    const positions = await this.committedPositions(assignment);
    if (epoch !== this.epoch || this.closing !== undefined) return;
    const missing = assignment.filter((partition) => !positions.has(topicPartitionKey(partition)));
    for (const [key, offset] of await this.listOffsets(missing, this.options.fromBeginning ? EARLIEST_TIMESTAMP : LATEST_TIMESTAMP)) positions.set(key, offset);
    if (epoch !== this.epoch || this.closing !== undefined) return;
    for (const state of this.partitions.values()) {
      state.position = positions.get(state.key) ?? 0n;
      state.waiting = false;
    }
    this.phase = 'fetching';
    this.pump();
  }

  /** The group's committed offsets (requireStable: an offset an open transaction is committing is waited for). */
  private async committedPositions(partitions: readonly TopicPartition[]): Promise<Map<string, bigint>> {
    const positions = new Map<string, bigint>();
    let pending = partitions;
    while (pending.length > 0 && this.closing === undefined) {
      const response = await this.connection.client.send(ApiKey.OffsetFetch, this.connection.versions.offsetFetch, {
        requireStable: true,
        groups: [{ groupId: this.options.groupId, memberId: null, memberEpoch: -1, topics: byTopic(pending).map(([name, list]) => ({ name, partitionIndexes: list })) }],
      });
      const group = response.groups?.[0];
      if (group === undefined) throw new Error(`OffsetFetch for group "${this.options.groupId}" got no answer for the group`);
      const unstable: TopicPartition[] = [];
      let retryGroup = false;
      if (group.errorCode !== ErrorCode.NONE) {
        if (group.errorCode !== ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) throw new EmbeddedLogError(group.errorCode, `fetching the offsets of group "${this.options.groupId}"`);
        retryGroup = true;
      }
      for (const topic of retryGroup ? [] : group.topics) {
        for (const partition of topic.partitions) {
          const topicPartition = { topic: topic.name, partition: partition.partitionIndex };
          if (partition.errorCode === ErrorCode.UNSTABLE_OFFSET_COMMIT) unstable.push(topicPartition);
          else if (partition.errorCode !== ErrorCode.NONE) throw new EmbeddedLogError(partition.errorCode, `fetching the offset of ${topic.name}[${partition.partitionIndex}]`);
          else if (partition.committedOffset >= 0n) positions.set(topicPartitionKey(topicPartition), partition.committedOffset);
        }
      }
      pending = retryGroup ? pending : unstable;
      if (pending.length > 0) await delay(RETRY_BACKOFF_MS);
    }
    return positions;
  }

  private async listOffsets(partitions: readonly TopicPartition[], timestamp: bigint): Promise<Map<string, bigint>> {
    const offsets = new Map<string, bigint>();
    if (partitions.length === 0) return offsets;
    const response = await this.connection.client.send(ApiKey.ListOffsets, this.connection.versions.listOffsets, {
      replicaId: -1,
      isolationLevel: this.isolationLevel(),
      topics: byTopic(partitions).map(([name, list]) => ({ name, partitions: list.map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp })) })),
      timeoutMs: 30_000,
    });
    for (const topic of response.topics) {
      for (const partition of topic.partitions) {
        if (partition.errorCode !== ErrorCode.NONE) throw new EmbeddedLogError(partition.errorCode, `listing offsets of ${topic.name}[${partition.partitionIndex}]`);
        offsets.set(topicPartitionKey({ topic: topic.name, partition: partition.partitionIndex }), partition.offset ?? 0n);
      }
    }
    return offsets;
  }

  private isolationLevel(): number {
    return this.options.isolationLevel === 'read_committed' ? READ_COMMITTED : READ_UNCOMMITTED;
  }

  /** Starts one Fetch for every partition that can be fetched now. */
  private pump(): void {
    if (this.phase !== 'fetching' || this.crashed) return;
    const fetchable: PartitionState[] = [];
    for (const state of this.partitions.values()) {
      if (!state.paused && !state.fetching && !state.handling && !state.waiting && state.ready === undefined) fetchable.push(state);
    }
    if (fetchable.length === 0) return;
    for (const state of fetchable) state.fetching = true;
    this.fetch(fetchable, this.epoch).catch((error: unknown) => this.crash(asError(error)));
  }

  private async fetch(states: readonly PartitionState[], epoch: number): Promise<void> {
    const { client, versions } = this.connection;
    const byTopicId = versions.fetch >= FETCH_VERSION_TOPIC_IDS;
    const fetchOffsets = new Map(states.map((state) => [state.key, state.position]));
    const topics = new Map<string, PartitionState[]>();
    for (const state of states) topics.set(state.topic, [...(topics.get(state.topic) ?? []), state]);
    const response = await client.send(ApiKey.Fetch, versions.fetch, {
      replicaId: -1,
      maxWaitMs: Math.max(FETCH_WAIT_MS_MIN, this.options.fetchMaxWaitMs),
      minBytes: 1,
      maxBytes: FETCH_MAX_BYTES,
      isolationLevel: this.isolationLevel(),
      sessionId: 0,
      sessionEpoch: -1,
      topics: [...topics].map(([topic, list]) => ({
        ...(byTopicId ? { topicId: this.topicIds.get(topic) ?? '' } : { topic }),
        partitions: list.map((state) => ({
          partition: state.partition,
          currentLeaderEpoch: -1,
          fetchOffset: state.position,
          lastFetchedEpoch: -1,
          logStartOffset: -1n,
          partitionMaxBytes: this.options.fetchMaxBytesPerPartition,
        })),
      })),
      forgottenTopicsData: [],
      rackId: '',
    });
    // Partitions that changed hands (or a closed consumer) meanwhile: the answer is dropped.
    if (epoch !== this.epoch || this.phase !== 'fetching') return;
    if (response.errorCode !== undefined && response.errorCode !== ErrorCode.NONE) throw new EmbeddedLogError(response.errorCode, 'Fetch');
    const results = new Map<string, FetchResponsePartitionData>();
    for (const topicResponse of response.responses) {
      const topic = byTopicId ? this.topicNamesById.get(topicResponse.topicId ?? '') : topicResponse.topic;
      if (topic === undefined) continue;
      for (const partition of topicResponse.partitions) results.set(topicPartitionKey({ topic, partition: partition.partitionIndex }), partition);
    }
    for (const state of states) {
      state.fetching = false;
      const result = results.get(state.key);
      const code = result?.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR;
      if (result === undefined || code !== ErrorCode.NONE) {
        this.recoverFetchError(state, code, epoch);
        continue;
      }
      const fetchOffset = fetchOffsets.get(state.key)!;
      const decoded = decodeFetchedRecords(result.records, fetchOffset, result.abortedTransactions);
      // No progress (nothing new, or only a partial batch): nothing to hand over, fetch again.
      if (decoded.nextOffset <= fetchOffset || state.paused) continue;
      const visibleEnd = this.options.isolationLevel === 'read_committed' ? (result.lastStableOffset ?? result.highWatermark) : result.highWatermark;
      state.ready = { topic: state.topic, partition: state.partition, records: decoded.records, nextOffset: decoded.nextOffset, highWatermark: visibleEnd };
      this.readyQueue.push(state);
    }
    this.deliver();
    this.pump();
  }

  private recoverFetchError(state: PartitionState, code: number, epoch: number): void {
    const action = `fetching ${state.topic}[${state.partition}] at offset ${state.position}`;
    if (code === ErrorCode.OFFSET_OUT_OF_RANGE) {
      // Kafka's auto.offset.reset: start again where fromBeginning says.
      state.waiting = true;
      this.listOffsets([state], this.options.fromBeginning ? EARLIEST_TIMESTAMP : LATEST_TIMESTAMP).then(
        (offsets) => {
          if (epoch !== this.epoch) return;
          state.position = offsets.get(state.key) ?? state.position;
          state.waiting = false;
          this.pump();
        },
        (error: unknown) => this.crash(asError(error)),
      );
      return;
    }
    const error = new EmbeddedLogError(code, action);
    if (!error.retriable) {
      this.crash(error);
      return;
    }
    state.waiting = true;
    void delay(RETRY_BACKOFF_MS).then(() => {
      if (epoch !== this.epoch) return;
      state.waiting = false;
      this.pump();
    });
  }

  /** Hands ready batches to `onBatch`, at most `partitionsConcurrentlyMax` at once. */
  private deliver(): void {
    while (this.handlersRunning < this.options.partitionsConcurrentlyMax && this.readyQueue.length > 0 && this.phase === 'fetching') {
      const state = this.readyQueue.shift()!;
      const batch = state.ready;
      state.ready = undefined;
      if (batch === undefined || state.paused || this.partitions.get(state.key) !== state) continue;
      state.handling = true;
      state.position = batch.nextOffset;
      this.handlersRunning += 1;
      const handled = Promise.resolve()
        .then(() => this.handlers!.onBatch(batch))
        .catch((error: unknown) => this.crash(asError(error)))
        .finally(() => {
          state.handling = false;
          this.handlersRunning -= 1;
          this.handlersUnderWay.delete(handled);
          this.deliver();
          this.pump();
        });
      this.handlersUnderWay.add(handled);
    }
  }

  /** Stops handing out batches and waits for those under way. */
  private async stopFetching(): Promise<void> {
    if (this.phase === 'fetching') this.phase = 'holding';
    this.epoch += 1;
    for (const state of this.readyQueue) state.ready = undefined;
    this.readyQueue = [];
    while (this.handlersUnderWay.size > 0) await Promise.allSettled([...this.handlersUnderWay]);
  }

  pause(partitions: readonly TopicPartition[]): void {
    for (const partition of partitions) {
      const state = this.partitions.get(topicPartitionKey(partition));
      if (state === undefined) continue;
      state.paused = true;
      // A batch fetched but not handed over is dropped: the partition is fetched again from its position after resume.
      state.ready = undefined;
    }
  }

  resume(partitions: readonly TopicPartition[]): void {
    let resumed = false;
    for (const partition of partitions) {
      const state = this.partitions.get(topicPartitionKey(partition));
      if (state === undefined || !state.paused) continue;
      state.paused = false;
      resumed = true;
    }
    if (resumed) this.pump();
  }

  async commitOffsets(offsets: readonly OffsetToCommit[]): Promise<void> {
    if (offsets.length === 0) return;
    const action = `committing offsets of group "${this.options.groupId}"`;
    for (;;) {
      const response = await this.connection.client.send(ApiKey.OffsetCommit, this.connection.versions.offsetCommit, {
        groupId: this.options.groupId,
        generationIdOrMemberEpoch: this.generationId,
        memberId: this.memberId,
        groupInstanceId: null,
        topics: byTopicOffsets(offsets),
      });
      const code = response.topics.flatMap((topic) => topic.partitions.map((partition) => partition.errorCode)).find((entry) => entry !== ErrorCode.NONE);
      if (code === undefined) return;
      if (isRebalanceCode(code)) {
        this.rebalance.resolve();
        throw new RebalancedError(code, this.options.groupId, action);
      }
      if (code === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS) {
        await delay(RETRY_BACKOFF_MS);
        continue;
      }
      throw new EmbeddedLogError(code, action);
    }
  }

  groupMetadata(): GroupMetadata {
    return { groupId: this.options.groupId, generationId: this.generationId, memberId: this.memberId };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.rebalance.resolve();
      await this.stopFetching();
      this.phase = 'closed';
      if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
      if (this.memberId !== '') {
        await this.connection.client
          .send(ApiKey.LeaveGroup, this.connection.versions.leaveGroup, {
            groupId: this.options.groupId,
            members: [{ memberId: this.memberId, groupInstanceId: null, reason: 'the consumer is closing' }],
          })
          .catch(() => undefined);
      }
    })();
    return this.closing;
  }

  private crash(error: Error): void {
    if (this.crashed || this.closing !== undefined) return;
    this.crashed = true;
    this.phase = 'closed';
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    this.handlers?.onCrash(error);
  }
}

interface Signal {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
}

function signal(): Signal {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

function byTopic(partitions: readonly TopicPartition[]): Array<[string, number[]]> {
  const topics = new Map<string, number[]>();
  for (const { topic, partition } of partitions) topics.set(topic, [...(topics.get(topic) ?? []), partition]);
  return [...topics];
}

function byTopicOffsets(offsets: readonly OffsetToCommit[]) {
  const topics = new Map<string, OffsetToCommit[]>();
  for (const offset of offsets) topics.set(offset.topic, [...(topics.get(offset.topic) ?? []), offset]);
  return [...topics].map(([name, list]) => ({
    name,
    partitions: list.map(({ partition, offset }) => ({ partitionIndex: partition, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: null })),
  }));
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
