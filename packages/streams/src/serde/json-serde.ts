import { SerdeError, describeCause } from './serde-error.js';
import type { Serde, SerdeContext } from './serde.js';
import { decodeUtf8Strict } from './utf8.js';

/**
 * Checks a parsed value: either a type guard (`false` rejects) or an assertion that throws to reject
 * (any JSON-schema validator's `assert`, a zod `parse` wrapped in a function, …).
 */
export type JsonValidator<T> = ((value: unknown) => value is T) | ((value: unknown) => void);

export interface JsonSerdeOptions<T> {
  /** Run on every deserialized (non-null) value; a rejection is a `SerdeError` with reason `validation`. */
  readonly validate?: JsonValidator<T>;
}

/** UTF-8 JSON text. Without `validate`, `T` is what the caller asserts; with it, what the validator proves. */
export function jsonSerde<T>(options: JsonSerdeOptions<T> = {}): Serde<T> {
  const validate = options.validate;
  return {
    name: 'json',
    serialize(value, context) {
      if (value === null) return null;
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch (cause) {
        throw new SerdeError({ operation: 'serialize', reason: 'invalid-value', context, detail: `not JSON-serializable (${describeCause(cause)})`, cause });
      }
      // JSON.stringify returns undefined for undefined, functions and symbols.
      if (text === undefined) {
        throw new SerdeError({ operation: 'serialize', reason: 'invalid-value', context, detail: `a ${typeof value} is not JSON-serializable` });
      }
      return Buffer.from(text, 'utf8');
    },
    deserialize(bytes, context) {
      if (bytes === null) return null;
      const value = parseJson(bytes, context);
      if (validate !== undefined) checkValid(validate, value, context);
      return value as T;
    },
  };
}

function parseJson(bytes: Buffer, context: SerdeContext): unknown {
  const text = decodeUtf8Strict(bytes);
  if (text === undefined) {
    throw new SerdeError({ operation: 'deserialize', reason: 'malformed', context, detail: `${bytes.length} bytes are not valid UTF-8` });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new SerdeError({ operation: 'deserialize', reason: 'malformed', context, detail: `not valid JSON (${describeCause(cause)})`, cause });
  }
}

function checkValid<T>(validate: JsonValidator<T>, value: unknown, context: SerdeContext): void {
  let verdict: boolean | void;
  try {
    verdict = validate(value);
  } catch (cause) {
    throw new SerdeError({ operation: 'deserialize', reason: 'validation', context, detail: `failed validation (${describeCause(cause)})`, cause });
  }
  if (verdict === false) {
    throw new SerdeError({ operation: 'deserialize', reason: 'validation', context, detail: 'failed validation' });
  }
}
