import { concatMap, map, merge, toArray, type Observable } from 'rxjs';
import type { Serde, SerdeContext } from '../../serde/serde.js';
import {
  decodeJoinExpiryKey,
  decodeJoinMeta,
  decodeJoinRecordKey,
  decodeJoinRecordValue,
  encodeJoinExpiryKey,
  encodeJoinMeta,
  encodeJoinRecordKey,
  encodeJoinRecordValue,
  JOIN_META_KEY,
  joinExpiryRange,
  joinExpiryValue,
  joinRecordRange,
  type JoinSide,
} from '../../state/join-buffer-layout.js';
import type { RunContext, StoreAccess } from '../../topology/topology.js';
import type { StreamRecord } from '../stream-record.js';
import type { JoinKind } from './join-kind.js';
import type { JoinWindows } from './join-windows.js';

export interface StreamJoinSerdes<K, L, R> {
  readonly key: Serde<K>;
  readonly leftValue: Serde<L>;
  readonly rightValue: Serde<R>;
}

const LEFT: JoinSide = 0;
const RIGHT: JoinSide = 1;

/**
 * Stream–stream join within a window, over one join-buffer store (`join-buffer-layout.ts`).
 *
 * Per batch, holding the store: for each record (null keys and values are dropped), in order —
 * late (timestamp < stream time − grace): dropped and counted (the task's `recordsLate`);
 * otherwise stream time advances, the other side's buffered records of the key within ±time difference join with it (one output each,
 * timestamped with the later of the two, and both are marked matched), and the record is
 * buffered. Then every buffered record whose window has closed (stream time > its timestamp +
 * time difference + grace) leaves the buffer; left joins emit the left ones and outer joins every
 * one that never matched, joined with null (as Kafka ≥ 3.1: no eager null results). Stream time
 * is the join's own (both sides), kept in the store so that a restored buffer goes on exactly.
 */
