import { concatMap, toArray, type OperatorFunction } from 'rxjs';
import type { Serde } from '../../serde/serde.js';
import { readOrderedTimestamp, TIMESTAMP_BYTES, writeOrderedTimestamp } from '../../state/bytes.js';
import type { RunContext } from '../../topology/topology.js';
import type { StreamRecord } from '../stream-record.js';
import type { WindowBounds, Windowed } from '../windows/windows.js';
import { inStepStore, keyBytesOf, storeContexts } from './window-step.js';

export interface SuppressOptions<K, V> {
  readonly storeName: string;
  readonly keySerde: Serde<K>;
  readonly valueSerde: Serde<V>;
  /** Stream time past which a window is closed (its last millisecond plus the grace). */
  readonly closesAfterMs: (window: WindowBounds) => number;
}

/**
 * Buffer key: close time (ordered) | key length (u32) | key bytes | window start | window end.
 * Close time first, so that the windows due are one range read from the store's start.
 */
function bufferKey(closeAtMs: number, keyBytes: Buffer, window: WindowBounds): Buffer {
  const bytes = Buffer.allocUnsafe(TIMESTAMP_BYTES * 3 + 4 + keyBytes.length);
  writeOrderedTimestamp(bytes, 0, closeAtMs);
  bytes.writeUInt32BE(keyBytes.length, TIMESTAMP_BYTES);
  keyBytes.copy(bytes, TIMESTAMP_BYTES + 4);
  writeOrderedTimestamp(bytes, TIMESTAMP_BYTES + 4 + keyBytes.length, window.startMs);
  writeOrderedTimestamp(bytes, TIMESTAMP_BYTES * 2 + 4 + keyBytes.length, window.endMs);
  return bytes;
}

function decodeBufferKey(bytes: Buffer): { closeAtMs: number; keyBytes: Buffer; window: WindowBounds } {
  const keyLength = bytes.readUInt32BE(TIMESTAMP_BYTES);
  const keyEnd = TIMESTAMP_BYTES + 4 + keyLength;
  return {
    closeAtMs: readOrderedTimestamp(bytes, 0),
    keyBytes: bytes.subarray(TIMESTAMP_BYTES + 4, keyEnd),
    window: { startMs: readOrderedTimestamp(bytes, keyEnd), endMs: readOrderedTimestamp(bytes, keyEnd + TIMESTAMP_BYTES) },
  };
}

/** Buffered value: the record's timestamp (ordered), partition (u32), offset (i64), topic (u16 length + UTF-8), then the value bytes. */
function encodeBuffered(record: StreamRecord<unknown, unknown>, valueBytes: Buffer): Buffer {
  const topic = Buffer.from(record.topic, 'utf8');
  const head = Buffer.allocUnsafe(TIMESTAMP_BYTES + 4 + 8 + 2);
  writeOrderedTimestamp(head, 0, record.timestamp);
  head.writeUInt32BE(record.partition, TIMESTAMP_BYTES);
  head.writeBigInt64BE(record.offset, TIMESTAMP_BYTES + 4);
  head.writeUInt16BE(topic.length, TIMESTAMP_BYTES + 12);
  return Buffer.concat([head, topic, valueBytes]);
}

function decodeBuffered(bytes: Buffer): { timestamp: number; partition: number; offset: bigint; topic: string; valueBytes: Buffer } {
  const topicLength = bytes.readUInt16BE(TIMESTAMP_BYTES + 12);
  const topicStart = TIMESTAMP_BYTES + 14;
  return {
    timestamp: readOrderedTimestamp(bytes, 0),
    partition: bytes.readUInt32BE(TIMESTAMP_BYTES),
    offset: bytes.readBigInt64BE(TIMESTAMP_BYTES + 4),
    topic: bytes.toString('utf8', topicStart, topicStart + topicLength),
    valueBytes: bytes.subarray(topicStart + topicLength),
  };
}

/** A sorted set of keys (bytewise): binary search on insert and delete, the smallest first. */
class SortedKeys {
  private readonly keys: Buffer[];

  constructor(sortedKeys: Buffer[]) {
    this.keys = sortedKeys;
  }

  first(): Buffer | undefined {
    return this.keys[0];
  }

