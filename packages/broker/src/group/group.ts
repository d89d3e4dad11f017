import type { DeadlineTimer } from './deadline-timers.js';
import type { GroupMember } from './group-member.js';

/** The states of a classic group, spelled as Kafka reports them. */
export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

export const GROUP_STATES: readonly GroupState[] = ['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead'];

/*
 * Kafka's classic group state machine:
 *   Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance ──leader's sync──▶ Stable
 *   Stable / CompletingRebalance ──join, leave, expiry──▶ PreparingRebalance ──no members left──▶ Empty
 * A transition from anywhere else is a programmer error.
 */
const VALID_PREVIOUS_STATES: Readonly<Record<GroupState, readonly GroupState[]>> = {
  Empty: ['PreparingRebalance'],
  PreparingRebalance: ['Stable', 'CompletingRebalance', 'Empty'],
  CompletingRebalance: ['PreparingRebalance'],
  Stable: ['CompletingRebalance'],
  Dead: ['Stable', 'PreparingRebalance', 'CompletingRebalance', 'Empty', 'Dead'],
};

/**
 * The membership of one classic group: members in join order, static members by instance id,
 * member ids handed out with MEMBER_ID_REQUIRED and not yet used, how many members support each
 * protocol, the generation and the chosen protocol. Timers and replies are the coordinator's.
 */
export class Group {
  private stateValue: GroupState = 'Empty';
  generationId = 0;
  /**
   * The type of the members' protocols, set by the first member of an empty group. Kept when the
   * last member leaves, as Kafka does: an Empty group still describes itself as "consumer".
   */
  protocolType: string | null = null;
  /** The protocol chosen for the current generation (null while Empty). */
  protocolName: string | null = null;
  leaderId: string | null = null;
  readonly members = new Map<string, GroupMember>();
  /** Member ids given out with MEMBER_ID_REQUIRED, each with the timer that forgets it. */
  readonly pendingMembers = new Map<string, DeadlineTimer>();
  /** Members that got their JoinGroup response but have not sent SyncGroup yet. */
  readonly pendingSyncMembers = new Set<string>();
  private readonly staticMembers = new Map<string, string>();
  private readonly protocolSupport = new Map<string, number>();
  private awaitingJoinCount = 0;
  /** Set when a member arrives during the first join: the initial delay is extended once more. */
  newMemberAdded = false;
  /** The join phase of an empty group waits `group.initial.rebalance.delay.ms` for more members. */
  isInitialJoin = false;
  /** What is left of the rebalance timeout for further initial-delay extensions. */
  initialJoinRemainingMs = 0;
  /** The topics the members subscribe to (consumer protocol only), computed per generation. */
  subscribedTopics: ReadonlySet<string> | undefined;
  /** Ends the join phase (the initial delay, or the rebalance timeout). */
  joinTimer: DeadlineTimer | undefined;
  /** Ends the sync phase: members that never sent SyncGroup are removed. */
  syncTimer: DeadlineTimer | undefined;

  constructor(readonly groupId: string) {}

  get state(): GroupState {
    return this.stateValue;
  }

  is(state: GroupState): boolean {
    return this.stateValue === state;
  }

  transitionTo(state: GroupState): void {
    if (!VALID_PREVIOUS_STATES[state].includes(this.stateValue)) {
      throw new Error(`group ${this.groupId} cannot go from ${this.stateValue} to ${state}`);
    }
    this.stateValue = state;
  }

  /** Members plus member ids handed out and not yet used: what `group.max.size` counts. */
  get size(): number {
    return this.members.size + this.pendingMembers.size;
  }

  get(memberId: string): GroupMember | undefined {
    return this.members.get(memberId);
  }

  has(memberId: string): boolean {
    return this.members.has(memberId);
  }

  isLeader(memberId: string): boolean {
    return this.leaderId === memberId;
  }

  staticMemberId(groupInstanceId: string | null): string | undefined {
    return groupInstanceId === null ? undefined : this.staticMembers.get(groupInstanceId);
  }

  /** A request naming a known instance id with another member id comes from a replaced (fenced) instance. */
  isStaticMemberFenced(memberId: string, groupInstanceId: string | null): boolean {
    const current = this.staticMemberId(groupInstanceId);
    return current !== undefined && current !== memberId;
  }

  add(member: GroupMember): void {
    if (this.members.has(member.memberId)) throw new Error(`member ${member.memberId} is already in group ${this.groupId}`);
    if (this.members.size === 0) this.protocolType = member.protocolType;
    this.members.set(member.memberId, member);
    if (member.groupInstanceId !== null) this.staticMembers.set(member.groupInstanceId, member.memberId);
    this.countProtocols(member, +1);
    if (member.awaitingJoin !== undefined) this.awaitingJoinCount++;
    this.leaderId ??= member.memberId;
  }

