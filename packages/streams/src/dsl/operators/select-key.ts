import { map, type OperatorFunction } from 'rxjs';
import type { StreamRecord } from '../stream-record.js';

/**
 * Gives each record a new key; value, timestamp, headers and provenance stay. A later `to()`
 * partitions by the new key (murmur2), so records with one key land in one partition.
 */
export function selectKey<K, V, K2>(selector: (record: StreamRecord<K, V>) => K2 | null): OperatorFunction<StreamRecord<K, V>, StreamRecord<K2, V>> {
  return map((record) => ({ ...record, key: selector(record) }));
}
