import { Partitioners, type PartitionMetadata } from 'kafkajs';

/** One consumed record as kcat prints it with `-f '%k:%s:%p:%o\n'`. */
export interface ConsumedLine {
  readonly key: string;
  readonly value: string;
  readonly partition: number;
  readonly offset: number;
}

/** `count` lines `key:value` over `keyCount` keys; each value is `key.sequence`, the sequence growing per key. */
export function keyedLines(count: number, keyCount: number): Array<{ key: string; value: string }> {
  const sequenceByKey = new Map<string, number>();
  return Array.from({ length: count }, (_, i) => {
    const key = `key-${i % keyCount}`;
    const sequence = sequenceByKey.get(key) ?? 0;
    sequenceByKey.set(key, sequence + 1);
    return { key, value: `${key}.${sequence}` };
  });
}

/** Parses kcat `%k:%s:%p:%o` lines (keys and values here never contain ':'). */
export function parseConsumed(stdout: string): ConsumedLine[] {
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [key, value, partition, offset] = line.split(':');
      return { key: key!, value: value!, partition: Number(partition), offset: Number(offset) };
    });
}

export interface ConsumedCheck {
  /** Partitions whose offsets are not exactly 0..n-1 in the order read. */
  readonly sparsePartitions: number[];
  /** Keys seen in more than one partition. */
  readonly splitKeys: string[];
  /** Keys whose values were not read in the order they were produced (their `.N` suffixes must grow). */
  readonly reorderedKeys: string[];
  readonly countByPartition: Map<number, number>;
}

/**
 * What Kafka promises a consumer of one run of keyed produce: dense offsets per partition, one
 * partition per key, and each key's records in produce order.
 */
export function checkConsumed(lines: readonly ConsumedLine[]): ConsumedCheck {
  const nextOffset = new Map<number, number>();
  const sparse = new Set<number>();
  const partitionOfKey = new Map<string, number>();
  const split = new Set<string>();
  const lastSequence = new Map<string, number>();
  const reordered = new Set<string>();
  for (const line of lines) {
    const expected = nextOffset.get(line.partition) ?? 0;
    if (line.offset !== expected) sparse.add(line.partition);
    nextOffset.set(line.partition, line.offset + 1);
    const known = partitionOfKey.get(line.key);
    if (known !== undefined && known !== line.partition) split.add(line.key);
    partitionOfKey.set(line.key, line.partition);
    const sequence = Number(line.value.slice(line.value.lastIndexOf('.') + 1));
    if (sequence <= (lastSequence.get(line.key) ?? -1)) reordered.add(line.key);
    lastSequence.set(line.key, sequence);
  }
  return { sparsePartitions: [...sparse], splitKeys: [...split], reorderedKeys: [...reordered], countByPartition: nextOffset };
}

/** The partition Kafka's default partitioner (murmur2) picks, computed by kafkajs as an independent oracle. */
export function murmur2PartitionOracle(topic: string, partitionCount: number): (key: string) => number {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata: PartitionMetadata[] = Array.from({ length: partitionCount }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 1,
    replicas: [1],
    isr: [1],
  }));
  return (key) => partitioner({ topic, partitionMetadata, message: { key, value: null } });
}
