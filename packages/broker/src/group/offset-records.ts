import { DecodeError, Reader, Writer } from '@defter/protocol';

/**
 * The records of `__consumer_offsets`, byte for byte as Kafka writes them, so that an operator's
 * tools (kafka-console-consumer's offsets formatter, kcat dumps) read them.
 *
 * Key = int16 version, then the key of that version:
 *   version 0 and 1 (an offset commit): group string, topic string, partition int32
 *   version 2 (group metadata): group string — not written by defter (membership is not persisted)
 * Value of an offset commit = int16 version, then:
 *   v0, v2: offset int64, metadata string, commit_timestamp int64
 *   v1:     offset int64, metadata string, commit_timestamp int64, expire_timestamp int64
 *   v3:     offset int64, leader_epoch int32, metadata string, commit_timestamp int64   (written)
 *   v4+:    as v3 with a compact metadata string and tagged fields (flexible; later versions too, KIP-915)
 * A record with a null value (a tombstone) deletes its key; compaction then drops both.
 */

/** The key version of offset commits that defter writes (Kafka writes 1; 0 has the same layout). */
export const OFFSET_COMMIT_KEY_VERSION = 1;
/** The key version of group metadata records. */
export const GROUP_METADATA_KEY_VERSION = 2;
/** The value version defter writes: the newest non-flexible one, which every Kafka since 2.1 reads. */
export const OFFSET_COMMIT_VALUE_VERSION = 3;
/** The first flexible value version; later ones are read with its layout. */
const FIRST_FLEXIBLE_VALUE_VERSION = 4;
/** Classic strings carry an int16 length: the longest group id, topic or metadata a record can hold. */
export const RECORD_STRING_BYTES_MAX = 0x7fff;

export interface OffsetCommitKey {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
}

export interface OffsetCommitValue {
  /** The committed offset (-1n and other negatives are stored as the client sent them). */
  readonly offset: bigint;
  /** -1 when unknown (and for values older than v3). */
  readonly leaderEpoch: number;
  readonly metadata: string;
  readonly commitTimestampMs: number;
  /** Only v1 values carry one; -1 otherwise. Kept for tools, ignored by the store. */
  readonly expireTimestampMs: number;
}

/** What a key in `__consumer_offsets` says. */
export type OffsetsTopicKey =
  | { readonly type: 'offset-commit'; readonly version: number; readonly key: OffsetCommitKey }
  | { readonly type: 'group-metadata'; readonly version: number; readonly group: string }
  | { readonly type: 'unknown'; readonly version: number };

export function encodeOffsetCommitKey(key: OffsetCommitKey): Buffer {
  return new Writer(8 + key.group.length + key.topic.length)
    .int16(OFFSET_COMMIT_KEY_VERSION)
    .string(key.group)
    .string(key.topic)
    .int32(key.partition)
    .finish();
}

/** A value of version 3. `expireTimestampMs` is not part of v3 and is ignored. */
export function encodeOffsetCommitValue(value: Omit<OffsetCommitValue, 'expireTimestampMs'>): Buffer {
  return new Writer(24 + value.metadata.length)
    .int16(OFFSET_COMMIT_VALUE_VERSION)
    .int64(value.offset)
    .int32(value.leaderEpoch)
    .string(value.metadata)
    .int64(BigInt(Math.trunc(value.commitTimestampMs)))
    .finish();
}

/**
 * Decodes any key of `__consumer_offsets`. Versions this store does not know (newer record types)
 * come back as `unknown`, so that the loader can skip them; malformed bytes throw `DecodeError`.
 */
export function decodeOffsetsTopicKey(bytes: Buffer): OffsetsTopicKey {
  const reader = new Reader(bytes);
  const version = reader.int16();
  if (version === 0 || version === OFFSET_COMMIT_KEY_VERSION) {
    const group = reader.string();
    const topic = reader.string();
    const partition = reader.int32();
    reader.assertFullyConsumed('OffsetCommitKey');
    return { type: 'offset-commit', version, key: { group, topic, partition } };
  }
  if (version === GROUP_METADATA_KEY_VERSION) {
    const group = reader.string();
    reader.assertFullyConsumed('GroupMetadataKey');
    return { type: 'group-metadata', version, group };
  }
  if (version < 0) throw new DecodeError(`negative key version ${version}`, 0, 'OffsetsTopicKey.version');
  return { type: 'unknown', version };
}

/** Decodes an offset commit value of any version from 0 on (see the layouts above). */
export function decodeOffsetCommitValue(bytes: Buffer): OffsetCommitValue {
  const reader = new Reader(bytes);
  const version = reader.int16();
  if (version < 0) throw new DecodeError(`negative value version ${version}`, 0, 'OffsetCommitValue.version');
  const offset = reader.int64();
  if (version >= FIRST_FLEXIBLE_VALUE_VERSION) {
    const leaderEpoch = reader.int32();
    const metadata = reader.compactString();
    const commitTimestampMs = Number(reader.int64());
    skipTaggedFields(reader);
    // A later version may only add tagged fields (KIP-915), so only the known version must end here.
    if (version === FIRST_FLEXIBLE_VALUE_VERSION) reader.assertFullyConsumed('OffsetCommitValue');
    return { offset, leaderEpoch, metadata, commitTimestampMs, expireTimestampMs: -1 };
  }
  const leaderEpoch = version >= 3 ? reader.int32() : -1;
  const metadata = reader.string();
  const commitTimestampMs = Number(reader.int64());
  const expireTimestampMs = version === 1 ? Number(reader.int64()) : -1;
  reader.assertFullyConsumed('OffsetCommitValue');
  return { offset, leaderEpoch, metadata, commitTimestampMs, expireTimestampMs };
}

/** Tagged fields: a count, then (tag, size, bytes) each; none is known here. */
function skipTaggedFields(reader: Reader): void {
  const count = reader.unsignedVarint();
  for (let i = 0; i < count; i++) {
    reader.unsignedVarint();
    const size = reader.unsignedVarint();
    reader.raw(size, 'tagged field');
  }
}