  /** Removes a member; a new leader is picked when it led. Its waiting callbacks are the caller's. */
  remove(memberId: string): GroupMember | undefined {
    const member = this.members.get(memberId);
    if (member === undefined) return undefined;
    this.countProtocols(member, -1);
    if (member.awaitingJoin !== undefined) this.awaitingJoinCount--;
    this.members.delete(memberId);
    if (member.groupInstanceId !== null && this.staticMembers.get(member.groupInstanceId) === memberId) {
      this.staticMembers.delete(member.groupInstanceId);
    }
    this.pendingSyncMembers.delete(memberId);
    if (this.leaderId === memberId) this.leaderId = this.members.keys().next().value ?? null;
    return member;
  }

  /** Changes what a member supports (a rejoin), keeping the protocol counts right. */
  updateProtocols(member: GroupMember, protocols: GroupMember['protocols']): void {
    this.countProtocols(member, -1);
    member.protocols = protocols;
    this.countProtocols(member, +1);
  }

  /** Sets or clears the JoinGroup a member waits on, keeping the count of waiting members right. */
  setAwaitingJoin(member: GroupMember, callback: GroupMember['awaitingJoin']): void {
    if (member.awaitingJoin === undefined && callback !== undefined) this.awaitingJoinCount++;
    if (member.awaitingJoin !== undefined && callback === undefined) this.awaitingJoinCount--;
    member.awaitingJoin = callback;
  }

  /** Every member has rejoined and no handed-out member id is still expected. */
  hasAllMembersJoined(): boolean {
    return this.awaitingJoinCount === this.members.size && this.pendingMembers.size === 0;
  }

  notYetRejoinedMembers(): GroupMember[] {
    return [...this.members.values()].filter((member) => member.awaitingJoin === undefined);
  }

  /** The longest rebalance timeout of the members: how long a join phase may last. */
  rebalanceTimeoutMs(): number {
    let longestMs = 0;
    for (const member of this.members.values()) longestMs = Math.max(longestMs, member.rebalanceTimeoutMs);
    return longestMs;
  }

  /**
   * Keeps the leader if it rejoined, else makes a rejoined member the leader. False when no
   * member has rejoined (the join phase cannot complete yet).
   */
  maybeElectNewJoinedLeader(): boolean {
    const leader = this.leaderId === null ? undefined : this.members.get(this.leaderId);
    if (leader?.awaitingJoin !== undefined) return true;
    for (const member of this.members.values()) {
      if (member.awaitingJoin !== undefined) {
        this.leaderId = member.memberId;
        return true;
      }
    }
    return false;
  }

  /**
   * Whether a member with this protocol type and these protocols may join: any non-empty type
   * and list when the group has no members, else the group's type and at least one protocol that
   * every member supports.
   */
  supportsProtocols(protocolType: string, protocolNames: readonly string[]): boolean {
    if (this.members.size === 0) return protocolType !== '' && protocolNames.length > 0;
    return protocolType === this.protocolType && protocolNames.some((name) => this.protocolSupport.get(name) === this.members.size);
  }

  /** The protocols every member supports. */
  candidateProtocols(): Set<string> {
    const candidates = new Set<string>();
    for (const [name, count] of this.protocolSupport) if (count === this.members.size) candidates.add(name);
    return candidates;
  }

  /** Each member votes for its most preferred candidate; the most votes win (the leader's vote breaks ties). */
  selectProtocol(): string {
    const candidates = this.candidateProtocols();
    const votes = new Map<string, number>();
    for (const member of this.members.values()) {
      const choice = member.vote(candidates);
      if (choice !== undefined) votes.set(choice, (votes.get(choice) ?? 0) + 1);
    }
    const leaderChoice = this.leaderId === null ? undefined : this.members.get(this.leaderId)?.vote(candidates);
    let best: string | undefined;
    let bestVotes = 0;
    for (const [name, count] of votes) {
      if (count > bestVotes || (count === bestVotes && name === leaderChoice)) {
        best = name;
        bestVotes = count;
      }
    }
    if (best === undefined) throw new Error(`group ${this.groupId} has no protocol that all ${this.members.size} members support`);
    return best;
  }

  private countProtocols(member: GroupMember, delta: number): void {
    for (const protocol of member.protocols) {
      const count = (this.protocolSupport.get(protocol.name) ?? 0) + delta;
      if (count === 0) this.protocolSupport.delete(protocol.name);
      else this.protocolSupport.set(protocol.name, count);
    }
  }
}
