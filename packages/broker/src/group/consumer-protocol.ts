import { ConsumerProtocolAssignmentSchema, ConsumerProtocolSubscriptionSchema, decodeVersionedData, encodeVersionedData } from '@defter/protocol';

/*
 * The "consumer" embedded protocol (ConsumerProtocolSubscription / ConsumerProtocolAssignment,
 * generated from their specs and read by `decodeVersionedData`): the bytes consumers put in
 * JoinGroup metadata and SyncGroup assignments. The coordinator treats them as opaque except in
 * three places: it reads the subscribed topics (OffsetDelete must not delete offsets of a topic a
 * Stable group consumes), it hands out a valid empty assignment instead of zero bytes (some clients
 * cannot decode those), and tools show which member owns which partition.
 */

/** The protocol type consumers join with. */
export const CONSUMER_PROTOCOL_TYPE = 'consumer';

export interface ConsumerTopicPartitions {
  readonly topic: string;
  readonly partitions: readonly number[];
}

export interface ConsumerSubscription {
  readonly version: number;
  readonly topics: readonly string[];
  readonly userData: Buffer | null;
  /** Versions 1+ (cooperative rebalancing); empty before. */
  readonly ownedPartitions: readonly ConsumerTopicPartitions[];
}

export interface ConsumerAssignment {
  readonly version: number;
  readonly assignedPartitions: readonly ConsumerTopicPartitions[];
  readonly userData: Buffer | null;
}

/** Decodes a member's subscription. Throws only `DecodeError`. */
export function decodeConsumerSubscription(bytes: Buffer): ConsumerSubscription {
  const { version, data } = decodeVersionedData(ConsumerProtocolSubscriptionSchema, bytes);
  return { version, topics: data.topics, userData: data.userData, ownedPartitions: data.ownedPartitions ?? [] };
}

/** Decodes an assignment. Throws only `DecodeError`. */
export function decodeConsumerAssignment(bytes: Buffer): ConsumerAssignment {
  const { version, data } = decodeVersionedData(ConsumerProtocolAssignmentSchema, bytes);
  return { version, assignedPartitions: data.assignedPartitions, userData: data.userData };
}

/** Encodes an assignment at version 0 (what every client reads). */
export function encodeConsumerAssignment(assignment: Omit<ConsumerAssignment, 'version'>): Buffer {
  // The generated data types are mutable; the codec only reads them.
  const assignedPartitions = assignment.assignedPartitions.map(({ topic, partitions }) => ({ topic, partitions: [...partitions] }));
  return encodeVersionedData(ConsumerProtocolAssignmentSchema, 0, { assignedPartitions, userData: assignment.userData });
}

/** An assignment of nothing, as the Java client encodes it: sent instead of zero bytes. */
export const EMPTY_CONSUMER_ASSIGNMENT: Buffer = encodeConsumerAssignment({ assignedPartitions: [], userData: null });
