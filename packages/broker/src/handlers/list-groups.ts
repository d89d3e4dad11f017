import { ApiKey, ErrorCode } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';

/** ListGroups v0–5: every group with members or committed offsets; v4+ filter by state, v5 by type. */
export const listGroupsHandler = defineHandler({
  apiKey: ApiKey.ListGroups,
  minVersion: 0,
  maxVersion: 5,
  handle(request, context) {
    const version = context.header.apiVersion;
    const groups = context.broker.groupCoordinator.listGroups({
      states: version >= 4 ? (request.statesFilter ?? []) : [],
      types: version >= 5 ? (request.typesFilter ?? []) : [],
    });
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.NONE,
      groups: groups.map((group) => ({ groupId: group.groupId, protocolType: group.protocolType, groupState: group.state, groupType: group.groupType })),
    };
  },
});
