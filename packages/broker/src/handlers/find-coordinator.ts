import { ApiKey, ErrorCode } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';

/** FindCoordinator's key types. */
const CoordinatorKeyType = { GROUP: 0, TRANSACTION: 1 } as const;

interface CoordinatorLookup {
  errorCode: number;
  errorMessage: string | null;
  nodeId: number;
  host: string;
  port: number;
}

/**
 * FindCoordinator v0–4 (v4: a batch of keys). This single node coordinates every group and every
 * transactional id. Other key types (share groups, v6) are INVALID_REQUEST.
 */
export const findCoordinatorHandler = defineHandler({
  apiKey: ApiKey.FindCoordinator,
  minVersion: 0,
  maxVersion: 4,
  handle(request, context) {
    const { config } = context.broker;
    const keyType = request.keyType ?? CoordinatorKeyType.GROUP;
    const lookup = (): CoordinatorLookup => {
      if (keyType === CoordinatorKeyType.GROUP || keyType === CoordinatorKeyType.TRANSACTION) {
        const listener = context.broker.advertisedListener();
        return { errorCode: ErrorCode.NONE, errorMessage: null, nodeId: config.nodeId, host: listener.host, port: listener.port };
      }
      return notFound(ErrorCode.INVALID_REQUEST, `unknown coordinator key type ${keyType}`);
    };
    if (context.header.apiVersion >= 4) {
      return { throttleTimeMs: 0, coordinators: (request.coordinatorKeys ?? []).map((key) => ({ key, ...lookup() })) };
    }
    return { throttleTimeMs: 0, ...lookup() };
  },
});

function notFound(errorCode: number, errorMessage: string): CoordinatorLookup {
  return { errorCode, errorMessage, nodeId: -1, host: '', port: -1 };
}
