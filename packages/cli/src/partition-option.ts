import type { TopicInfo } from './cluster-client.js';

/**
 * The partitions of a topic a command reads: all of them in metadata order, or only the one
 * `--partition` names, which must exist.
 */
export function partitionsToRead(info: TopicInfo, partition: number | undefined): number[] {
  const partitions = info.partitions.map((entry) => entry.partition);
  if (partition === undefined) return partitions;
  if (!partitions.includes(partition)) {
    throw new Error(`topic '${info.name}' has ${partitions.length} partition(s): --partition must be below ${partitions.length}`);
  }
  return [partition];
}
