import { concatMap, toArray, type OperatorFunction } from 'rxjs';
import type { StreamRecord } from '../stream-record.js';

/**
 * The batch shape of the stateful steps (aggregations, windowed or not): the whole input batch at
 * once (one store turn per batch), less null keys and what `skip` names; `run` is not called when
 * nothing is left, and what it returns is emitted in order.
 */
export function perApplicableBatch<K, V, R>(
  skip: (record: StreamRecord<K, V>) => boolean,
  run: (records: Array<StreamRecord<K, V>>) => Promise<readonly R[]>,
): OperatorFunction<StreamRecord<K, V>, R> {
  return (source) =>
    source.pipe(
      toArray(),
      concatMap(async (records) => {
        const applicable = records.filter((record) => record.key !== null && !skip(record));
        // Without records there is nothing to update (an idle stream-time floor reaches a windowed step with its next record).
        if (applicable.length === 0) return [];
        return run(applicable);
      }),
      concatMap((changes) => changes),
    );
}
