import { concatMap, toArray, type OperatorFunction } from 'rxjs';
import type { RunContext } from '../../topology/topology.js';
import type { StreamRecord } from '../stream-record.js';

/**
 * Stream–table join: each stream record (key, value) looks up the table's current value for its
 * key in the task's store, one preload per batch. Inner: records whose key is not in the table
 * are dropped; left: they join with null. Stream records with a null key or value are dropped (as
 * in Kafka Streams). The joined record keeps the stream record's key, timestamp and provenance.
 */
export function streamTableJoin<K, V, VT, VR>(
  context: RunContext,
  tableStore: string,
  kind: 'inner' | 'left',
  joiner: (value: V, tableValue: VT | null, record: StreamRecord<K, V>) => VR,
): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, VR>> {
  return (source) =>
    source.pipe(
      toArray(),
      concatMap(async (records) => {
        const applicable = records.filter((record) => record.key !== null && record.value !== null);
        if (applicable.length === 0) return [];
        return context.store(tableStore).update(
          applicable.map((record) => record.key),
          (view) => {
            const joined: Array<StreamRecord<K, VR>> = [];
            for (const record of applicable) {
              const tableValue = view.get(record.key) as VT | null;
              if (tableValue === null && kind === 'inner') continue;
              joined.push({ ...record, value: joiner(record.value as V, tableValue, record) });
            }
            return joined;
          },
        );
      }),
      concatMap((joined) => joined),
    );
}
