import { SerdeError } from './serde-error.js';
import type { Serde } from './serde.js';
import { decodeUtf8Strict } from './utf8.js';

export interface StringSerdeOptions {
  /**
   * What to do with bytes that are not valid UTF-8: `error` (default) throws a `SerdeError`, so that
   * garbage reaches the app's error policy; `replace` decodes with U+FFFD like Kafka's StringDeserializer.
   */
  readonly invalidUtf8?: 'error' | 'replace';
}

/** UTF-8 text, like Kafka's StringSerializer. */
export function stringSerde(options: StringSerdeOptions = {}): Serde<string> {
  const strictUtf8 = (options.invalidUtf8 ?? 'error') === 'error';
  return {
    name: 'string',
    serialize(value, context) {
      if (value === null) return null;
      if (typeof value !== 'string') {
        throw new SerdeError({ operation: 'serialize', reason: 'invalid-value', context, detail: `expected a string, got ${typeof value}` });
      }
      return Buffer.from(value, 'utf8');
    },
    deserialize(bytes, context) {
      if (bytes === null) return null;
      if (!strictUtf8) return bytes.toString('utf8');
      const text = decodeUtf8Strict(bytes);
      if (text === undefined) {
        throw new SerdeError({ operation: 'deserialize', reason: 'malformed', context, detail: `${bytes.length} bytes are not valid UTF-8` });
      }
      return text;
    },
  };
}
