import { DecodeError } from '../decode-error.js';
import type { Reader } from '../primitives/reader.js';
import { Writer } from '../primitives/writer.js';
import { EncodeError } from './encode-error.js';
import { messagePlan, readStruct, writeStruct } from './plan.js';
import type { StructPlan } from './plan.js';
import type { MessageSchema } from './types.js';

/**
 * The one generic codec for every Kafka API: it interprets a generated `MessageSchema` at a given
 * version through a compiled, cached plan (see `plan.ts`).
 */

/** Whether `version` is one of the schema's valid versions. */
export function isVersionSupported(schema: MessageSchema<unknown>, version: number): boolean {
  return messagePlan(schema, version) !== undefined;
}

/** Writes `data` as `schema` at `version` into `writer`. Throws `EncodeError` for data the version cannot carry. */
export function writeMessage<T>(writer: Writer, schema: MessageSchema<T>, version: number, data: T): void {
  const plan = messagePlan(schema, version);
  if (plan === undefined) throw new EncodeError(`version ${version} is not a valid version (${schema.validVersions})`, schema.name);
  try {
    writeStruct(plan, writer, data);
  } catch (error) {
    throw error instanceof EncodeError ? error.within(schema.name) : error;
  }
}

/** Encodes `data` as `schema` at `version`. */
export function encodeMessage<T>(schema: MessageSchema<T>, version: number, data: T): Buffer {
  const writer = new Writer();
  writeMessage(writer, schema, version, data);
  return writer.finish();
}

/**
 * Decodes one `schema` message at `version` from `reader`, leaving the reader just after it.
 * Throws only `DecodeError` (its `field` is the path, e.g. `FetchRequest.topics[0].partitions`);
 * never reads past the reader's end. Fields the version lacks are filled with their defaults.
 * Bytes and records fields are views of the input, not copies.
 */
export function decodeMessage<T>(schema: MessageSchema<T>, version: number, reader: Reader): T {
  const plan = messagePlan(schema, version);
  if (plan === undefined) {
    throw new DecodeError(`${schema.name} version ${version} is not supported (${schema.validVersions})`, reader.position, schema.name);
  }
  return decodeWithPlan(plan, schema.name, reader) as T;
}

function decodeWithPlan(plan: StructPlan, name: string, reader: Reader): unknown {
  try {
    return readStruct(plan, reader);
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
    const field = error.field === undefined ? name : `${name}.${error.field}`;
    const suffix = error.field === undefined ? ` at byte ${error.offset}` : ` at byte ${error.offset} (${error.field})`;
    const message = error.message.endsWith(suffix) ? error.message.slice(0, -suffix.length) : error.message;
    throw new DecodeError(message, error.offset, field);
  }
}
