import { SerdeError } from './serde-error.js';
import type { Serde, SerdeContext } from './serde.js';

/**
 * Fixed-width big-endian numbers, byte for byte what Kafka's IntegerSerializer, LongSerializer and
 * DoubleSerializer write, so a defter app and a Java app can share a topic.
 */

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A 32-bit signed integer in 4 bytes. */
export function int32Serde(): Serde<number> {
  return {
    name: 'int32',
    serialize(value, context) {
      if (value === null) return null;
      if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
        throw invalidValue(context, `${String(value)} is not a 32-bit signed integer`);
      }
      const bytes = Buffer.allocUnsafe(4);
      bytes.writeInt32BE(value, 0);
      return bytes;
    },
    deserialize(bytes, context) {
      if (bytes === null) return null;
      checkWidth(bytes, 4, 'int32', context);
      return bytes.readInt32BE(0);
    },
  };
}

/** A 64-bit signed integer in 8 bytes, as a bigint (a JavaScript number loses precision above 2^53). */
export function int64Serde(): Serde<bigint> {
  return {
    name: 'int64',
    serialize(value, context) {
      if (value === null) return null;
      if (typeof value !== 'bigint' || value < INT64_MIN || value > INT64_MAX) {
        throw invalidValue(context, `${String(value)} is not a 64-bit signed integer as a bigint`);
      }
      const bytes = Buffer.allocUnsafe(8);
      bytes.writeBigInt64BE(value, 0);
      return bytes;
    },
    deserialize(bytes, context) {
      if (bytes === null) return null;
      checkWidth(bytes, 8, 'int64', context);
      return bytes.readBigInt64BE(0);
    },
  };
}

/** An IEEE 754 double in 8 bytes. */
export function float64Serde(): Serde<number> {
  return {
    name: 'float64',
    serialize(value, context) {
      if (value === null) return null;
      if (typeof value !== 'number') throw invalidValue(context, `expected a number, got ${typeof value}`);
      const bytes = Buffer.allocUnsafe(8);
      bytes.writeDoubleBE(value, 0);
      return bytes;
    },
    deserialize(bytes, context) {
      if (bytes === null) return null;
      checkWidth(bytes, 8, 'float64', context);
      return bytes.readDoubleBE(0);
    },
  };
}

function checkWidth(bytes: Buffer, widthBytes: number, name: string, context: SerdeContext): void {
  if (bytes.length !== widthBytes) {
    throw new SerdeError({
      operation: 'deserialize',
      reason: 'malformed',
      context,
      detail: `expected ${widthBytes} bytes for ${name}, got ${bytes.length}`,
    });
  }
}

function invalidValue(context: SerdeContext, detail: string): SerdeError {
  return new SerdeError({ operation: 'serialize', reason: 'invalid-value', context, detail });
}
