import type { OperatorFunction } from 'rxjs';
import type { Serde } from '../../serde/serde.js';
import { encodeWindowKey, windowSegmentId } from '../../state/window-key-layout.js';
import type { RunContext } from '../../topology/topology.js';
import type { StreamRecord } from '../stream-record.js';
import type { TimeWindows, Windowed } from '../windows/windows.js';
import { inSegmentedStepStore, keyBytesOf, storeContexts, type SegmentedStore } from './window-step.js';
import { perApplicableBatch } from './per-applicable-batch.js';

export interface TimeWindowAggregateOptions<K, V, A> extends SegmentedStore {
  readonly windows: TimeWindows;
  readonly keySerde: Serde<K>;
  readonly aggregateSerde: Serde<A>;
  /** The window's next aggregate (`current` null: the window's first record). */
  readonly next: (current: A | null, key: K, value: V) => A;
  /** Records this step ignores besides null keys (null values, for aggregations). */
  readonly skip: (record: StreamRecord<K, V>) => boolean;
}

/**
 * Tumbling and hopping window aggregation. Per batch: one preload of every (key, window) the
 * records fall in and the step's stream time; then, record by record in input order, stream time
 * advances to the record's time, each of its windows that is still open (stream time ≤ its last
 * millisecond + grace) is updated and emitted as (Windowed key, aggregate), and a record that
 * missed a closed window is counted as late (once). Retention then drops the window segments that
 * start before stream time − retention.
 */
export function timeWindowAggregate<K, V, A>(context: RunContext, options: TimeWindowAggregateOptions<K, V, A>): OperatorFunction<StreamRecord<K, V>, StreamRecord<Windowed<K>, A>> {
  const { storeName, windows, keySerde, aggregateSerde, segmentIntervalMs } = options;
  const contexts = storeContexts(storeName);
  return perApplicableBatch(options.skip, async (applicable) => {
    const planned = applicable.map((record) => {
      const keyBytes = keyBytesOf(keySerde, record.key as K, contexts.key);
      const starts = windows.windowStartsFor(record.timestamp);
      return { record, keyBytes, starts, storeKeys: starts.map((start) => encodeWindowKey(windowSegmentId(start, segmentIntervalMs), keyBytes, start)) };
    });
    return inSegmentedStepStore(
      context,
      options,
      planned.flatMap((plan) => plan.storeKeys),
      [],
      ({ access, time }) => {
        const out: Array<StreamRecord<Windowed<K>, A>> = [];
        let late = 0;
        for (const { record, starts, storeKeys } of planned) {
          if (record.timestamp > time.streamTimeMs) time.streamTimeMs = record.timestamp;
          let missed = false;
          for (let index = 0; index < starts.length; index += 1) {
            const window = windows.bounds(starts[index]!);
            if (time.streamTimeMs > windows.closesAfterMs(window)) {
              missed = true;
              continue;
            }
            const storeKey = storeKeys[index]!;
            const stored = access.get(storeKey);
            const current = stored === null ? null : (aggregateSerde.deserialize(stored, contexts.value) as A);
            const value = options.next(current, record.key as K, record.value as V);
            access.put(storeKey, aggregateSerde.serialize(value, contexts.value));
            out.push({ ...record, key: { key: record.key as K, window }, value });
          }
          if (missed) late += 1;
        }
        if (late > 0) context.recordsLate?.(late);
        return out;
      },
    );
  });
}
