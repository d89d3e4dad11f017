import type { Topology } from '../../topology/topology.js';

/**
 * Checks, at `start()` (topics resolved, repartition topics created), that the two sides of every
 * join read topics with one partition count: a join runs in the tasks of one sub-topology, and
 * task n reads partition n of every topic, so keys meet only when both sides are partitioned
 * alike (same count, same partitioner). Rejects with the join, the topics and their counts.
 */
export async function checkCopartitioning(
  topology: Topology,
  topicsBySource: ReadonlyMap<number, readonly string[]>,
  partitionCount: (topic: string) => Promise<number>,
): Promise<void> {
  for (const { description, sides } of topology.copartitionRequirements) {
    const counts: Array<{ topic: string; partitions: number }> = [];
    for (const side of sides) {
      for (const source of topology.sourcesUpstreamOf(side)) {
        for (const topic of topicsBySource.get(source.sourceId) ?? []) {
          if (!counts.some((entry) => entry.topic === topic)) counts.push({ topic, partitions: await partitionCount(topic) });
        }
      }
    }
    const most = Math.max(...counts.map((entry) => entry.partitions));
    if (counts.some((entry) => entry.partitions !== most)) {
      const listed = counts.map((entry) => `"${entry.topic}" has ${entry.partitions}`).join(', ');
      throw new Error(
        `${description} needs co-partitioned inputs (the same partition count on both sides), but ${listed} partitions: ` +
          `bring the other side to ${most} partitions with repartition({ partitions: ${most} }) before the join`,
      );
    }
  }
}
