import { map, type OperatorFunction } from 'rxjs';
import type { StreamRecord } from '../stream-record.js';

/** Replaces each record's value; key, timestamp, headers and provenance stay. */
export function mapValues<K, V, V2>(mapper: (value: V | null, record: StreamRecord<K, V>) => V2 | null): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, V2>> {
  return map((record) => ({ ...record, value: mapper(record.value, record) }));
}
