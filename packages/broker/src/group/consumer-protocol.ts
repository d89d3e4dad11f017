import { DecodeError, Reader, Writer } from '@defter/protocol';

/*
 * The "consumer" embedded protocol (ConsumerProtocolSubscription / ConsumerProtocolAssignment,
 * versions 0-3, never flexible): the bytes consumers put in JoinGroup metadata and SyncGroup
 * assignments. The coordinator treats them as opaque except in three places: it reads the
 * subscribed topics (OffsetDelete must not delete offsets of a topic a Stable group consumes),
 * it hands out a valid empty assignment instead of zero bytes (some clients cannot decode those),
 * and tools show which member owns which partition.
 *
 *   Subscription => version:int16 topics:[string] user_data:nullable_bytes
 *                   owned_partitions:[topic:string partitions:[int32]] (v1+)
 *                   generation_id:int32 (v2+) rack_id:nullable_string (v3+)
 *   Assignment   => version:int16 assigned_partitions:[topic:string partitions:[int32]]
 *                   user_data:nullable_bytes
 *
 * Newer versions only append fields, so a reader stops after the fields it knows: that is how
 * the Java client reads versions newer than its own.
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
  const reader = new Reader(bytes);
  const version = readVersion(reader);
  const topicCount = reader.arrayLength(2) ?? 0;
  const topics: string[] = [];
  for (let i = 0; i < topicCount; i++) topics.push(reader.string());
  const userData = reader.nullableBytes();
  const ownedPartitions = version >= 1 ? readTopicPartitions(reader) : [];
  return { version, topics, userData, ownedPartitions };
}

/** Decodes an assignment. Throws only `DecodeError`. */
export function decodeConsumerAssignment(bytes: Buffer): ConsumerAssignment {
  const reader = new Reader(bytes);
  const version = readVersion(reader);
  const assignedPartitions = readTopicPartitions(reader);
  const userData = reader.nullableBytes();
  return { version, assignedPartitions, userData };
}

/** Encodes an assignment at version 0 (what every client reads). */
export function encodeConsumerAssignment(assignment: Omit<ConsumerAssignment, 'version'>): Buffer {
  const writer = new Writer();
  writer.int16(0);
  writer.arrayLength(assignment.assignedPartitions.length);
  for (const { topic, partitions } of assignment.assignedPartitions) {
    writer.string(topic);
    writer.arrayLength(partitions.length);
    for (const partition of partitions) writer.int32(partition);
  }
  writer.nullableBytes(assignment.userData);
  return writer.finish();
}

/** An assignment of nothing, as the Java client encodes it: sent instead of zero bytes. */
export const EMPTY_CONSUMER_ASSIGNMENT: Buffer = encodeConsumerAssignment({ assignedPartitions: [], userData: null });

function readVersion(reader: Reader): number {
  const at = reader.position;
  const version = reader.int16();
  if (version < 0) throw new DecodeError(`invalid consumer protocol version ${version}`, at, 'version');
  return version;
}

function readTopicPartitions(reader: Reader): ConsumerTopicPartitions[] {
  const topicCount = reader.arrayLength(6) ?? 0;
  const result: ConsumerTopicPartitions[] = [];
  for (let i = 0; i < topicCount; i++) {
    const topic = reader.string();
    const partitionCount = reader.arrayLength(4) ?? 0;
    const partitions: number[] = [];
    for (let j = 0; j < partitionCount; j++) partitions.push(reader.int32());
    result.push({ topic, partitions });
  }
  return result;
}
