import type { ApiHandler } from './handler.js';
import { apiVersionsHandler } from '../handlers/api-versions.js';
import { produceHandler } from '../handlers/produce.js';
import { fetchHandler } from '../handlers/fetch.js';
import { listOffsetsHandler } from '../handlers/list-offsets.js';
import { deleteRecordsHandler } from '../handlers/delete-records.js';
import { metadataHandler } from '../handlers/metadata.js';
import { createTopicsHandler } from '../handlers/create-topics.js';
import { deleteTopicsHandler } from '../handlers/delete-topics.js';
import { describeConfigsHandler } from '../handlers/describe-configs.js';
import { alterConfigsHandler } from '../handlers/alter-configs.js';
import { createPartitionsHandler } from '../handlers/create-partitions.js';
import { incrementalAlterConfigsHandler } from '../handlers/incremental-alter-configs.js';
import { describeClusterHandler } from '../handlers/describe-cluster.js';
import { offsetCommitHandler } from '../handlers/offset-commit.js';
import { offsetFetchHandler } from '../handlers/offset-fetch.js';
import { offsetDeleteHandler } from '../handlers/offset-delete.js';
import { findCoordinatorHandler } from '../handlers/find-coordinator.js';
import { joinGroupHandler } from '../handlers/join-group.js';
import { heartbeatHandler } from '../handlers/heartbeat.js';
import { leaveGroupHandler } from '../handlers/leave-group.js';
import { syncGroupHandler } from '../handlers/sync-group.js';
import { describeGroupsHandler } from '../handlers/describe-groups.js';
import { listGroupsHandler } from '../handlers/list-groups.js';
import { deleteGroupsHandler } from '../handlers/delete-groups.js';
import { describeProducersHandler } from '../handlers/describe-producers.js';
import { initProducerIdHandler } from '../handlers/init-producer-id.js';
import { addPartitionsToTxnHandler } from '../handlers/add-partitions-to-txn.js';
import { addOffsetsToTxnHandler } from '../handlers/add-offsets-to-txn.js';
import { txnOffsetCommitHandler } from '../handlers/txn-offset-commit.js';
import { endTxnHandler } from '../handlers/end-txn.js';
import { describeTransactionsHandler } from '../handlers/describe-transactions.js';
import { listTransactionsHandler } from '../handlers/list-transactions.js';

/**
 * Every API this broker serves, one module per API key under `handlers/`. Add a handler here and
 * it is served and advertised in ApiVersions.
 */
export const allHandlers: ReadonlyArray<ApiHandler<never>> = [
  produceHandler,
  fetchHandler,
  listOffsetsHandler,
  metadataHandler,
  offsetCommitHandler,
  offsetFetchHandler,
  findCoordinatorHandler,
  joinGroupHandler,
  heartbeatHandler,
  leaveGroupHandler,
  syncGroupHandler,
  describeGroupsHandler,
  listGroupsHandler,
  apiVersionsHandler,
  createTopicsHandler,
  deleteTopicsHandler,
  deleteRecordsHandler,
  describeConfigsHandler,
  alterConfigsHandler,
  createPartitionsHandler,
  deleteGroupsHandler,
  incrementalAlterConfigsHandler,
  offsetDeleteHandler,
  describeClusterHandler,
  describeProducersHandler,
  initProducerIdHandler,
  addPartitionsToTxnHandler,
  addOffsetsToTxnHandler,
  txnOffsetCommitHandler,
  endTxnHandler,
  describeTransactionsHandler,
  listTransactionsHandler,
] as ReadonlyArray<unknown> as ReadonlyArray<ApiHandler<never>>;
