import { ApiKey, ErrorCode } from '@defter/protocol';
import type { ClusterClient } from './cluster-client.js';
import { KafkaProtocolError, type KafkaConnection } from './kafka-connection.js';

/** FindCoordinator's key types. */
export const CoordinatorKeyType = { GROUP: 0, TRANSACTION: 1 } as const;
export type CoordinatorKeyType = (typeof CoordinatorKeyType)[keyof typeof CoordinatorKeyType];

/** FindCoordinator versions this client encodes: one key per request (below the batched v4); key types other than groups need v1. */
const FIND_COORDINATOR_VERSION_MAX = 3;
/** Retriable coordinator errors (loading, moving) get this many attempts, this far apart. */
const COORDINATOR_ATTEMPTS_MAX = 10;
const COORDINATOR_RETRY_BACKOFF_MS = 200;

/** The connection to the coordinator of a group or transactional id; retries while it is loading or moving. */
export async function findCoordinator(cluster: ClusterClient, key: string, keyType: CoordinatorKeyType): Promise<KafkaConnection> {
  const bootstrap = cluster.bootstrap;
  const version = bootstrap.versionFor(ApiKey.FindCoordinator, keyType === CoordinatorKeyType.GROUP ? 0 : 1, FIND_COORDINATOR_VERSION_MAX);
  const what = keyType === CoordinatorKeyType.GROUP ? `the coordinator of group '${key}'` : `the transaction coordinator of '${key}'`;
  for (let attempt = 1; ; attempt++) {
    const response = await bootstrap.send(ApiKey.FindCoordinator, version, { key, keyType });
    const errorCode = response.errorCode ?? ErrorCode.NONE;
    if (errorCode === ErrorCode.NONE && response.nodeId !== undefined) {
      await cluster.metadata([]); // the coordinator's address by node id
      return cluster.leaderConnection(response.nodeId);
    }
    if (!isRetriableCoordinatorError(errorCode) || attempt >= COORDINATOR_ATTEMPTS_MAX) {
      throw new KafkaProtocolError(errorCode, `finding ${what}`, response.errorMessage);
    }
    await new Promise((resolve) => setTimeout(resolve, COORDINATOR_RETRY_BACKOFF_MS));
  }
}

function isRetriableCoordinatorError(code: number): boolean {
  return code === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS || code === ErrorCode.COORDINATOR_NOT_AVAILABLE || code === ErrorCode.NOT_COORDINATOR;
}
