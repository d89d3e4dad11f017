import { ApiKey } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { clientHostOf } from '../group/client-host.js';

/**
 * JoinGroup v0–9. v0 has no rebalance timeout (the session timeout serves), v4+ asks new
 * members to come back with an id (MEMBER_ID_REQUIRED), v5+ carries static instance ids, v7+
 * answers with the protocol type, v9 may tell a rejoining static leader to skip the assignment.
 */
export const joinGroupHandler = defineHandler({
  apiKey: ApiKey.JoinGroup,
  minVersion: 0,
  maxVersion: 9,
  async handle(request, context) {
    const version = context.header.apiVersion;
    const groupInstanceId = version >= 5 ? (request.groupInstanceId ?? null) : null;
    const rebalanceTimeoutMs = version >= 1 ? (request.rebalanceTimeoutMs ?? request.sessionTimeoutMs) : request.sessionTimeoutMs;
    const result = await context.broker.groupCoordinator.joinGroup({
      groupId: request.groupId,
      memberId: request.memberId,
      groupInstanceId,
      clientId: context.header.clientId ?? '',
      clientHost: clientHostOf(context.clientAddress),
      sessionTimeoutMs: request.sessionTimeoutMs,
      rebalanceTimeoutMs: Math.max(rebalanceTimeoutMs, 0),
      protocolType: request.protocolType,
      protocols: request.protocols,
      requireKnownMemberId: version >= 4 && groupInstanceId === null,
      supportsSkipAssignment: version >= 9,
    });
    return {
      throttleTimeMs: 0,
      errorCode: result.errorCode,
      generationId: result.generationId,
      protocolType: result.protocolType,
      // Nullable only from v7.
      protocolName: version >= 7 ? result.protocolName : (result.protocolName ?? ''),
      leader: result.leaderId,
      skipAssignment: result.skipAssignment,
      memberId: result.memberId,
      members: result.members.map((member) => ({ memberId: member.memberId, groupInstanceId: member.groupInstanceId, metadata: member.metadata })),
    };
  },
});
