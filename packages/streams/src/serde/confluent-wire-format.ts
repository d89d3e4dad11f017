/**
 * Confluent's wire format for schema-registry serdes, shared by Avro, Protobuf and JSON Schema:
 *
 *   magic byte  int8   always 0
 *   schema id   int32  big-endian, the registry's global id of the writer schema
 *   body        the serialized value (for Avro: the Avro binary encoding, no container header)
 */
export const CONFLUENT_MAGIC_BYTE = 0;
export const CONFLUENT_HEADER_BYTES = 5;
export const SCHEMA_ID_MAX = 2 ** 31 - 1;

export type ConfluentHeader = { readonly ok: true; readonly schemaId: number } | { readonly ok: false; readonly problem: string };

/** Reads the 5-byte header; a problem (too short, bad magic byte) is returned, not thrown. */
export function readConfluentHeader(payload: Buffer): ConfluentHeader {
  if (payload.length < CONFLUENT_HEADER_BYTES) {
    return { ok: false, problem: `${payload.length} bytes are shorter than the ${CONFLUENT_HEADER_BYTES}-byte Confluent header` };
  }
  const magic = payload[0]!;
  if (magic !== CONFLUENT_MAGIC_BYTE) {
    return {
      ok: false,
      problem: `unknown magic byte 0x${magic.toString(16).padStart(2, '0')} (the Confluent wire format starts with 0x00)`,
    };
  }
  return { ok: true, schemaId: payload.readInt32BE(1) };
}

/** Writes the 5-byte header at the start of `target`. */
export function writeConfluentHeader(target: Buffer, schemaId: number): void {
  if (!Number.isInteger(schemaId) || schemaId < 0 || schemaId > SCHEMA_ID_MAX) {
    throw new RangeError(`schema id must be an integer in [0, ${SCHEMA_ID_MAX}], got ${schemaId}`);
  }
  target[0] = CONFLUENT_MAGIC_BYTE;
  target.writeInt32BE(schemaId, 1);
}
