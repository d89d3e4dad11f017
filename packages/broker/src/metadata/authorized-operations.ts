/*
 * Kafka's `authorized_operations` bit fields (KIP-430): bit n set = ACL operation n allowed. This
 * broker has no authorizer, so everything a resource type supports is allowed, which is what Kafka
 * reports without an authorizer too.
 */

/** Sent when the client did not ask for authorized operations. */
export const AUTHORIZED_OPERATIONS_OMITTED = -2147483648;

/** ACL operation codes (org.apache.kafka.common.acl.AclOperation). */
const AclOperation = {
  READ: 3,
  WRITE: 4,
  CREATE: 5,
  DELETE: 6,
  ALTER: 7,
  DESCRIBE: 8,
  CLUSTER_ACTION: 9,
  DESCRIBE_CONFIGS: 10,
  ALTER_CONFIGS: 11,
  IDEMPOTENT_WRITE: 12,
  CREATE_TOKENS: 13,
  DESCRIBE_TOKENS: 14,
} as const;

function bits(operations: readonly number[]): number {
  return operations.reduce((field, operation) => field | (1 << operation), 0);
}

/** Everything a TOPIC resource supports. */
export const TOPIC_OPERATIONS_ALL = bits([
  AclOperation.READ,
  AclOperation.WRITE,
  AclOperation.CREATE,
  AclOperation.DELETE,
  AclOperation.ALTER,
  AclOperation.DESCRIBE,
  AclOperation.DESCRIBE_CONFIGS,
  AclOperation.ALTER_CONFIGS,
]);

/** Everything the CLUSTER resource supports. */
export const CLUSTER_OPERATIONS_ALL = bits([
  AclOperation.CREATE,
  AclOperation.ALTER,
  AclOperation.DESCRIBE,
  AclOperation.CLUSTER_ACTION,
  AclOperation.DESCRIBE_CONFIGS,
  AclOperation.ALTER_CONFIGS,
  AclOperation.IDEMPOTENT_WRITE,
  AclOperation.CREATE_TOKENS,
  AclOperation.DESCRIBE_TOKENS,
]);
