import type { OperatorFunction } from 'rxjs';
import type { Serde } from '../../serde/serde.js';
import { prefixUpperBound } from '../../state/bytes.js';
import { decodeSessionKey, encodeSessionKey, encodeSessionKeyPrefix } from '../../state/session-key-layout.js';
import type { RunContext } from '../../topology/topology.js';
import type { StreamRecord } from '../stream-record.js';
import type { SessionWindows, Windowed } from '../windows/windows.js';
import { inStepStore, keyBytesOf, storeContexts } from './window-step.js';
import { perApplicableBatch } from './per-applicable-batch.js';

export interface SessionWindowAggregateOptions<K, V, A> {
  readonly storeName: string;
  readonly windows: SessionWindows;
  readonly retentionMs: number;
  readonly keySerde: Serde<K>;
  readonly aggregateSerde: Serde<A>;
  /** A new session's starting aggregate (null for `reduce`: its first value starts it). */
  readonly initial: () => A | null;
  readonly add: (aggregate: A | null, key: K, value: V) => A;
  /** Folds a session merged into the new one (`aggregate`'s merger). */
  readonly merge: (aggregate: A | null, key: K, other: A) => A;
  readonly skip: (record: StreamRecord<K, V>) => boolean;
}

interface Session<A> {
  readonly startMs: number;
  readonly endMs: number;
  readonly storeKey: Buffer;
  readonly value: A;
}

/**
 * Session windows with merging. Per batch, one range read per key fetches all of its stored
 * sessions (and deletes, with a tombstone, those past retention). Per record at t, in input
 * order: the sessions that end at or after t − gap and start at or before t + gap are merged with
 * it into [min start, max end]; if stream time has passed that end + grace the record is late
 * (dropped, counted) and nothing changes; otherwise the merged-away sessions are deleted and
 * emitted as deletes (null), and the merged session is written and emitted — Kafka's order.
 */
export function sessionWindowAggregate<K, V, A>(
  context: RunContext,
  options: SessionWindowAggregateOptions<K, V, A>,
): OperatorFunction<StreamRecord<K, V>, StreamRecord<Windowed<K>, A>> {
  const { storeName, windows, keySerde, aggregateSerde } = options;
  const gapMs = windows.inactivityGapMs;
  const contexts = storeContexts(storeName);
  return perApplicableBatch(options.skip, async (applicable) => {
    const keyIds: string[] = [];
    const keyBytesById = new Map<string, Buffer>();
    const planned = applicable.map((record) => {
      const keyBytes = keyBytesOf(keySerde, record.key as K, contexts.key);
      const id = keyBytes.toString('latin1');
      if (!keyBytesById.has(id)) {
        keyBytesById.set(id, keyBytes);
        keyIds.push(id);
      }
      return { record, id, keyBytes };
    });
    const ranges = keyIds.map((id) => {
      const prefix = encodeSessionKeyPrefix(keyBytesById.get(id)!);
      return { from: prefix, to: prefixUpperBound(prefix) };
    });
    return inStepStore(context, storeName, [], ranges, ({ access, found, time }) => {
      const sessionsByKey = new Map<string, Array<Session<A>>>();
      const startTimeMs = time.streamTimeMs;
      keyIds.forEach((id, index) => {
        const sessions: Array<Session<A>> = [];
        for (const entry of found[index]!) {
          const decoded = decodeSessionKey(entry.key);
          if (decoded === undefined) continue;
          if (decoded.endMs < startTimeMs - options.retentionMs) {
            // Retention: a session past it leaves the store (a tombstone keeps the changelog compact).
            access.put(entry.key, null);
            continue;
          }
          sessions.push({ startMs: decoded.startMs, endMs: decoded.endMs, storeKey: entry.key, value: aggregateSerde.deserialize(entry.value, contexts.value) as A });
        }
        sessionsByKey.set(id, sessions);
      });
      const out: Array<StreamRecord<Windowed<K>, A>> = [];
      let late = 0;
      for (const { record, id, keyBytes } of planned) {
        const t = record.timestamp;
        if (t > time.streamTimeMs) time.streamTimeMs = t;
        const sessions = sessionsByKey.get(id)!;
        const overlapping = sessions.filter((session) => session.endMs >= t - gapMs && session.startMs <= t + gapMs).sort((a, b) => a.startMs - b.startMs);
        let startMs = t;
        let endMs = t;
        for (const session of overlapping) {
          startMs = Math.min(startMs, session.startMs);
          endMs = Math.max(endMs, session.endMs);
        }
        if (time.streamTimeMs > windows.closesAfterMs({ startMs, endMs })) {
          late += 1;
          continue;
        }
        const key = record.key as K;
        let aggregate = options.initial();
        for (const session of overlapping) aggregate = options.merge(aggregate, key, session.value);
        const value = options.add(aggregate, key, record.value as V);
        const storeKey = encodeSessionKey(keyBytes, endMs, startMs);
        for (const session of overlapping) {
          if (session.startMs === startMs && session.endMs === endMs) continue;
          access.put(session.storeKey, null);
          out.push({ ...record, key: { key, window: { startMs: session.startMs, endMs: session.endMs } }, value: null });
        }
        access.put(storeKey, aggregateSerde.serialize(value, contexts.value));
        const merged: Session<A> = { startMs, endMs, storeKey, value };
        sessionsByKey.set(id, [...sessions.filter((session) => !overlapping.includes(session)), merged]);
        out.push({ ...record, key: { key, window: { startMs, endMs } }, value });
      }
      if (late > 0) context.recordsLate?.(late);
      return out;
    });
  });
}
