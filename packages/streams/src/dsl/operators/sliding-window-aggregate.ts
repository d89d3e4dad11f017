import type { OperatorFunction } from 'rxjs';
import type { Serde } from '../../serde/serde.js';
import { decodeWindowKey, encodeWindowKey, windowSegmentId } from '../../state/window-key-layout.js';
import type { RunContext } from '../../topology/topology.js';
import type { StreamRecord } from '../stream-record.js';
import type { SlidingWindows, WindowBounds, Windowed } from '../windows/windows.js';
import { inSegmentedStepStore, keyBytesOf, storeContexts, type KeyRange, type SegmentedStore } from './window-step.js';
import { perApplicableBatch } from './per-applicable-batch.js';

export interface SlidingWindowAggregateOptions<K, V, A> extends SegmentedStore {
  readonly windows: SlidingWindows;
  readonly keySerde: Serde<K>;
  /** The input values' serde: the store keeps the records of the last `timeDifference + grace`. */
  readonly valueSerde: Serde<V>;
  readonly next: (current: A | null, key: K, value: V) => A;
  readonly skip: (record: StreamRecord<K, V>) => boolean;
}

/** The values of one key at one timestamp, in arrival order: u32 count, then u32 length + bytes each. */
function encodeValues(values: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(values.length, 0);
  parts.push(count);
  for (const value of values) {
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(value.length, 0);
    parts.push(length, value);
  }
  return Buffer.concat(parts);
}

function decodeValues(bytes: Buffer, storeName: string): Buffer[] {
  const values: Buffer[] = [];
  const count = bytes.readUInt32BE(0);
  let offset = 4;
  for (let index = 0; index < count; index += 1) {
    const length = bytes.readUInt32BE(offset);
    offset += 4;
    if (offset + length > bytes.length) throw new RangeError(`store "${storeName}": a stored record list is truncated`);
    values.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return values;
}

/** One key's records around the batch's times: time → serialized values, kept sorted by time. */
class KeyRecords {
  readonly byTime = new Map<number, Buffer[]>();
  private sorted: number[] | undefined;

  add(timeMs: number, value: Buffer): Buffer[] {
    const list = this.byTime.get(timeMs) ?? [];
    if (list.length === 0) {
      this.byTime.set(timeMs, list);
      this.sorted = undefined;
    }
    list.push(value);
    return list;
  }

  /** Record times in [fromMs, toMs], ascending. */
  times(fromMs: number, toMs: number): number[] {
    this.sorted ??= [...this.byTime.keys()].sort((a, b) => a - b);
    return this.sorted.filter((time) => time >= fromMs && time <= toMs);
  }
}

/**
 * Sliding windows (KIP-450). The store keeps each key's records (by time, in the window layout, so
 * retention drops whole segments); per batch one range read per key fetches the records within
 * the time difference of the batch's records. A record at t is late — dropped and counted — when
 * stream time has passed t + grace (its own window [t − d, t] has closed; every other window that
 * holds it closes later). Otherwise it is stored and every window that holds it is recomputed
 * from the records, folded in time order (arrival order within one millisecond) and emitted:
 * [t − d, t], the windows [v + 1, v + 1 + d] of the records v before it within d, the windows
 * [u − d, u] of the records u after it within d, and — when a record follows within d — its own
 * [t + 1, t + 1 + d]. Folding in time order makes the results independent of arrival order.
 */
export function slidingWindowAggregate<K, V, A>(
  context: RunContext,
  options: SlidingWindowAggregateOptions<K, V, A>,
): OperatorFunction<StreamRecord<K, V>, StreamRecord<Windowed<K>, A>> {
  const { storeName, windows, keySerde, valueSerde, segmentIntervalMs } = options;
  const differenceMs = windows.timeDifferenceMs;
  const contexts = storeContexts(storeName);
  return perApplicableBatch(options.skip, async (applicable) => {
    const byKey = new Map<string, { keyBytes: Buffer; fromMs: number; toMs: number }>();
    const planned = applicable.map((record) => {
      const keyBytes = keyBytesOf(keySerde, record.key as K, contexts.key);
      const id = keyBytes.toString('latin1');
      const span = byKey.get(id);
      if (span === undefined) byKey.set(id, { keyBytes, fromMs: record.timestamp, toMs: record.timestamp });
      else {
        span.fromMs = Math.min(span.fromMs, record.timestamp);
        span.toMs = Math.max(span.toMs, record.timestamp);
      }
      return { record, id, keyBytes, storeKey: encodeWindowKey(windowSegmentId(record.timestamp, segmentIntervalMs), keyBytes, record.timestamp) };
    });
    const ranges: Array<KeyRange<Buffer>> = [];
    const rangeKeys: string[] = [];
    for (const [id, span] of byKey) {
      const fromMs = span.fromMs - differenceMs;
      const toMs = span.toMs + differenceMs + 1;
      for (let segment = windowSegmentId(fromMs, segmentIntervalMs); segment <= windowSegmentId(toMs, segmentIntervalMs); segment += 1) {
        ranges.push({ from: encodeWindowKey(segment, span.keyBytes, fromMs), to: encodeWindowKey(segment, span.keyBytes, toMs + 1) });
        rangeKeys.push(id);
      }
    }
    return inSegmentedStepStore(
      context,
      options,
      planned.map((plan) => plan.storeKey),
      ranges,
      ({ access, found, time }) => {
        const working = new Map<string, KeyRecords>();
        for (const id of byKey.keys()) working.set(id, new KeyRecords());
        found.forEach((entries, index) => {
          const keyRecords = working.get(rangeKeys[index]!)!;
          for (const entry of entries) {
            const decoded = decodeWindowKey(entry.key);
            if (decoded === undefined) continue;
            for (const value of decodeValues(entry.value, storeName)) keyRecords.add(decoded.windowStartMs, value);
          }
        });
        const out: Array<StreamRecord<Windowed<K>, A>> = [];
        let late = 0;
        for (const { record, id, storeKey } of planned) {
          const t = record.timestamp;
          if (t > time.streamTimeMs) time.streamTimeMs = t;
          if (time.streamTimeMs > t + windows.graceMs) {
            late += 1;
            continue;
          }
          const keyRecords = working.get(id)!;
          const isNewTime = !keyRecords.byTime.has(t);
          const list = keyRecords.add(t, valueSerde.serialize(record.value as V, contexts.value)!);
          access.put(storeKey, encodeValues(list));
          const starts = new Set<number>([t - differenceMs]);
          for (const before of keyRecords.times(t - differenceMs, t - 1)) starts.add(before + 1);
          for (const after of keyRecords.times(t + 1, t + differenceMs)) starts.add(after - differenceMs);
          if (isNewTime && keyRecords.times(t + 1, t + differenceMs).length > 0) starts.add(t + 1);
          for (const start of [...starts].sort((a, b) => a - b)) {
            const window: WindowBounds = { startMs: start, endMs: start + differenceMs };
            let aggregate: A | null = null;
            for (const at of keyRecords.times(window.startMs, window.endMs)) {
              for (const bytes of keyRecords.byTime.get(at)!) aggregate = options.next(aggregate, record.key as K, valueSerde.deserialize(bytes, contexts.value) as V);
            }
            out.push({ ...record, key: { key: record.key as K, window }, value: aggregate as A });
          }
        }
        if (late > 0) context.recordsLate?.(late);
        return out;
      },
    );
  });
}
