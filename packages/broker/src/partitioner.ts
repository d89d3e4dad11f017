/**
 * Kafka's default partitioner for keyed records (the Java client's `BuiltInPartitioner`, kafkajs's
 * DefaultPartitioner, kafka-python): `toPositive(murmur2(key)) % partitionCount`. Whenever defter
 * itself places a keyed record (the CLI, streams), it must land where those clients would put it,
 * or records with one key would be split across partitions.
 */

const MURMUR2_SEED = 0x9747b28c;
const MURMUR2_M = 0x5bd1e995;
const MURMUR2_R = 24;

/**
 * MurmurHash2, 32-bit, as `org.apache.kafka.common.utils.Utils.murmur2` computes it: little-endian
 * 4-byte words, the tail bytes folded in from the highest down. Returns a signed 32-bit integer
 * (Java's `int`); `Math.imul` keeps each multiplication in 32 bits as Java's does.
 */
export function murmur2(key: Uint8Array): number {
  const length = key.length;
  let h = MURMUR2_SEED ^ length;
  const wordsEnd = length & ~3;
  for (let i = 0; i < wordsEnd; i += 4) {
    let k = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    k = Math.imul(k, MURMUR2_M);
    k ^= k >>> MURMUR2_R;
    k = Math.imul(k, MURMUR2_M);
    h = Math.imul(h, MURMUR2_M);
    h ^= k;
  }
  const tailBytes = length & 3;
  if (tailBytes > 0) {
    if (tailBytes === 3) h ^= key[wordsEnd + 2]! << 16;
    if (tailBytes >= 2) h ^= key[wordsEnd + 1]! << 8;
    h ^= key[wordsEnd]!;
    h = Math.imul(h, MURMUR2_M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, MURMUR2_M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: clears the sign bit (not `Math.abs`, which overflows on MIN_VALUE). */
export function toPositive(value: number): number {
  return value & 0x7fffffff;
}

/** The partition Kafka's default partitioner chooses for a non-null key. */
export function partitionForKey(key: Uint8Array, partitionCount: number): number {
  if (!Number.isInteger(partitionCount) || partitionCount < 1) {
    throw new RangeError(`partitionCount must be a positive integer, got ${partitionCount}`);
  }
  return toPositive(murmur2(key)) % partitionCount;
}