  add(key: Buffer): void {
    const index = this.search(key);
    if (index < this.keys.length && this.keys[index]!.equals(key)) return;
    this.keys.splice(index, 0, key);
  }

  delete(key: Buffer): void {
    const index = this.search(key);
    if (index < this.keys.length && this.keys[index]!.equals(key)) this.keys.splice(index, 1);
  }

  /** The first index whose key is not below `key`. */
  private search(key: Buffer): number {
    let low = 0;
    let high = this.keys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (Buffer.compare(this.keys[middle]!, key) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/**
 * `suppress(untilWindowCloses())`: holds the latest result of each window in a store (so the
 * buffer survives restarts through its changelog) and emits it once, when the step's stream
 * time passes the window's close; an update for a window already closed is dropped, and a delete
 * (a session merged away) removes the window's buffered result: it is never emitted.
 */
export function suppressUntilWindowCloses<K, V>(context: RunContext, options: SuppressOptions<K, V>): OperatorFunction<StreamRecord<Windowed<K>, V>, StreamRecord<Windowed<K>, V>> {
  const { storeName, keySerde, valueSerde } = options;
  const contexts = storeContexts(storeName);
  return (source) =>
    source.pipe(
      toArray(),
      concatMap(async (records) => {
        const applicable = records.filter((record) => record.key !== null);
        const floor = context.streamTimeFloorMs ?? Number.NEGATIVE_INFINITY;
        // Without records only an idle advance can close windows.
        if (applicable.length === 0 && !Number.isFinite(floor)) return [];
        const planned = applicable.map((record) => {
          const windowed = record.key!;
          const closeAtMs = options.closesAfterMs(windowed.window);
          return { record, closeAtMs, storeKey: bufferKey(closeAtMs, keyBytesOf(keySerde, windowed.key, contexts.key), windowed.window) };
        });
        const batchTimeMs = applicable.reduce((most, record) => Math.max(most, record.timestamp), Number.NEGATIVE_INFINITY);
        return inStepStore(
          context,
          storeName,
          planned.map((plan) => plan.storeKey),
          [],
          ({ access, found, time }) => {
            // The buffered windows this batch can close, in key order (= close-time order).
            const buffered = new SortedKeys((found[0] ?? []).map((entry) => entry.key));
            const out: Array<StreamRecord<Windowed<K>, V>> = [];
            const emitClosed = (): void => {
              let key: Buffer | undefined;
              while ((key = buffered.first()) !== undefined && decodeBufferKey(key).closeAtMs < time.streamTimeMs) {
                buffered.delete(key);
                const stored = access.get(key);
                access.put(key, null);
                if (stored === null) continue;
                const { keyBytes, window } = decodeBufferKey(key);
                const value = decodeBuffered(stored);
                out.push({
                  key: { key: keySerde.deserialize(keyBytes, contexts.key) as K, window },
                  value: valueSerde.deserialize(value.valueBytes, contexts.value),
                  headers: {},
                  timestamp: value.timestamp,
                  topic: value.topic,
                  partition: value.partition,
                  offset: value.offset,
                });
              }
            };
            emitClosed();
            for (const { record, closeAtMs, storeKey } of planned) {
              if (record.timestamp > time.streamTimeMs) time.streamTimeMs = record.timestamp;
              if (time.streamTimeMs > closeAtMs) {
                // Closed already (its result was emitted, or it never had one): nothing more for it.
                emitClosed();
                continue;
              }
              if (record.value === null) {
                access.put(storeKey, null);
                buffered.delete(storeKey);
              } else {
                access.put(storeKey, encodeBuffered(record as StreamRecord<unknown, unknown>, valueSerde.serialize(record.value, contexts.value)!));
                buffered.add(storeKey);
              }
              emitClosed();
            }
            return out;
          },
          (time) => {
            const upperMs = Math.max(time.streamTimeMs, batchTimeMs);
            if (!Number.isFinite(upperMs)) return [];
            const to = Buffer.allocUnsafe(TIMESTAMP_BYTES);
            writeOrderedTimestamp(to, 0, upperMs);
            return [{ from: undefined, to }];
          },
        );
      }),
      concatMap((changes) => changes),
    );
}
