import { ApiKey, ErrorCode, type AlterConfigsResponseAlterConfigsResourceResponse } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { adminFailure, duplicatesIn } from '../metadata/admin-failure.js';
import { alterResourceConfigs } from '../metadata/alter-resource-configs.js';

/**
 * AlterConfigs v0–2: replaces a topic's whole override set (configs not named return to their
 * defaults). Broker settings are fixed at start-up. Each resource succeeds or fails on its own.
 */
export const alterConfigsHandler = defineHandler({
  apiKey: ApiKey.AlterConfigs,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, context) {
    const { logger } = context.broker;
    const duplicates = duplicatesIn(request.resources.map(({ resourceType, resourceName }) => `${resourceType}:${resourceName}`));
    const responses: AlterConfigsResponseAlterConfigsResourceResponse[] = [];
    for (const { resourceType, resourceName, configs } of request.resources) {
      if (duplicates.has(`${resourceType}:${resourceName}`)) {
        responses.push({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Duplicate resource in the request.', resourceType, resourceName });
        continue;
      }
      try {
        const changes = configs.map(({ name, value }) => ({ name, value, op: 'set' as const }));
        await alterResourceConfigs(context.broker, { resourceType, resourceName, changes, incremental: false, validateOnly: request.validateOnly });
        responses.push({ errorCode: ErrorCode.NONE, errorMessage: null, resourceType, resourceName });
      } catch (error) {
        responses.push({ ...adminFailure(error, logger, { api: 'AlterConfigs', resourceType, resourceName }), resourceType, resourceName });
      }
    }
    return { throttleTimeMs: 0, responses };
  },
});
