import { ErrorCode } from '@defter/protocol';
import { KafkaError } from '../errors.js';

/**
 * Checks a manual replica assignment (CreateTopics, CreatePartitions) on a single node: a
 * partition's replicas must be exactly this node. INVALID_REPLICA_ASSIGNMENT otherwise.
 */
export function checkReplicaAssignment(partitionIndex: number, brokerIds: readonly number[], nodeId: number): void {
  if (brokerIds.length === 0) {
    throw new KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `The manual partition assignment of partition ${partitionIndex} includes an empty replica list.`);
  }
  const other = brokerIds.find((id) => id !== nodeId);
  if (other !== undefined) {
    throw new KafkaError(
      ErrorCode.INVALID_REPLICA_ASSIGNMENT,
      `The manual partition assignment of partition ${partitionIndex} includes broker ${other}, but no such broker is registered.`,
    );
  }
  if (brokerIds.length > 1) {
    throw new KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `The manual partition assignment of partition ${partitionIndex} includes duplicate broker IDs.`);
  }
}
