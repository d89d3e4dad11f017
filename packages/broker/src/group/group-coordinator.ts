import { randomUUID } from 'node:crypto';
import type { Clock } from '@defter/log';
import { ErrorCode } from '@defter/protocol';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import { errorCodeOf } from '../errors.js';
import type { Ticker } from '../replica/delayed-operations.js';
import { CONSUMER_PROTOCOL_TYPE, EMPTY_CONSUMER_ASSIGNMENT, decodeConsumerSubscription } from './consumer-protocol.js';
import { DeadlineTimers, type DeadlineTimer } from './deadline-timers.js';
import { Group, GROUP_STATES, type GroupState } from './group.js';
import { GroupMember } from './group-member.js';
import type {
  DescribedGroup,
  HeartbeatParams,
  JoinGroupParams,
  JoinGroupResult,
  LeaveGroupResult,
  ListedGroup,
  MemberIdentity,
  ProtocolMetadata,
  SyncGroupParams,
  SyncGroupResult,
} from './group-requests.js';
import type { OffsetStore } from './offset-store.js';

export type { GroupState } from './group.js';

/** What the coordinator needs of the committed offsets. */
export type GroupOffsets = Pick<OffsetStore, 'hasOffsets' | 'groupIds' | 'deleteGroup'>;

/** The tick of the shared timer: how late a session expiry or the end of a join phase may be noticed. */
export const GROUP_TICK_INTERVAL_MS_DEFAULT = 100;
/**
 * The most protocol metadata one member may send in a JoinGroup. Kafka has no such check at join
 * time, but fails the group's SyncGroup (UNKNOWN_SERVER_ERROR) once the group record outgrows the
 * offsets topic's message size (1 MiB); refusing at the door keeps every group's memory bounded.
 */
export const MEMBER_METADATA_BYTES_MAX_DEFAULT = 1_048_576;
/** KIP-848's name for the groups this coordinator runs. */
const CLASSIC_GROUP_TYPE = 'classic';
const NO_BYTES = Buffer.alloc(0);

export interface GroupCoordinatorOptions {
  config: BrokerConfig;
  clock: Clock;
  logger: Logger;
  offsets: GroupOffsets;
  /** Drives every group deadline; tests pass a manual ticker together with a ManualClock. */
  ticker?: Ticker;
  tickIntervalMs?: number;
  /** Source of the random part of member ids. */
  newUuid?: () => string;
  /** How often memberless groups without committed offsets are forgotten; `offsets.retention.check.interval.ms` by default. */
  groupCleanupIntervalMs?: number;
  memberMetadataBytesMax?: number;
}

/**
 * The group coordinator for classic groups (JoinGroup/SyncGroup/Heartbeat/LeaveGroup), as
 * Kafka's GroupCoordinator runs them: generations, member ids (MEMBER_ID_REQUIRED), a leader
 * that computes the assignment, session and rebalance timeouts, static membership, and the
 * admin views (ListGroups, DescribeGroups, DeleteGroups). Membership lives in memory only: after
 * a restart, consumers rejoin (their committed offsets are the OffsetStore's).
 *
 * Everything here runs on the event loop, so each method sees and leaves the groups consistent;
 * JoinGroup and SyncGroup return promises that the rebalance resolves later.
 */
export class GroupCoordinator {
  private readonly config: BrokerConfig;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly offsets: GroupOffsets;
  private readonly timers: DeadlineTimers;
  private readonly newUuid: () => string;
  private readonly memberMetadataBytesMax: number;
  private readonly groups = new Map<string, Group>();
  private readonly groupCleanupIntervalMs: number;
  private readonly cleanupTimer: DeadlineTimer = { fire: () => this.cleanupGroups() };
  private closed = false;

  constructor(options: GroupCoordinatorOptions) {
    this.config = options.config;
    this.clock = options.clock;
    this.logger = options.logger;
    this.offsets = options.offsets;
    this.timers = new DeadlineTimers({
      clock: options.clock,
      ...(options.ticker === undefined ? {} : { ticker: options.ticker }),
      tickIntervalMs: options.tickIntervalMs ?? GROUP_TICK_INTERVAL_MS_DEFAULT,
    });
    this.newUuid = options.newUuid ?? randomUUID;
    this.memberMetadataBytesMax = options.memberMetadataBytesMax ?? MEMBER_METADATA_BYTES_MAX_DEFAULT;
    this.groupCleanupIntervalMs = options.groupCleanupIntervalMs ?? options.config.offsetsRetentionCheckIntervalMs;
    if (!(this.groupCleanupIntervalMs > 0)) throw new RangeError(`groupCleanupIntervalMs must be positive, got ${this.groupCleanupIntervalMs}`);
  }

  // ---- JoinGroup ----------------------------------------------------------------------------

