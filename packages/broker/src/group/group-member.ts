import type { DeadlineTimer } from './deadline-timers.js';
import type { JoinGroupParams, JoinGroupResult, ProtocolMetadata, SyncGroupResult } from './group-requests.js';

const NO_BYTES = Buffer.alloc(0);

/** What a member told us in its JoinGroup, with the id it was given. */
export type GroupMemberInit = Pick<
  JoinGroupParams,
  'groupInstanceId' | 'clientId' | 'clientHost' | 'sessionTimeoutMs' | 'rebalanceTimeoutMs' | 'protocolType' | 'protocols'
> & { readonly memberId: string };

/**
 * One member of a classic group: what it told us in its last JoinGroup, the assignment the
 * leader gave it, and the JoinGroup/SyncGroup it is waiting on (at most one of each).
 */
export class GroupMember {
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  readonly protocolType: string;
  protocols: readonly ProtocolMetadata[];
  assignment: Buffer = NO_BYTES;
  awaitingJoin: ((result: JoinGroupResult) => void) | undefined;
  awaitingSync: ((result: SyncGroupResult) => void) | undefined;
  /** Armed with the session deadline; the coordinator sets what firing does. */
  sessionTimer: DeadlineTimer | undefined;

  constructor(init: GroupMemberInit) {
    this.memberId = init.memberId;
    this.groupInstanceId = init.groupInstanceId;
    this.clientId = init.clientId;
    this.clientHost = init.clientHost;
    this.sessionTimeoutMs = init.sessionTimeoutMs;
    this.rebalanceTimeoutMs = init.rebalanceTimeoutMs;
    this.protocolType = init.protocolType;
    this.protocols = init.protocols;
  }

  get isStatic(): boolean {
    return this.groupInstanceId !== null;
  }

  /** The metadata this member sent for `protocolName` (empty when it does not support it). */
  metadataFor(protocolName: string | null): Buffer {
    return this.protocols.find((protocol) => protocol.name === protocolName)?.metadata ?? NO_BYTES;
  }

  /** True when `protocols` are exactly what the member already sent (names, order and metadata). */
  matches(protocols: readonly ProtocolMetadata[]): boolean {
    if (protocols.length !== this.protocols.length) return false;
    return protocols.every((protocol, i) => protocol.name === this.protocols[i]!.name && protocol.metadata.equals(this.protocols[i]!.metadata));
  }

  /** The member's most preferred protocol among `candidates` (its list is in preference order). */
  vote(candidates: ReadonlySet<string>): string | undefined {
    return this.protocols.find((protocol) => candidates.has(protocol.name))?.name;
  }
}
