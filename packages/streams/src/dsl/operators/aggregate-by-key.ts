import type { OperatorFunction } from 'rxjs';
import type { RunContext } from '../../topology/topology.js';
import type { StreamRecord } from '../stream-record.js';
import { perApplicableBatch } from './per-applicable-batch.js';

/**
 * The stateful step behind `count`/`reduce`/`aggregate`/`table`: per batch, collect the records,
 * read every key they touch with one preload (one `getMany` for the keys not cached), then apply
 * `next(current, record)` to each record in order, synchronously, writing the result to the store
 * and emitting it as the table's change record (key, new value; `null` = the key was deleted).
 * Records with a null key are dropped (they belong to no key), as in Kafka Streams; `skip` drops
 * others (e.g. null values for aggregations).
 */
export function aggregateByKey<K, V, A>(
  context: RunContext,
  storeName: string,
  next: (current: A | null, record: StreamRecord<K, V>) => A | null,
  skip: (record: StreamRecord<K, V>) => boolean = () => false,
): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, A>> {
  return perApplicableBatch(skip, (applicable) =>
    context.store(storeName).update(
      applicable.map((record) => record.key),
      (view) =>
        applicable.map((record): StreamRecord<K, A> => {
          const value = next(view.get(record.key) as A | null, record);
          view.put(record.key, value);
          return { ...record, value };
        }),
    ),
  );
}
