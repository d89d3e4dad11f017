import { ApiKey, ErrorCode, type TxnOffsetCommitRequest, type TxnOffsetCommitResponseTopic } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { errorCodeOf, errorMessageOf } from '../errors.js';
import { OFFSETS_TOPIC, type CommittedOffset } from '../group/offset-store.js';

/** Generation of a commit that comes from outside the group protocol (v0-2, kafkajs, or a producer without group metadata). */
const NO_GENERATION = -1;
/** First TxnOffsetCommit version whose partitions carry the leader epoch. */
const VERSION_LEADER_EPOCH = 2;
/** First version that carries the member id, generation and group instance id (KIP-447). */
const VERSION_GROUP_METADATA = 3;
/** First version whose clients know TRANSACTION_ABORTABLE (KIP-890). */
const VERSION_TRANSACTION_ABORTABLE = 4;
/** Clients before this version may crash on COORDINATOR_LOAD_IN_PROGRESS (KAFKA-7296). */
const VERSION_LOAD_IN_PROGRESS = 2;

export type TxnOffsetToCommit = Omit<CommittedOffset, 'commitTimestampMs'>;

/** What the plan asks of the broker, so that it can be checked without one. */
export interface TxnOffsetCommitChecks {
  /** Partitions of the topic (0 when unknown). */
  partitionCount(topic: string): number;
  /** The transaction coordinator's verdict on the group's `__consumer_offsets` partition (KIP-890 part 1). */
  verifyTransaction(): number;
  /** GroupCoordinator.validateOffsetCommit's answer for the request's member, generation and instance id. */
  validateMember(): number;
  isMetadataTooLarge(metadata: string | null): boolean;
}

export interface TxnOffsetCommitPlan {
  /** The refused partitions' codes, by `keyOf(topic, partition)`. */
  readonly errors: Map<string, number>;
  readonly toCommit: TxnOffsetToCommit[];
}

/**
 * TxnOffsetCommit v0-4 (KIP-98; member fields KIP-447): a transactional producer's offsets for a
 * group, written to the group's `__consumer_offsets` partition and visible only once the
 * transaction commits (OffsetStore.commitTransactional / completeTransaction). kafkajs 2.2.4 sends
 * v0-1, librdkafka 2.x v0-3, the Java client up to v4 (v3+ carry the consumer's group metadata).
 */
export const txnOffsetCommitHandler = defineHandler({
  apiKey: ApiKey.TxnOffsetCommit,
  minVersion: 0,
  maxVersion: 4,
  async handle(request, context) {
    const { metadata, groupCoordinator, offsetStore, transactionCoordinator, logger } = context.broker;
    const version = context.header.apiVersion;
    const member = memberOf(request, version);
    const plan = planTxnOffsetCommit(request, version, {
      partitionCount: (topic) => metadata.topic(topic)?.partitions ?? 0,
      verifyTransaction: () =>
        transactionCoordinator.verifyPartition({
          transactionalId: request.transactionalId,
          producerId: request.producerId,
          producerEpoch: request.producerEpoch,
          topic: OFFSETS_TOPIC,
          partition: offsetStore.partitionFor(request.groupId),
        }),
      validateMember: () =>
        transactionalMemberCheck(groupCoordinator.validateOffsetCommit(request.groupId, member.memberId, member.generationId, member.groupInstanceId), member),
      isMetadataTooLarge: (metadataString) => offsetStore.isMetadataTooLarge(metadataString),
    });

    if (plan.toCommit.length > 0) {
      try {
        await offsetStore.commitTransactional(
          request.groupId,
          { transactionalId: request.transactionalId, producerId: request.producerId, producerEpoch: request.producerEpoch },
          plan.toCommit,
        );
      } catch (error) {
        const code = errorCodeOf(error);
        const line = { groupId: request.groupId, transactionalId: request.transactionalId, code, reason: errorMessageOf(error) };
        if (code === ErrorCode.UNKNOWN_SERVER_ERROR) logger.error({ ...line, err: error }, 'transactional offset commit failed');
        else logger.info(line, 'transactional offset commit refused');
        for (const offset of plan.toCommit) plan.errors.set(keyOf(offset.topic, offset.partition), code);
      }
    }
    return { throttleTimeMs: 0, topics: responseTopics(request, plan.errors, version) };
  },
});

/** The member fields of the request; before v3 there are none (a commit from outside the group protocol). */
export function memberOf(request: TxnOffsetCommitRequest, version: number): { generationId: number; memberId: string; groupInstanceId: string | null } {
  if (version < VERSION_GROUP_METADATA) return { generationId: NO_GENERATION, memberId: '', groupInstanceId: null };
  return { generationId: request.generationId ?? NO_GENERATION, memberId: request.memberId ?? '', groupInstanceId: request.groupInstanceId ?? null };
}

