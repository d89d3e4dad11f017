import { ApiKey, ErrorCode } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';

/**
 * LeaveGroup v0–5. v0–2 name one member and carry its error at the top level; v3+ name a batch
 * (static members may be named by instance id alone) with an error per member.
 */
export const leaveGroupHandler = defineHandler({
  apiKey: ApiKey.LeaveGroup,
  minVersion: 0,
  maxVersion: 5,
  handle(request, context) {
    const batched = context.header.apiVersion >= 3;
    const identities = batched
      ? (request.members ?? []).map((member) => ({ memberId: member.memberId, groupInstanceId: member.groupInstanceId }))
      : [{ memberId: request.memberId ?? '', groupInstanceId: null }];
    const result = context.broker.groupCoordinator.leaveGroup(request.groupId, identities);
    if (batched) return { throttleTimeMs: 0, errorCode: result.errorCode, members: result.members.map((member) => ({ ...member })) };
    const memberError = result.members.find((member) => member.errorCode !== ErrorCode.NONE)?.errorCode ?? ErrorCode.NONE;
    return { throttleTimeMs: 0, errorCode: result.errorCode !== ErrorCode.NONE ? result.errorCode : memberError };
  },
});
