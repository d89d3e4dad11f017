import { ApiKey } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { AUTHORIZED_OPERATIONS_OMITTED } from '../metadata/authorized-operations.js';

/** ACL operations a GROUP resource supports (READ, DELETE, DESCRIBE); without an authorizer all are allowed. */
const GROUP_OPERATIONS_ALL = (1 << 3) | (1 << 6) | (1 << 8);

/** DescribeGroups v0–5: state, protocol, members with client id and host; metadata and assignments while Stable. */
export const describeGroupsHandler = defineHandler({
  apiKey: ApiKey.DescribeGroups,
  minVersion: 0,
  maxVersion: 5,
  handle(request, context) {
    const { groupCoordinator } = context.broker;
    const authorizedOperations = request.includeAuthorizedOperations ? GROUP_OPERATIONS_ALL : AUTHORIZED_OPERATIONS_OMITTED;
    return {
      throttleTimeMs: 0,
      groups: request.groups.map((groupId) => {
        const group = groupCoordinator.describeGroup(groupId);
        return { ...group, members: [...group.members], authorizedOperations };
      }),
    };
  },
});