  /** JoinGroup: resolves when the join phase completes (or at once with an error). */
  joinGroup(params: JoinGroupParams): Promise<JoinGroupResult> {
    return new Promise((resolve) => {
      const error = this.joinPrecheck(params);
      if (error !== ErrorCode.NONE) return resolve(joinError(params.memberId, error));
      const protocols = distinctProtocols(params.protocols);
      const isUnknownMember = params.memberId === '';
      let group = this.groups.get(params.groupId);
      const created = group === undefined;
      if (group === undefined) {
        // A group is created only by a member without an id: a known id for an unknown group is stale.
        if (!isUnknownMember) return resolve(joinError(params.memberId, ErrorCode.UNKNOWN_MEMBER_ID));
        group = new Group(params.groupId);
        this.groups.set(params.groupId, group);
      }
      const replacesStaticMember = isUnknownMember && group.staticMemberId(params.groupInstanceId) !== undefined;
      if (isUnknownMember && !replacesStaticMember && group.size >= this.config.groupMaxSize) {
        resolve(joinError('', ErrorCode.GROUP_MAX_SIZE_REACHED));
      } else if (isUnknownMember) {
        this.joinUnknownMember(group, params, protocols, resolve);
      } else {
        this.joinKnownMember(group, params, protocols, resolve);
      }
      if (group.is('PreparingRebalance')) this.tryCompleteJoin(group);
      // Kafka would keep (and list) a group created by a join it then refused until the next
      // cleanup; not keeping it bounds what hostile joins can leave behind.
      if (created && group.is('Empty') && group.size === 0) this.discard(group);
      else this.scheduleCleanup(group);
    });
  }

  private joinPrecheck(params: JoinGroupParams): number {
    if (this.closed) return ErrorCode.NOT_COORDINATOR;
    if (params.groupId === '') return ErrorCode.INVALID_GROUP_ID;
    if (params.sessionTimeoutMs < this.config.groupMinSessionTimeoutMs || params.sessionTimeoutMs > this.config.groupMaxSessionTimeoutMs) {
      return ErrorCode.INVALID_SESSION_TIMEOUT;
    }
    let metadataBytes = 0;
    for (const protocol of params.protocols) metadataBytes += protocol.metadata.length + Buffer.byteLength(protocol.name);
    if (metadataBytes > this.memberMetadataBytesMax) {
      this.logger.info({ groupId: params.groupId, metadataBytes, memberMetadataBytesMax: this.memberMetadataBytesMax }, 'JoinGroup refused: member metadata too large');
      return ErrorCode.INVALID_REQUEST;
    }
    return ErrorCode.NONE;
  }

