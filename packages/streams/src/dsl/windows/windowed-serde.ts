import { SerdeError } from '../../serde/serde-error.js';
import type { Serde, SerdeContext } from '../../serde/serde.js';
import type { Windowed } from './windows.js';

const LONG_BYTES = 8;

function writeLong(target: Buffer, offset: number, valueMs: number): void {
  target.writeBigInt64BE(BigInt(valueMs), offset);
}

function readLong(source: Buffer, offset: number, context: SerdeContext): number {
  const value = source.readBigInt64BE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new SerdeError({ operation: 'deserialize', reason: 'malformed', context, detail: `window time ${value} is outside the safe integer range` });
  }
  return Number(value);
}

function innerKeyBytes<K>(inner: Serde<K>, windowed: Windowed<K> | null, context: SerdeContext): Buffer | null {
  if (windowed === null) return null;
  const bytes = inner.serialize(windowed.key, context);
  if (bytes === null) throw new SerdeError({ operation: 'serialize', reason: 'invalid-value', context, detail: 'a windowed key needs a non-null key' });
  return bytes;
}

/**
 * Kafka's `TimeWindowedSerde` layout, for tumbling, hopping and sliding windows: the key's bytes,
 * then the window start as an 8-byte big-endian long. The end is not written: it is
 * start + `windowSizeMs` on read (a sliding window's size is its time difference).
 */
export function timeWindowedSerde<K>(inner: Serde<K>, windowSizeMs: number): Serde<Windowed<K>> {
  if (!Number.isSafeInteger(windowSizeMs) || windowSizeMs < 1) throw new RangeError(`timeWindowedSerde needs the window size in milliseconds, got ${String(windowSizeMs)}`);
  return {
    name: `time-windowed(${inner.name})`,
    serialize(windowed, context) {
      const key = innerKeyBytes(inner, windowed, context);
      if (key === null || windowed === null) return null;
      const bytes = Buffer.allocUnsafe(key.length + LONG_BYTES);
      key.copy(bytes, 0);
      writeLong(bytes, key.length, windowed.window.startMs);
      return bytes;
    },
    deserialize(bytes, context) {
      if (bytes === null) return null;
      if (bytes.length < LONG_BYTES) throw new SerdeError({ operation: 'deserialize', reason: 'malformed', context, detail: `a time-windowed key needs at least ${LONG_BYTES} bytes, got ${bytes.length}` });
      const keyLength = bytes.length - LONG_BYTES;
      const key = inner.deserialize(bytes.subarray(0, keyLength), context);
      const startMs = readLong(bytes, keyLength, context);
      return { key: key as K, window: { startMs, endMs: startMs + windowSizeMs } };
    },
  };
}

/** Kafka's `SessionWindowedSerde` layout: the key's bytes, the session end, the session start (8-byte big-endian longs). */
export function sessionWindowedSerde<K>(inner: Serde<K>): Serde<Windowed<K>> {
  return {
    name: `session-windowed(${inner.name})`,
    serialize(windowed, context) {
      const key = innerKeyBytes(inner, windowed, context);
      if (key === null || windowed === null) return null;
      const bytes = Buffer.allocUnsafe(key.length + 2 * LONG_BYTES);
      key.copy(bytes, 0);
      writeLong(bytes, key.length, windowed.window.endMs);
      writeLong(bytes, key.length + LONG_BYTES, windowed.window.startMs);
      return bytes;
    },
    deserialize(bytes, context) {
      if (bytes === null) return null;
      if (bytes.length < 2 * LONG_BYTES) throw new SerdeError({ operation: 'deserialize', reason: 'malformed', context, detail: `a session-windowed key needs at least ${2 * LONG_BYTES} bytes, got ${bytes.length}` });
      const keyLength = bytes.length - 2 * LONG_BYTES;
      const key = inner.deserialize(bytes.subarray(0, keyLength), context);
      return { key: key as K, window: { startMs: readLong(bytes, keyLength + LONG_BYTES, context), endMs: readLong(bytes, keyLength, context) } };
    },
  };
}

/** A windowed key as a string for output topics and logs: `<key>@<startMs>/<endMs>` (`formatKey` default: `String`). */
export function windowedKey<K>(windowed: Windowed<K>, formatKey: (key: K) => string = String): string {
  return `${formatKey(windowed.key)}@${windowed.window.startMs}/${windowed.window.endMs}`;
}
