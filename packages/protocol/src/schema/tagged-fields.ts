import { DecodeError } from '../decode-error.js';
import type { Reader } from '../primitives/reader.js';

/** Bytes of the smallest tagged-field entry: a one-byte tag and a one-byte size. */
export const TAGGED_FIELD_MIN_BYTES = 2;

/**
 * Reads the count of a tagged-field section (KIP-482), bounded by the bytes that remain so that a
 * hostile count cannot make a reader loop long.
 */
export function readTaggedFieldCount(reader: Reader): number {
  const at = reader.position;
  const count = reader.unsignedVarint();
  if (count * TAGGED_FIELD_MIN_BYTES > reader.remaining) {
    throw new DecodeError(`${count} tagged fields cannot fit in ${reader.remaining} remaining bytes`, at, 'tagged fields');
  }
  return count;
}

/** Reads a tagged-field section and ignores every field in it (headers define none we use). */
export function readTaggedFieldsSkipping(reader: Reader): void {
  const count = readTaggedFieldCount(reader);
  for (let i = 0; i < count; i++) {
    reader.unsignedVarint(); // tag
    reader.raw(reader.unsignedVarint(), 'tagged field');
  }
}
