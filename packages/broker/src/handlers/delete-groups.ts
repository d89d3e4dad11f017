import { ApiKey } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';

/** DeleteGroups v0–2: removes empty groups and their committed offsets; NON_EMPTY_GROUP while members remain. */
export const deleteGroupsHandler = defineHandler({
  apiKey: ApiKey.DeleteGroups,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, context) {
    const results = await context.broker.groupCoordinator.deleteGroups(request.groupsNames);
    return { throttleTimeMs: 0, results };
  },
});
