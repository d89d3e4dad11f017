import type { OperatorFunction } from 'rxjs';
import type { RunContext } from '../../topology/topology.js';
import type { StreamRecord } from '../stream-record.js';
import { aggregateByKey } from './aggregate-by-key.js';

/** A table's materialisation: the latest value per key; a null value deletes the key (emitted as a null change). */
export function latestByKey<K, V>(context: RunContext, storeName: string): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, V>> {
  return aggregateByKey<K, V, V>(context, storeName, (_current, record) => record.value);
}
