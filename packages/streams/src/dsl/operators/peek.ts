import { tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { StreamRecord } from '../stream-record.js';

/** Calls `action` for each record (logging, metrics) and passes the record on unchanged. */
export function peek<K, V>(action: (record: StreamRecord<K, V>) => void): MonoTypeOperatorFunction<StreamRecord<K, V>> {
  return tap(action);
}
