import { ApiKey } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';

/** SyncGroup v0–5: the leader sends every member's assignment; each member gets its own (v5 checks protocol type and name). */
export const syncGroupHandler = defineHandler({
  apiKey: ApiKey.SyncGroup,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, context) {
    const version = context.header.apiVersion;
    const result = await context.broker.groupCoordinator.syncGroup({
      groupId: request.groupId,
      generationId: request.generationId,
      memberId: request.memberId,
      groupInstanceId: version >= 3 ? (request.groupInstanceId ?? null) : null,
      protocolType: version >= 5 ? (request.protocolType ?? null) : null,
      protocolName: version >= 5 ? (request.protocolName ?? null) : null,
      assignments: request.assignments,
    });
    return {
      throttleTimeMs: 0,
      errorCode: result.errorCode,
      protocolType: result.protocolType,
      protocolName: result.protocolName,
      assignment: result.assignment,
    };
  },
});
