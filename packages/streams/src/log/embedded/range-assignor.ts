import type { TopicPartition } from '../stream-log.js';

export interface MemberSubscription {
  readonly memberId: string;
  readonly topics: readonly string[];
}

/**
 * Kafka's "range" assignment, per topic: the members subscribed to a topic, in member-id order,
 * take contiguous ranges of its partitions, the first `partitions % members` one more. Pure and
 * deterministic, so every leader computes the same plan from the same members.
 */
export function assignRanges(members: readonly MemberSubscription[], partitionCounts: ReadonlyMap<string, number>): Map<string, TopicPartition[]> {
  const plan = new Map<string, TopicPartition[]>(members.map((member) => [member.memberId, []]));
  const topics = [...new Set(members.flatMap((member) => member.topics))].sort();
  for (const topic of topics) {
    const count = partitionCounts.get(topic) ?? 0;
    const subscribers = members.filter((member) => member.topics.includes(topic)).map((member) => member.memberId).sort();
    if (subscribers.length === 0 || count === 0) continue;
    const base = Math.floor(count / subscribers.length);
    const extra = count % subscribers.length;
    let next = 0;
    subscribers.forEach((memberId, index) => {
      const take = base + (index < extra ? 1 : 0);
      for (let partition = next; partition < next + take; partition++) plan.get(memberId)!.push({ topic, partition });
      next += take;
    });
  }
  return plan;
}
