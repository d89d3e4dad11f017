/** One partition of one topic. */
export interface TxnPartition {
  readonly topic: string;
  readonly partition: number;
}

/** The partitions of one topic, as `__transaction_state` and DescribeTransactions group them. */
export interface TopicPartitions {
  readonly topic: string;
  readonly partitions: readonly number[];
}

/**
 * An immutable set of topic-partitions: the partitions a transaction wrote to. Listed in a fixed
 * order (topics, then partitions, ascending) so that records and responses are deterministic.
 */
export class TopicPartitionSet implements Iterable<TxnPartition> {
  static readonly EMPTY = new TopicPartitionSet(new Map());

  private constructor(private readonly byTopic: ReadonlyMap<string, ReadonlySet<number>>) {}

  static of(partitions: Iterable<TxnPartition>): TopicPartitionSet {
    return TopicPartitionSet.EMPTY.with(partitions);
  }

  static fromTopics(topics: Iterable<TopicPartitions>): TopicPartitionSet {
    const partitions: TxnPartition[] = [];
    for (const { topic, partitions: ids } of topics) for (const partition of ids) partitions.push({ topic, partition });
    return TopicPartitionSet.of(partitions);
  }

  get size(): number {
    let count = 0;
    for (const ids of this.byTopic.values()) count += ids.size;
    return count;
  }

  get isEmpty(): boolean {
    return this.byTopic.size === 0;
  }

  has(topic: string, partition: number): boolean {
    return this.byTopic.get(topic)?.has(partition) ?? false;
  }

  /** This set plus `partitions` (this one when nothing is new). */
  with(partitions: Iterable<TxnPartition>): TopicPartitionSet {
    let copy: Map<string, Set<number>> | undefined;
    for (const { topic, partition } of partitions) {
      if ((copy ?? this.byTopic).get(topic)?.has(partition)) continue;
      copy ??= new Map([...this.byTopic].map(([name, ids]) => [name, new Set(ids)]));
      let ids = copy.get(topic);
      if (ids === undefined) copy.set(topic, (ids = new Set()));
      ids.add(partition);
    }
    return copy === undefined ? this : new TopicPartitionSet(copy);
  }

  /** This set without one partition. */
  without(topic: string, partition: number): TopicPartitionSet {
    if (!this.has(topic, partition)) return this;
    const copy = new Map([...this.byTopic].map(([name, ids]) => [name, new Set(ids)]));
    const ids = copy.get(topic)!;
    ids.delete(partition);
    if (ids.size === 0) copy.delete(topic);
    return new TopicPartitionSet(copy);
  }

  containsAll(partitions: Iterable<TxnPartition>): boolean {
    for (const { topic, partition } of partitions) if (!this.has(topic, partition)) return false;
    return true;
  }

  equals(other: TopicPartitionSet): boolean {
    return this.size === other.size && this.containsAll(other);
  }

  /** Grouped by topic, both levels ascending. */
  toTopics(): TopicPartitions[] {
    return [...this.byTopic.keys()].sort(compareStrings).map((topic) => ({
      topic,
      partitions: [...this.byTopic.get(topic)!].sort((a, b) => a - b),
    }));
  }

  *[Symbol.iterator](): Iterator<TxnPartition> {
    for (const { topic, partitions } of this.toTopics()) for (const partition of partitions) yield { topic, partition };
  }
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