  private joinUnknownMember(group: Group, params: JoinGroupParams, protocols: ProtocolMetadata[], resolve: JoinCallback): void {
    if (!group.supportsProtocols(params.protocolType, protocols.map((p) => p.name))) {
      return resolve(joinError('', ErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    }
    const newMemberId = `${params.groupInstanceId ?? params.clientId}-${this.newUuid()}`;
    const oldStaticMemberId = group.staticMemberId(params.groupInstanceId);
    if (oldStaticMemberId !== undefined) {
      this.replaceStaticMember(group, oldStaticMemberId, newMemberId, params, protocols, resolve);
    } else if (params.requireKnownMemberId) {
      // The id is kept for a session timeout; the join phase waits for it to come back.
      const timer: DeadlineTimer = { fire: () => this.onPendingMemberExpired(group, newMemberId, timer) };
      group.pendingMembers.set(newMemberId, timer);
      this.timers.arm(timer, this.clock.nowMs() + params.sessionTimeoutMs);
      resolve(joinError(newMemberId, ErrorCode.MEMBER_ID_REQUIRED));
    } else {
      this.addMemberAndRebalance(group, newMemberId, params, protocols, resolve);
    }
  }

  private joinKnownMember(group: Group, params: JoinGroupParams, protocols: ProtocolMetadata[], resolve: JoinCallback): void {
    const { memberId } = params;
    if (!group.supportsProtocols(params.protocolType, protocols.map((p) => p.name))) {
      return resolve(joinError(memberId, ErrorCode.INCONSISTENT_GROUP_PROTOCOL));
    }
    if (group.isStaticMemberFenced(memberId, params.groupInstanceId)) return resolve(joinError(memberId, ErrorCode.FENCED_INSTANCE_ID));
    const pendingTimer = group.pendingMembers.get(memberId);
    if (pendingTimer !== undefined) {
      this.addMemberAndRebalance(group, memberId, params, protocols, resolve);
      return;
    }
    const member = group.get(memberId);
    const unknownInstance = params.groupInstanceId !== null && group.staticMemberId(params.groupInstanceId) === undefined;
    if (member === undefined || unknownInstance) return resolve(joinError(memberId, ErrorCode.UNKNOWN_MEMBER_ID));
    switch (group.state) {
      case 'PreparingRebalance':
        this.updateMemberAndRebalance(group, member, params, protocols, resolve);
        return;
      case 'CompletingRebalance':
        // Same metadata: the member probably missed its JoinGroup response; give it again.
        if (member.matches(protocols)) resolve(this.currentGenerationJoinResult(group, member, group.isLeader(memberId)));
        else this.updateMemberAndRebalance(group, member, params, protocols, resolve);
        return;
      case 'Stable':
        // A leader's rejoin always rebalances: that is how it reacts to metadata changes (new partitions).
        if (group.isLeader(memberId) || !member.matches(protocols)) this.updateMemberAndRebalance(group, member, params, protocols, resolve);
        else resolve(this.currentGenerationJoinResult(group, member, false));
        return;
      case 'Empty':
      case 'Dead':
        resolve(joinError(memberId, ErrorCode.UNKNOWN_MEMBER_ID));
        return;
    }
  }

  private addMemberAndRebalance(group: Group, memberId: string, params: JoinGroupParams, protocols: ProtocolMetadata[], resolve: JoinCallback): void {
    const member = new GroupMember({
      memberId,
      groupInstanceId: params.groupInstanceId,
      clientId: params.clientId,
      clientHost: params.clientHost,
      sessionTimeoutMs: params.sessionTimeoutMs,
      rebalanceTimeoutMs: params.rebalanceTimeoutMs,
      protocolType: params.protocolType,
      protocols,
    });
    member.awaitingJoin = resolve;
    member.sessionTimer = { fire: () => this.onSessionExpired(group, member) };
    const pendingTimer = group.pendingMembers.get(memberId);
    if (pendingTimer !== undefined) {
      this.timers.disarm(pendingTimer);
      group.pendingMembers.delete(memberId);
    }
    if (group.is('PreparingRebalance') && group.generationId === 0) group.newMemberAdded = true;
    group.add(member);
    this.armSession(member);
    this.maybePrepareRebalance(group, `member ${memberId} joined`);
  }

  private updateMemberAndRebalance(group: Group, member: GroupMember, params: JoinGroupParams, protocols: ProtocolMetadata[], resolve: JoinCallback): void {
    group.updateProtocols(member, protocols);
    member.rebalanceTimeoutMs = params.rebalanceTimeoutMs;
    member.sessionTimeoutMs = params.sessionTimeoutMs;
    member.clientId = params.clientId;
    member.clientHost = params.clientHost;
    // A second JoinGroup while one waits replaces it; the first is answered so that nothing hangs.
    const superseded = member.awaitingJoin;
    group.setAwaitingJoin(member, resolve);
    superseded?.(joinError(member.memberId, ErrorCode.REBALANCE_IN_PROGRESS));
    this.maybePrepareRebalance(group, `member ${member.memberId} rejoined`);
  }

  /**
   * A static member (known instance id) joins without a member id: it takes a new id and the old
   * one is fenced. With the same protocols in a Stable group, nothing else changes (no rebalance).
   */
  private replaceStaticMember(
    group: Group,
    oldMemberId: string,
    newMemberId: string,
    params: JoinGroupParams,
    protocols: ProtocolMetadata[],
    resolve: JoinCallback,
  ): void {
    const oldMember = group.get(oldMemberId)!;
    const previousLeaderId = group.leaderId;
    const wasLeader = group.isLeader(oldMemberId);
    const wasPendingSync = group.pendingSyncMembers.has(oldMemberId);
    const protocolsUnchanged = oldMember.matches(protocols);
    this.removeMember(group, oldMember, ErrorCode.FENCED_INSTANCE_ID);
    const member = new GroupMember({
      memberId: newMemberId,
      groupInstanceId: params.groupInstanceId,
      clientId: params.clientId,
      clientHost: params.clientHost,
      sessionTimeoutMs: params.sessionTimeoutMs,
      rebalanceTimeoutMs: params.rebalanceTimeoutMs,
      protocolType: params.protocolType,
      protocols,
    });
    member.assignment = oldMember.assignment;
    member.sessionTimer = { fire: () => this.onSessionExpired(group, member) };
    group.add(member);
    if (wasLeader) group.leaderId = newMemberId;
    if (wasPendingSync) group.pendingSyncMembers.add(newMemberId);
    this.armSession(member);
    this.logger.info({ groupId: group.groupId, groupInstanceId: params.groupInstanceId, oldMemberId, newMemberId }, 'static member replaced');
    if (group.is('Stable') && protocolsUnchanged) {
      // The current leader keeps its role; the new id is not announced as leader (before v9) so
      // that it does not compute an assignment a Stable group would never distribute.
      const skipAssignment = wasLeader && params.supportsSkipAssignment;
      resolve({
        ...this.currentGenerationJoinResult(group, member, skipAssignment),
        leaderId: skipAssignment ? newMemberId : (previousLeaderId ?? ''),
        skipAssignment,
      });
      return;
    }
    group.setAwaitingJoin(member, resolve);
    this.maybePrepareRebalance(group, `static member ${params.groupInstanceId} rejoined with new metadata`);
  }

  private currentGenerationJoinResult(group: Group, member: GroupMember, withMembers: boolean): JoinGroupResult {
    return {
      errorCode: ErrorCode.NONE,
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leaderId: group.leaderId ?? '',
      memberId: member.memberId,
      skipAssignment: false,
      members: withMembers ? this.memberMetadataList(group) : [],
    };
  }

  private memberMetadataList(group: Group): JoinGroupResult['members'] {
    return [...group.members.values()].map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadataFor(group.protocolName) }));
  }

  // ---- Rebalance phases ---------------------------------------------------------------------

  private maybePrepareRebalance(group: Group, reason: string): void {
    if (group.is('Stable') || group.is('CompletingRebalance') || group.is('Empty')) this.prepareRebalance(group, reason);
  }

  private prepareRebalance(group: Group, reason: string): void {
    if (group.is('CompletingRebalance')) this.resetAssignments(group, ErrorCode.REBALANCE_IN_PROGRESS);
    this.clearPendingSync(group);
    const rebalanceTimeoutMs = group.rebalanceTimeoutMs();
    let delayMs: number;
    if (group.is('Empty')) {
      // An empty group's first join waits a little for the other members (group.initial.rebalance.delay.ms).
      const initialDelayMs = this.config.groupInitialRebalanceDelayMs;
      group.isInitialJoin = true;
      group.newMemberAdded = false;
      delayMs = Math.min(initialDelayMs, rebalanceTimeoutMs);
      group.initialJoinRemainingMs = Math.max(rebalanceTimeoutMs - initialDelayMs, 0);
    } else {
      group.isInitialJoin = false;
      delayMs = rebalanceTimeoutMs;
    }
    group.transitionTo('PreparingRebalance');
    this.logger.info({ groupId: group.groupId, generationId: group.generationId, reason }, 'preparing to rebalance group');
    if (group.isInitialJoin && delayMs === 0) {
      this.completeJoin(group);
      return;
    }
    group.joinTimer ??= { fire: () => this.onJoinDeadline(group) };
    this.timers.arm(group.joinTimer, this.clock.nowMs() + delayMs);
    this.tryCompleteJoin(group);
  }

  /** Completes the join phase once every member has rejoined (the initial delay always runs out). */
  private tryCompleteJoin(group: Group): void {
    if (!group.is('PreparingRebalance') || group.isInitialJoin) return;
    if (group.hasAllMembersJoined()) this.completeJoin(group);
  }

  private onJoinDeadline(group: Group): void {
    if (!group.is('PreparingRebalance') || this.groups.get(group.groupId) !== group) return;
    if (group.isInitialJoin && group.newMemberAdded && group.initialJoinRemainingMs > 0) {
      // Members are still arriving: wait another initial delay, within the rebalance timeout.
      const initialDelayMs = this.config.groupInitialRebalanceDelayMs;
      group.newMemberAdded = false;
      const delayMs = Math.min(initialDelayMs, group.initialJoinRemainingMs);
      group.initialJoinRemainingMs = Math.max(group.initialJoinRemainingMs - initialDelayMs, 0);
      this.timers.arm(group.joinTimer!, this.clock.nowMs() + delayMs);
      return;
    }
    this.completeJoin(group);
  }

  /**
   * Ends the join phase: members that did not rejoin are removed (static ones stay until their
   * session expires), the next generation starts, and every waiting JoinGroup is answered.
   */
  private completeJoin(group: Group): void {
    if (group.joinTimer !== undefined) this.timers.disarm(group.joinTimer);
    for (const member of group.notYetRejoinedMembers()) {
      if (member.isStatic) continue;
      this.logger.info({ groupId: group.groupId, memberId: member.memberId }, 'removing member that did not rejoin in time');
      this.removeMember(group, member, ErrorCode.UNKNOWN_MEMBER_ID);
    }
    if (group.members.size > 0 && !group.maybeElectNewJoinedLeader()) {
      // Only static members that have not rejoined are left: wait for them or their sessions.
      group.isInitialJoin = false;
      group.joinTimer ??= { fire: () => this.onJoinDeadline(group) };
      this.timers.arm(group.joinTimer, this.clock.nowMs() + group.rebalanceTimeoutMs());
      return;
    }
    group.isInitialJoin = false;
    group.generationId++;
    if (group.members.size === 0) {
      group.protocolName = null;
      group.subscribedTopics = undefined;
      group.transitionTo('Empty');
      this.logger.info({ groupId: group.groupId, generationId: group.generationId }, 'group is empty');
      this.scheduleCleanup(group);
      return;
    }
    group.protocolName = group.selectProtocol();
    group.subscribedTopics = subscribedTopicsOf(group);
    group.transitionTo('CompletingRebalance');
    for (const member of group.members.values()) group.pendingSyncMembers.add(member.memberId);
    group.syncTimer ??= { fire: () => this.onSyncDeadline(group) };
    this.timers.arm(group.syncTimer, this.clock.nowMs() + group.rebalanceTimeoutMs());
    this.logger.info(
      { groupId: group.groupId, generationId: group.generationId, protocolName: group.protocolName, members: group.members.size, leaderId: group.leaderId },
      'group join phase complete',
    );
    for (const member of group.members.values()) {
      const callback = member.awaitingJoin;
      if (callback === undefined) continue;
      group.setAwaitingJoin(member, undefined);
      this.armSession(member);
      callback(this.currentGenerationJoinResult(group, member, group.isLeader(member.memberId)));
    }
  }

  /** The sync phase ran out: members that never sent SyncGroup are removed and the group rebalances. */
  private onSyncDeadline(group: Group): void {
    if (this.groups.get(group.groupId) !== group || group.pendingSyncMembers.size === 0) return;
    if (!group.is('CompletingRebalance') && !group.is('Stable')) return;
    const missing = [...group.pendingSyncMembers];
    this.logger.info({ groupId: group.groupId, generationId: group.generationId, missing }, 'members did not sync in time');
    for (const memberId of missing) {
      const member = group.get(memberId);
      if (member !== undefined) this.removeMember(group, member, ErrorCode.UNKNOWN_MEMBER_ID);
    }
    this.prepareRebalance(group, 'members did not send SyncGroup within the rebalance timeout');
  }

  private clearPendingSync(group: Group): void {
    group.pendingSyncMembers.clear();
    if (group.syncTimer !== undefined) this.timers.disarm(group.syncTimer);
  }

  private removePendingSync(group: Group, memberId: string): void {
    group.pendingSyncMembers.delete(memberId);
    if (group.pendingSyncMembers.size === 0 && group.syncTimer !== undefined) this.timers.disarm(group.syncTimer);
  }

  /** A rebalance started while assignments were being handed out: waiting SyncGroups get `errorCode`. */
  private resetAssignments(group: Group, errorCode: number): void {
    for (const member of group.members.values()) {
      member.assignment = NO_BYTES;
      this.answerSync(group, member, { errorCode, protocolType: group.protocolType, protocolName: group.protocolName, assignment: NO_BYTES });
    }
  }

  private answerSync(group: Group, member: GroupMember, result: SyncGroupResult): void {
    const callback = member.awaitingSync;
    if (callback === undefined) return;
    member.awaitingSync = undefined;
    if (group.get(member.memberId) === member) this.armSession(member);
    callback(result);
  }

  // ---- SyncGroup ----------------------------------------------------------------------------

  /** SyncGroup: the leader's call hands out the assignments; followers wait for it. */
  syncGroup(params: SyncGroupParams): Promise<SyncGroupResult> {
    return new Promise((resolve) => {
      const fail = (errorCode: number) => resolve({ errorCode, protocolType: null, protocolName: null, assignment: NO_BYTES });
      if (this.closed) return fail(ErrorCode.NOT_COORDINATOR);
      if (params.groupId === '') return fail(ErrorCode.INVALID_GROUP_ID);
      const group = this.groups.get(params.groupId);
      if (group === undefined) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      if (group.isStaticMemberFenced(params.memberId, params.groupInstanceId)) return fail(ErrorCode.FENCED_INSTANCE_ID);
      const member = group.get(params.memberId);
      if (member === undefined) return fail(ErrorCode.UNKNOWN_MEMBER_ID);
      if (params.generationId !== group.generationId) return fail(ErrorCode.ILLEGAL_GENERATION);
      if (params.protocolType !== null && params.protocolType !== group.protocolType) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
      if (params.protocolName !== null && params.protocolName !== group.protocolName) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
      switch (group.state) {
        case 'Empty':
        case 'Dead':
          return fail(ErrorCode.UNKNOWN_MEMBER_ID);
        case 'PreparingRebalance':
          return fail(ErrorCode.REBALANCE_IN_PROGRESS);
        case 'CompletingRebalance': {
          const superseded = member.awaitingSync;
          member.awaitingSync = resolve;
          superseded?.({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS, protocolType: null, protocolName: null, assignment: NO_BYTES });
          this.removePendingSync(group, member.memberId);
          // Only the leader's assignments count; what a follower sends is ignored, as in Kafka.
          if (group.isLeader(member.memberId)) this.distributeAssignments(group, params.assignments);
          return;
        }
        case 'Stable':
          this.removePendingSync(group, member.memberId);
          this.armSession(member);
          return resolve({ errorCode: ErrorCode.NONE, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment });
      }
    });
  }

  private distributeAssignments(group: Group, assignments: SyncGroupParams['assignments']): void {
    const byMember = new Map<string, Buffer>();
    for (const { memberId, assignment } of assignments) {
      if (group.has(memberId) && !byMember.has(memberId)) byMember.set(memberId, assignment);
    }
    const isConsumer = group.protocolType === CONSUMER_PROTOCOL_TYPE;
    for (const member of group.members.values()) {
      const given = byMember.get(member.memberId);
      // Copied: the request's bytes are a view of a frame buffer. Some consumers cannot decode zero bytes.
      member.assignment = given !== undefined && given.length > 0 ? Buffer.from(given) : isConsumer ? EMPTY_CONSUMER_ASSIGNMENT : NO_BYTES;
    }
    group.transitionTo('Stable');
    this.logger.info({ groupId: group.groupId, generationId: group.generationId }, 'group is stable');
    for (const member of group.members.values()) {
      this.answerSync(group, member, { errorCode: ErrorCode.NONE, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment });
    }
  }

  // ---- Heartbeat and LeaveGroup -------------------------------------------------------------

  /** Heartbeat: keeps the session alive; REBALANCE_IN_PROGRESS tells the member to rejoin. */
  heartbeat(params: HeartbeatParams): number {
    if (this.closed) return ErrorCode.NOT_COORDINATOR;
    if (params.groupId === '') return ErrorCode.INVALID_GROUP_ID;
    const group = this.groups.get(params.groupId);
    if (group === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (group.isStaticMemberFenced(params.memberId, params.groupInstanceId)) return ErrorCode.FENCED_INSTANCE_ID;
    const member = group.get(params.memberId);
    if (member === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (params.generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
    switch (group.state) {
      case 'Empty':
      case 'Dead':
        return ErrorCode.UNKNOWN_MEMBER_ID;
      case 'PreparingRebalance':
        this.armSession(member);
        return ErrorCode.REBALANCE_IN_PROGRESS;
      case 'CompletingRebalance':
      case 'Stable':
        this.armSession(member);
        return ErrorCode.NONE;
    }
  }

  /** LeaveGroup: each member (v3+: a batch, static members by instance id) leaves; the group rebalances. */
  leaveGroup(groupId: string, identities: readonly MemberIdentity[]): LeaveGroupResult {
    if (this.closed) return { errorCode: ErrorCode.NOT_COORDINATOR, members: [] };
    if (groupId === '') return { errorCode: ErrorCode.INVALID_GROUP_ID, members: [] };
    const group = this.groups.get(groupId);
    if (group === undefined) {
      return { errorCode: ErrorCode.NONE, members: identities.map((identity) => ({ ...identity, errorCode: ErrorCode.UNKNOWN_MEMBER_ID })) };
    }
    const members = identities.map((identity) => ({ ...identity, errorCode: this.leaveOne(group, identity) }));
    this.scheduleCleanup(group);
    return { errorCode: ErrorCode.NONE, members };
  }

  private leaveOne(group: Group, { memberId, groupInstanceId }: MemberIdentity): number {
    let leavingId = memberId;
    if (memberId === '' && groupInstanceId !== null) {
      // An admin removing a static member knows only its instance id.
      const staticId = group.staticMemberId(groupInstanceId);
      if (staticId === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
      leavingId = staticId;
    } else if (group.isStaticMemberFenced(memberId, groupInstanceId)) {
      return ErrorCode.FENCED_INSTANCE_ID;
    }
    const pendingTimer = group.pendingMembers.get(leavingId);
    if (pendingTimer !== undefined) {
      this.timers.disarm(pendingTimer);
      group.pendingMembers.delete(leavingId);
      this.tryCompleteJoin(group);
      return ErrorCode.NONE;
    }
    const member = group.get(leavingId);
    if (member === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    this.logger.info({ groupId: group.groupId, memberId: leavingId }, 'member left the group');
    this.removeMemberAndRebalance(group, member, 'member left');
    return ErrorCode.NONE;
  }

  // ---- Member removal and expiry ------------------------------------------------------------

  /** Takes a member out; whatever it waits on is answered with `errorCode`. No rebalance here. */
  private removeMember(group: Group, member: GroupMember, errorCode: number): void {
    if (member.sessionTimer !== undefined) this.timers.disarm(member.sessionTimer);
    const joinCallback = member.awaitingJoin;
    const syncCallback = member.awaitingSync;
    group.remove(member.memberId);
    member.awaitingJoin = undefined;
    member.awaitingSync = undefined;
    if (group.pendingSyncMembers.size === 0 && group.syncTimer !== undefined) this.timers.disarm(group.syncTimer);
    joinCallback?.(joinError(member.memberId, errorCode));
    syncCallback?.({ errorCode, protocolType: null, protocolName: null, assignment: NO_BYTES });
  }

  private removeMemberAndRebalance(group: Group, member: GroupMember, reason: string): void {
    this.removeMember(group, member, ErrorCode.UNKNOWN_MEMBER_ID);
    switch (group.state) {
      case 'Stable':
      case 'CompletingRebalance':
        this.prepareRebalance(group, `${reason}: ${member.memberId}`);
        break;
      case 'PreparingRebalance':
        // It may have been the last member the join phase was waiting for.
        this.tryCompleteJoin(group);
        break;
      case 'Empty':
      case 'Dead':
        break;
    }
  }

  private onSessionExpired(group: Group, member: GroupMember): void {
    if (this.groups.get(group.groupId) !== group || group.get(member.memberId) !== member) return;
    // A member waiting on a JoinGroup or SyncGroup response cannot heartbeat; the rebalance bounds that wait.
    if (member.awaitingJoin !== undefined || member.awaitingSync !== undefined) return this.armSession(member);
    this.logger.info({ groupId: group.groupId, memberId: member.memberId, sessionTimeoutMs: member.sessionTimeoutMs }, 'member session expired');
    this.removeMemberAndRebalance(group, member, 'session expired');
    this.scheduleCleanup(group);
  }

  private onPendingMemberExpired(group: Group, memberId: string, timer: DeadlineTimer): void {
    if (group.pendingMembers.get(memberId) !== timer) return;
    group.pendingMembers.delete(memberId);
    this.tryCompleteJoin(group);
    this.scheduleCleanup(group);
  }

  private armSession(member: GroupMember): void {
    if (member.sessionTimer !== undefined) this.timers.arm(member.sessionTimer, this.clock.nowMs() + member.sessionTimeoutMs);
  }

  /*
   * When an Empty group is forgotten, as Kafka does it. Both of Kafka's coordinators keep a group
   * in memory after its last member leaves: the Scala GroupCoordinator's onCompleteJoin stores the
   * Empty group (with its protocolType: GroupMetadata.remove does not clear it, so DescribeGroups
   * and ListGroups report "consumer" with protocol "" and state Empty), and only
   * GroupMetadataManager.cleanupGroupMetadata — scheduled every offsets.retention.check.interval.ms
   * (600000 by default) — turns an `is(Empty) && !hasOffsets` group Dead and drops it, in the same
   * pass that expires its offsets. The Java coordinator (GroupCoordinatorShard.cleanupGroupMetadata
   * → GroupMetadataManager.maybeDeleteGroup) does the same on the same schedule. So an Empty group
   * is listed until the cleanup after its offsets are gone, not only until its last member leaves.
   * Here the cleanup is one timer on the shared tick, armed only while some group is Empty; a group
   * that still has an unused MEMBER_ID_REQUIRED id waits for the next pass.
   */

  /** Arms the periodic cleanup when `group` is Empty and no pass is due yet. */
  private scheduleCleanup(group: Group): void {
    if (this.closed || !group.is('Empty') || this.timers.isArmed(this.cleanupTimer)) return;
    this.timers.arm(this.cleanupTimer, this.clock.nowMs() + this.groupCleanupIntervalMs);
  }

  /** One cleanup pass: memberless Empty groups without committed offsets are forgotten. */
  private cleanupGroups(): void {
    let emptyGroupsLeft = false;
    for (const group of [...this.groups.values()]) {
      if (!group.is('Empty')) continue;
      if (group.members.size === 0 && group.pendingMembers.size === 0 && !this.offsets.hasOffsets(group.groupId)) {
        this.logger.info({ groupId: group.groupId, generationId: group.generationId }, 'empty group without offsets forgotten');
        this.discard(group);
      } else {
        emptyGroupsLeft = true;
      }
    }
    if (emptyGroupsLeft && !this.closed) this.timers.arm(this.cleanupTimer, this.clock.nowMs() + this.groupCleanupIntervalMs);
  }

  private discard(group: Group): void {
    if (this.groups.get(group.groupId) === group) this.groups.delete(group.groupId);
    for (const timer of group.pendingMembers.values()) this.timers.disarm(timer);
    group.pendingMembers.clear();
    if (group.joinTimer !== undefined) this.timers.disarm(group.joinTimer);
    if (group.syncTimer !== undefined) this.timers.disarm(group.syncTimer);
    group.transitionTo('Dead');
  }

  // ---- Offsets, admin views -----------------------------------------------------------------

  /**
   * NONE (0) when this member may commit offsets for the group now, else the Kafka error code
   * (the checks of Kafka's classic group, in its order).
   */
  validateOffsetCommit(groupId: string, memberId: string, generationId: number, groupInstanceId: string | null): number {
    if (this.closed) return ErrorCode.NOT_COORDINATOR;
    const group = this.liveGroup(groupId);
    if (group === undefined) {
      // No members: a "simple" commit (generation -1) is fine; a generation number is from a group that is gone.
      if (generationId < 0) return ErrorCode.NONE;
      return this.offsets.hasOffsets(groupId) ? ErrorCode.UNKNOWN_MEMBER_ID : ErrorCode.ILLEGAL_GENERATION;
    }
    if (generationId < 0 && group.is('Empty')) return ErrorCode.NONE;
    if (generationId >= 0 || memberId !== '' || groupInstanceId !== null) {
      if (groupInstanceId !== null) {
        const staticId = group.staticMemberId(groupInstanceId);
        if (staticId === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
        if (staticId !== memberId) return ErrorCode.FENCED_INSTANCE_ID;
      }
      if (!group.has(memberId)) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
    } else if (!group.is('Empty')) {
      return ErrorCode.UNKNOWN_MEMBER_ID;
    }
    // Between the new generation's JoinGroup and its assignment, the member's partitions are not known yet.
    if (group.is('CompletingRebalance')) return ErrorCode.REBALANCE_IN_PROGRESS;
    return ErrorCode.NONE;
  }

  /** undefined for a group unknown here: no offsets, and no members since the last cleanup pass. */
  groupState(groupId: string): GroupState | undefined {
    const group = this.liveGroup(groupId);
    if (group !== undefined) return group.state;
    return this.offsets.hasOffsets(groupId) ? 'Empty' : undefined;
  }

  /** The topics the current generation's consumers subscribe to; undefined when unknown (no members, not a consumer group, unreadable metadata). */
  subscribedTopics(groupId: string): ReadonlySet<string> | undefined {
    const group = this.liveGroup(groupId);
    if (group === undefined || group.members.size === 0) return undefined;
    return group.subscribedTopics;
  }

  /** ListGroups: every group with members or committed offsets, filtered by state and type names (any case). */
  listGroups(filter: { states?: readonly string[]; types?: readonly string[] } = {}): ListedGroup[] {
    const states = new Set((filter.states ?? []).map((state) => state.toLowerCase()));
    const types = new Set((filter.types ?? []).map((type) => type.toLowerCase()));
    if (types.size > 0 && !types.has(CLASSIC_GROUP_TYPE)) return [];
    const listed: ListedGroup[] = [];
    const seen = new Set<string>();
    for (const groupId of [...this.groups.keys()]) {
      const group = this.liveGroup(groupId);
      if (group === undefined) continue;
      seen.add(groupId);
      listed.push({ groupId, protocolType: group.protocolType ?? '', state: group.state, groupType: CLASSIC_GROUP_TYPE });
    }
    for (const groupId of this.offsets.groupIds()) {
      if (seen.has(groupId)) continue;
      listed.push({ groupId, protocolType: '', state: 'Empty', groupType: CLASSIC_GROUP_TYPE });
    }
    return states.size === 0 ? listed : listed.filter((group) => states.has(group.state.toLowerCase()));
  }

  /** DescribeGroups for one group: an unknown group is reported as "Dead" without an error, as Kafka does. */
  describeGroup(groupId: string): DescribedGroup {
    if (this.closed) return { errorCode: ErrorCode.NOT_COORDINATOR, groupId, groupState: '', protocolType: '', protocolData: '', members: [] };
    const group = this.liveGroup(groupId);
    if (group === undefined) {
      const state: GroupState = this.offsets.hasOffsets(groupId) ? 'Empty' : 'Dead';
      return { errorCode: ErrorCode.NONE, groupId, groupState: state, protocolType: '', protocolData: '', members: [] };
    }
    // Metadata and assignments belong to a generation: only a Stable group's are shown.
    const stable = group.is('Stable');
    return {
      errorCode: ErrorCode.NONE,
      groupId,
      groupState: group.state,
      protocolType: group.protocolType ?? '',
      protocolData: stable ? (group.protocolName ?? '') : '',
      members: [...group.members.values()].map((member) => ({
        memberId: member.memberId,
        groupInstanceId: member.groupInstanceId,
        clientId: member.clientId,
        clientHost: member.clientHost,
        memberMetadata: stable ? member.metadataFor(group.protocolName) : NO_BYTES,
        memberAssignment: stable ? member.assignment : NO_BYTES,
      })),
    };
  }

  /** DeleteGroups: empty groups go, with their committed offsets; groups with members are refused. */
  async deleteGroups(groupIds: readonly string[]): Promise<Array<{ groupId: string; errorCode: number }>> {
    const unique = [...new Set(groupIds)];
    return Promise.all(unique.map(async (groupId) => ({ groupId, errorCode: await this.deleteGroup(groupId) })));
  }

  private async deleteGroup(groupId: string): Promise<number> {
    if (this.closed) return ErrorCode.NOT_COORDINATOR;
    const group = this.liveGroup(groupId);
    const hasOffsets = this.offsets.hasOffsets(groupId);
    if (group === undefined && !hasOffsets) return ErrorCode.GROUP_ID_NOT_FOUND;
    if (group !== undefined && !group.is('Empty')) return ErrorCode.NON_EMPTY_GROUP;
    if (group !== undefined) this.discard(group);
    if (!hasOffsets) return ErrorCode.NONE;
    try {
      await this.offsets.deleteGroup(groupId);
      this.logger.info({ groupId }, 'group deleted');
      return ErrorCode.NONE;
    } catch (error) {
      this.logger.warn({ groupId, err: error }, 'deleting the offsets of a group failed');
      return errorCodeOf(error);
    }
  }

  /** The group in memory, Empty ones included until a cleanup pass forgets them. */
  private liveGroup(groupId: string): Group | undefined {
    return this.groups.get(groupId);
  }

  /** Groups in memory by state (for tests and metrics). */
  groupCounts(): Record<GroupState, number> {
    const counts = Object.fromEntries(GROUP_STATES.map((state) => [state, 0])) as Record<GroupState, number>;
    for (const group of this.groups.values()) counts[group.state]++;
    return counts;
  }

  /** Answers every waiting JoinGroup and SyncGroup with NOT_COORDINATOR (clients look for the coordinator again) and stops every timer. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.timers.close();
    for (const group of this.groups.values()) {
      for (const member of group.members.values()) {
        const joinCallback = member.awaitingJoin;
        const syncCallback = member.awaitingSync;
        group.setAwaitingJoin(member, undefined);
        member.awaitingSync = undefined;
        joinCallback?.(joinError(member.memberId, ErrorCode.NOT_COORDINATOR));
        syncCallback?.({ errorCode: ErrorCode.NOT_COORDINATOR, protocolType: null, protocolName: null, assignment: NO_BYTES });
      }
    }
    this.groups.clear();
    return Promise.resolve();
  }
}

type JoinCallback = (result: JoinGroupResult) => void;

function joinError(memberId: string, errorCode: number): JoinGroupResult {
  return { errorCode, generationId: -1, protocolType: null, protocolName: null, leaderId: '', memberId, skipAssignment: false, members: [] };
}

/** The protocols with duplicates dropped (the first wins) and metadata copied out of the request frame. */
function distinctProtocols(protocols: readonly ProtocolMetadata[]): ProtocolMetadata[] {
  const seen = new Set<string>();
  const result: ProtocolMetadata[] = [];
  for (const { name, metadata } of protocols) {
    if (seen.has(name)) continue;
    seen.add(name);
    result.push({ name, metadata: Buffer.from(metadata) });
  }
  return result;
}

/** The union of the consumers' subscriptions; undefined unless every member's is readable. */
function subscribedTopicsOf(group: Group): ReadonlySet<string> | undefined {
  if (group.protocolType !== CONSUMER_PROTOCOL_TYPE) return undefined;
  const topics = new Set<string>();
  try {
    for (const member of group.members.values()) {
      for (const topic of decodeConsumerSubscription(member.metadataFor(group.protocolName)).topics) topics.add(topic);
    }
  } catch {
    return undefined;
  }
  return topics;
}
