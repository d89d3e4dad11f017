import { ApiKey } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';

/** Heartbeat v0–4: keeps a member's session; REBALANCE_IN_PROGRESS tells it to rejoin. */
export const heartbeatHandler = defineHandler({
  apiKey: ApiKey.Heartbeat,
  minVersion: 0,
  maxVersion: 4,
  handle(request, context) {
    const errorCode = context.broker.groupCoordinator.heartbeat({
      groupId: request.groupId,
      generationId: request.generationId,
      memberId: request.memberId,
      groupInstanceId: context.header.apiVersion >= 3 ? (request.groupInstanceId ?? null) : null,
    });
    return { throttleTimeMs: 0, errorCode };
  },
});