export function streamStreamJoin<K, L, R, VR>(
  context: RunContext,
  left: Observable<unknown>,
  right: Observable<unknown>,
  options: {
    readonly store: string;
    readonly kind: JoinKind;
    readonly windows: JoinWindows;
    readonly serdes: StreamJoinSerdes<K, L, R>;
    readonly joiner: (left: L | null, right: R | null) => VR;
  },
): Observable<StreamRecord<K, VR>> {
  const { store: storeName, kind, windows, serdes, joiner } = options;
  const { timeDifferenceMs, graceMs } = windows;
  const keyContext: SerdeContext = { topic: storeName, role: 'key' };
  const valueContext: SerdeContext = { topic: storeName, role: 'value' };
  const valueSerde = (side: JoinSide): Serde<unknown> => (side === LEFT ? serdes.leftValue : serdes.rightValue) as Serde<unknown>;
  const tagged = merge(
    left.pipe(map((record) => ({ side: LEFT, record: record as StreamRecord<K, unknown> }))),
    right.pipe(map((record) => ({ side: RIGHT, record: record as StreamRecord<K, unknown> }))),
  );
  const join = (side: JoinSide, value: unknown, otherValue: unknown): VR =>
    side === LEFT ? joiner(value as L | null, otherValue as R | null) : joiner(otherValue as L | null, value as R | null);
  const emitsUnmatched = (side: JoinSide): boolean => kind === 'outer' || (kind === 'left' && side === LEFT);

  return tagged.pipe(
    toArray(),
    concatMap(async (entries) => {
      const applicable = entries.filter((entry) => entry.record.key !== null && entry.record.value !== null);
      if (applicable.length === 0) return [];
      await serdes.leftValue.prepareSerialize?.(valueContext);
      await serdes.rightValue.prepareSerialize?.(valueContext);
      await serdes.key.prepareSerialize?.(keyContext);
      return context.exclusive([storeName], async (access) => {
        const store = access.get(storeName)! as StoreAccess<Buffer, Buffer>;
        await store.preload([JOIN_META_KEY]);
        let { nextSequence, streamTimeMs } = decodeJoinMeta(store.get(JOIN_META_KEY));
        // Every record gets the next sequence number (a late one leaves a gap): its buffer keys are
        // known before the loop, so one preload covers them all.
        const own = applicable.map(({ side, record }, index) => {
          const keyBytes = serdes.key.serialize(record.key, keyContext)!;
          const decoded = { side, key: keyBytes, timestampMs: record.timestamp, sequence: nextSequence + index };
          return { recordKey: encodeJoinRecordKey(side, keyBytes, record.timestamp, decoded.sequence), expiryKey: encodeJoinExpiryKey(decoded) };
        });
        nextSequence += applicable.length;
        await store.preload(own.flatMap((keys) => [keys.recordKey, keys.expiryKey]));
        const emitted: Array<StreamRecord<K, VR>> = [];
        let late = 0;
        for (const [index, { side, record }] of applicable.entries()) {
          const timestampMs = record.timestamp;
          if (timestampMs < streamTimeMs - graceMs) {
            late += 1;
            continue;
          }
          streamTimeMs = Math.max(streamTimeMs, timestampMs);
          const { recordKey, expiryKey } = own[index]!;
          const keyBytes = decodeJoinRecordKey(recordKey).key;
          const otherSide: JoinSide = side === LEFT ? RIGHT : LEFT;
          const { from, to } = joinRecordRange(otherSide, keyBytes, timestampMs - timeDifferenceMs, timestampMs + timeDifferenceMs);
          const partners: Array<{ key: Buffer; value: Buffer }> = [];
          for await (const entry of store.range(from, to)) partners.push({ key: entry.key, value: entry.value });
          if (partners.length > 0) {
            await store.preload(partners.map((partner) => partner.key));
            const otherSerde = valueSerde(otherSide);
            await otherSerde.prepareDeserialize?.(partners.map((partner) => decodeJoinRecordValue(partner.value).value), valueContext);
          }
          for (const partner of partners) {
            const partnerKey = decodeJoinRecordKey(partner.key);
            const stored = decodeJoinRecordValue(partner.value);
            const otherValue = valueSerde(otherSide).deserialize(stored.value, valueContext);
            emitted.push({ ...record, value: join(side, record.value, otherValue), timestamp: Math.max(timestampMs, partnerKey.timestampMs) });
            if (!stored.matched) store.put(partner.key, encodeJoinRecordValue(true, stored.value));
          }
          const ownBytes = valueSerde(side).serialize(record.value, valueContext)!;
          store.put(recordKey, encodeJoinRecordValue(partners.length > 0, ownBytes));
          store.put(expiryKey, joinExpiryValue());
        }
        // Windows closed: stream time > timestamp + time difference + grace.
        const lastRecord = applicable.at(-1)!.record;
        const { from, to } = joinExpiryRange(Math.max(Number.MIN_SAFE_INTEGER, streamTimeMs - timeDifferenceMs - graceMs));
        const expired: Buffer[] = [];
        for await (const entry of store.range(from, to)) expired.push(entry.key);
        if (expired.length > 0) {
          const decoded = expired.map((expiryKey) => decodeJoinExpiryKey(expiryKey));
          const recordKeys = decoded.map((entry) => encodeJoinRecordKey(entry.side, entry.key, entry.timestampMs, entry.sequence));
          await store.preload([...expired, ...recordKeys]);
          for (let index = 0; index < expired.length; index += 1) {
            const entry = decoded[index]!;
            const storedBytes = store.get(recordKeys[index]!);
            store.put(expired[index]!, null);
            store.put(recordKeys[index]!, null);
            if (storedBytes === null || !emitsUnmatched(entry.side)) continue;
            const stored = decodeJoinRecordValue(storedBytes);
            if (stored.matched) continue;
            const serde = valueSerde(entry.side);
            await serde.prepareDeserialize?.([stored.value], valueContext);
            await serdes.key.prepareDeserialize?.([entry.key], keyContext);
            emitted.push({
              key: serdes.key.deserialize(Buffer.from(entry.key), keyContext),
              value: join(entry.side, serde.deserialize(stored.value, valueContext), null),
              headers: {},
              timestamp: entry.timestampMs,
              // The record whose stream time closed the window: an error downstream names it.
              topic: lastRecord.topic,
              partition: lastRecord.partition,
              offset: lastRecord.offset,
            });
          }
        }
        store.put(JOIN_META_KEY, encodeJoinMeta({ nextSequence, streamTimeMs }));
        if (late > 0) context.recordsLate?.(late);
        return emitted;
      });
    }),
    concatMap((emitted) => emitted),
  );
}
