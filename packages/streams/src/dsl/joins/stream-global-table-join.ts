import { concatMap, toArray, type OperatorFunction } from 'rxjs';
import type { GlobalTableReplica } from '../../runtime/global-table.js';
import type { StreamRecord } from '../stream-record.js';

/**
 * Stream–globalTable join: `keySelector` maps each stream record to a key of the global table
 * (any key: a global table holds every partition, so no co-partitioning), looked up in this
 * instance's replica, one read per batch. Inner: no row → dropped; left: joined with null. Stream
 * records with a null value, and those whose selected key is null, are dropped (inner) or joined
 * with null (left).
 */
export function streamGlobalTableJoin<K, V, KG, VG, VR>(
  replica: () => GlobalTableReplica<KG, VG>,
  keySelector: (record: StreamRecord<K, V>) => KG | null,
  kind: 'inner' | 'left',
  joiner: (value: V, tableValue: VG | null, record: StreamRecord<K, V>) => VR,
): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, VR>> {
  return (source) =>
    source.pipe(
      toArray(),
      concatMap(async (records) => {
        const applicable = records.filter((record) => record.value !== null);
        if (applicable.length === 0) return [];
        const keys = applicable.map((record) => keySelector(record));
        const values = await replica().getMany(keys);
        const joined: Array<StreamRecord<K, VR>> = [];
        applicable.forEach((record, index) => {
          const tableValue = values[index] ?? null;
          if (tableValue === null && kind === 'inner') return;
          joined.push({ ...record, value: joiner(record.value as V, tableValue, record) });
        });
        return joined;
      }),
      concatMap((joined) => joined),
    );
}