/**
 * Kafka's transactional variant of the offset-commit check, from the plain one's answer: a request
 * without member, generation or instance id is accepted whatever the group's state (older
 * TxnOffsetCommit versions have no such fields), and a member of the current generation may commit
 * while the group completes a rebalance (the transaction, not the group, decides).
 */
export function transactionalMemberCheck(plainCheck: number, member: { generationId: number; memberId: string; groupInstanceId: string | null }): number {
  const anonymous = member.generationId < 0 && member.memberId === '' && member.groupInstanceId === null;
  if (anonymous && plainCheck === ErrorCode.UNKNOWN_MEMBER_ID) return ErrorCode.NONE;
  if (plainCheck === ErrorCode.REBALANCE_IN_PROGRESS) return ErrorCode.NONE;
  return plainCheck;
}

/**
 * Decides, in Kafka's order, which partitions are refused and with what: an unknown topic or
 * partition → UNKNOWN_TOPIC_OR_PARTITION; then, for all the others at once, an empty group id →
 * INVALID_GROUP_ID, the transaction's verification failing → its code, the member check failing →
 * its code; then metadata over offset.metadata.max.bytes → OFFSET_METADATA_TOO_LARGE per partition.
 * The rest is to be committed, in request order.
 */
export function planTxnOffsetCommit(request: TxnOffsetCommitRequest, version: number, checks: TxnOffsetCommitChecks): TxnOffsetCommitPlan {
  const errors = new Map<string, number>();
  const known: Array<{ topic: string; partition: TxnOffsetCommitRequest['topics'][number]['partitions'][number] }> = [];
  for (const topic of request.topics) {
    const partitionCount = checks.partitionCount(topic.name);
    for (const partition of topic.partitions) {
      if (partition.partitionIndex < 0 || partition.partitionIndex >= partitionCount) errors.set(keyOf(topic.name, partition.partitionIndex), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      else known.push({ topic: topic.name, partition });
    }
  }
  const toCommit: TxnOffsetToCommit[] = [];
  if (known.length === 0) return { errors, toCommit };

  let requestError: number = ErrorCode.NONE;
  if (request.groupId === '') requestError = ErrorCode.INVALID_GROUP_ID;
  if (requestError === ErrorCode.NONE) requestError = checks.verifyTransaction();
  if (requestError === ErrorCode.NONE) requestError = checks.validateMember();
  for (const { topic, partition } of known) {
    const key = keyOf(topic, partition.partitionIndex);
    if (requestError !== ErrorCode.NONE) errors.set(key, requestError);
    else if (checks.isMetadataTooLarge(partition.committedMetadata)) errors.set(key, ErrorCode.OFFSET_METADATA_TOO_LARGE);
    else {
      // A partition named twice: the later entry is the one committed (and answered).
      errors.delete(key);
      toCommit.push({
        topic,
        partition: partition.partitionIndex,
        offset: partition.committedOffset,
        leaderEpoch: version >= VERSION_LEADER_EPOCH ? (partition.committedLeaderEpoch ?? -1) : -1,
        metadata: partition.committedMetadata,
      });
    }
  }
  return { errors, toCommit };
}

/**
 * The code a client of this version understands: PRODUCER_FENCED is INVALID_PRODUCER_EPOCH (what
 * producers expect from TxnOffsetCommit, as Kafka's verification sends it), TRANSACTION_ABORTABLE
 * is INVALID_TXN_STATE before v4, COORDINATOR_LOAD_IN_PROGRESS is COORDINATOR_NOT_AVAILABLE before v2.
 */
export function txnOffsetCommitClientCode(errorCode: number, version: number): number {
  if (errorCode === ErrorCode.PRODUCER_FENCED) return ErrorCode.INVALID_PRODUCER_EPOCH;
  if (errorCode === ErrorCode.TRANSACTION_ABORTABLE && version < VERSION_TRANSACTION_ABORTABLE) return ErrorCode.INVALID_TXN_STATE;
  if (errorCode === ErrorCode.COORDINATOR_LOAD_IN_PROGRESS && version < VERSION_LOAD_IN_PROGRESS) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  return errorCode;
}

/** The response, in the request's order, one entry per requested partition. */
export function responseTopics(request: TxnOffsetCommitRequest, errors: ReadonlyMap<string, number>, version: number): TxnOffsetCommitResponseTopic[] {
  return request.topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map((partition) => ({
      partitionIndex: partition.partitionIndex,
      errorCode: txnOffsetCommitClientCode(errors.get(keyOf(topic.name, partition.partitionIndex)) ?? ErrorCode.NONE, version),
    })),
  }));
}

/** Topic names cannot contain a NUL, so this key is unambiguous. */
export function keyOf(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
