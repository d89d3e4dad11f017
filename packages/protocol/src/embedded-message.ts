import { DecodeError } from './decode-error.js';
import { Reader } from './primitives/reader.js';
import { Writer } from './primitives/writer.js';
import { decodeMessage, writeMessage } from './schema/codec.js';
import type { MessageSchema } from './schema/types.js';
import { parseVersionRange } from './schema/versions.js';

/**
 * Data messages embedded as opaque bytes in other messages (the consumer protocol's subscription
 * in JoinGroup metadata, its assignment in SyncGroup) carry their own version:
 *
 *   EmbeddedMessage => version:int16 struct-at-that-version
 *
 * Kafka's rule for them (the specs' comment): a version newer than the reader knows is read with
 * the newest format it knows, so newer versions may only append fields, and the bytes those fields
 * take are left unread. Like Kafka's consumer, the reader ignores trailing bytes at any version.
 */

export interface VersionedData<T> {
  /** The version as written; it may be newer than the schema's newest. */
  readonly version: number;
  /** Read at min(version, newest known); fields the version lacks hold their defaults. */
  readonly data: T;
}

/** Encodes `data` as `schema` at `version`, prefixed by that version. Throws `EncodeError` for data the version cannot carry. */
export function encodeVersionedData<T>(schema: MessageSchema<T>, version: number, data: T): Buffer {
  const writer = new Writer();
  writer.int16(version);
  writeMessage(writer, schema, version, data);
  return writer.finish();
}

/** Decodes a version-prefixed `schema` message. Throws only `DecodeError`; bytes fields are views of `bytes`. */
export function decodeVersionedData<T>(schema: MessageSchema<T>, bytes: Buffer): VersionedData<T> {
  const reader = new Reader(bytes);
  const version = reader.int16();
  const { min, max } = parseVersionRange(schema.validVersions);
  if (version < min) {
    throw new DecodeError(`${schema.name} version ${version} is older than the oldest known (${schema.validVersions})`, 0, `${schema.name}.version`);
  }
  return { version, data: decodeMessage(schema, Math.min(version, max), reader) };
}
