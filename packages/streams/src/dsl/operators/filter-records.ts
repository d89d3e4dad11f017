import { filter, type MonoTypeOperatorFunction } from 'rxjs';
import type { StreamRecord } from '../stream-record.js';

/** Keeps the records the predicate accepts (RxJS's `filter`, typed for records). */
export function filterRecords<K, V>(predicate: (record: StreamRecord<K, V>) => boolean): MonoTypeOperatorFunction<StreamRecord<K, V>> {
  return filter(predicate);
}
