import type { GlobalTableReplica } from '../runtime/global-table.js';

/**
 * A table replicated whole in every instance of the app (`app.globalTable(topic, …)`): every
 * partition of its topic, restored before the app reports RUNNING and kept up to date by a
 * background reader. Joined from a stream with a key selector (`stream.join(globalTable,
 * keySelector, joiner)`): no co-partitioning needed. Lookups see what the replica has read so
 * far (eventually consistent; see the README, "Joins").
 */
export class GlobalKTable<K, V> {
  /** @internal */
  constructor(
    readonly name: string,
    readonly topic: string,
    /** @internal */
    readonly replica: () => GlobalTableReplica<K, V>,
  ) {}

  /** The key's current value in this instance's replica (null when absent); only while the app runs. */
  async get(key: K): Promise<V | null> {
    return this.replica().get(key);
  }
}
