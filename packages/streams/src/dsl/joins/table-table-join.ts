import { concatMap, map, merge, toArray, type Observable } from 'rxjs';
import type { RunContext } from '../../topology/topology.js';
import type { StreamRecord } from '../stream-record.js';
import { joinedValue, type JoinKind } from './join-kind.js';

export interface TableJoinStores {
  readonly left: string;
  readonly right: string;
  /** The join's own store: the joined rows (so that a row that stops matching is deleted once). */
  readonly joined: string;
}

/**
 * Table–table join: an update of either side (a change record of its table, whose store already
 * holds it) joins with the other table's current value for the key; the joined row is written to
 * the join's store and emitted. A row that stops matching (a side deleted, or filtered away for an
 * inner join) is emitted as a delete (null) — once: nothing is emitted when the join had no row
 * and still has none. The three stores are held together for the batch, so an update of the other
 * side cannot slip between the read and the write.
 */
export function tableTableJoin<K, L, R, VR>(
  context: RunContext,
  left: Observable<unknown>,
  right: Observable<unknown>,
  stores: TableJoinStores,
  kind: JoinKind,
  joiner: (left: L | null, right: R | null) => VR,
): Observable<StreamRecord<K, VR>> {
  const tagged = merge(
    left.pipe(map((record) => ({ fromLeft: true, record: record as StreamRecord<K, unknown> }))),
    right.pipe(map((record) => ({ fromLeft: false, record: record as StreamRecord<K, unknown> }))),
  );
  return tagged.pipe(
    toArray(),
    concatMap(async (changes) => {
      const applicable = changes.filter((change) => change.record.key !== null);
      if (applicable.length === 0) return [];
      return context.exclusive([stores.left, stores.right, stores.joined], async (access) => {
        const leftStore = access.get(stores.left)!;
        const rightStore = access.get(stores.right)!;
        const joinedStore = access.get(stores.joined)!;
        const keys = applicable.map((change) => change.record.key);
        await leftStore.preload(keys);
        await rightStore.preload(keys);
        await joinedStore.preload(keys);
        const emitted: Array<StreamRecord<K, VR>> = [];
        for (const { fromLeft, record } of applicable) {
          // The updated side's value is the change itself; the other side's is its store's now.
          const leftValue = (fromLeft ? record.value : leftStore.get(record.key)) as L | null;
          const rightValue = (fromLeft ? rightStore.get(record.key) : record.value) as R | null;
          const value = joinedValue(kind, leftValue, rightValue, joiner);
          if (value === null && joinedStore.get(record.key) === null) continue;
          joinedStore.put(record.key, value);
          emitted.push({ ...record, value });
        }
        return emitted;
      });
    }),
    concatMap((emitted) => emitted),
  );
}
