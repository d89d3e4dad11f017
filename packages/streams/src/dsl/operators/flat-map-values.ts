import { mergeMap, type OperatorFunction } from 'rxjs';
import type { StreamRecord } from '../stream-record.js';

/** Replaces each record by zero or more records with the same key, timestamp, headers and provenance. */
export function flatMapValues<K, V, V2>(
  mapper: (value: V | null, record: StreamRecord<K, V>) => Iterable<V2 | null>,
): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, V2>> {
  return mergeMap((record) => {
    const outputs: Array<StreamRecord<K, V2>> = [];
    for (const value of mapper(record.value, record)) outputs.push({ ...record, value });
    return outputs;
  });
}
