import { ApiKey, ErrorCode, type IncrementalAlterConfigsResponseAlterConfigsResourceResponse } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { KafkaError } from '../errors.js';
import { adminFailure, duplicatesIn } from '../metadata/admin-failure.js';
import { alterResourceConfigs } from '../metadata/alter-resource-configs.js';
import type { ConfigChangeOp } from '../metadata/metadata-store.js';

/** AlterConfigOp.OpType codes, in wire order. */
const OPERATIONS: readonly ConfigChangeOp[] = ['set', 'delete', 'append', 'subtract'];

/**
 * IncrementalAlterConfigs v0–1: SET / DELETE / APPEND / SUBTRACT on single configs of a topic,
 * leaving the others as they are. Each resource succeeds or fails on its own.
 */
export const incrementalAlterConfigsHandler = defineHandler({
  apiKey: ApiKey.IncrementalAlterConfigs,
  minVersion: 0,
  maxVersion: 1,
  async handle(request, context) {
    const { logger } = context.broker;
    const duplicates = duplicatesIn(request.resources.map(({ resourceType, resourceName }) => `${resourceType}:${resourceName}`));
    const responses: IncrementalAlterConfigsResponseAlterConfigsResourceResponse[] = [];
    for (const { resourceType, resourceName, configs } of request.resources) {
      if (duplicates.has(`${resourceType}:${resourceName}`)) {
        responses.push({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Duplicate resource in the request.', resourceType, resourceName });
        continue;
      }
      try {
        const changes = configs.map(({ name, value, configOperation }) => {
          const op = OPERATIONS[configOperation];
          if (op === undefined) throw new KafkaError(ErrorCode.INVALID_REQUEST, `Unknown config operation ${configOperation} for ${name}`);
          return { name, value, op };
        });
        await alterResourceConfigs(context.broker, { resourceType, resourceName, changes, incremental: true, validateOnly: request.validateOnly });
        responses.push({ errorCode: ErrorCode.NONE, errorMessage: null, resourceType, resourceName });
      } catch (error) {
        responses.push({ ...adminFailure(error, logger, { api: 'IncrementalAlterConfigs', resourceType, resourceName }), resourceType, resourceName });
      }
    }
    return { throttleTimeMs: 0, responses };
  },
});
