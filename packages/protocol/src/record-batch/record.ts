import { DecodeError } from '../decode-error.js';
import type { Reader } from '../primitives/reader.js';
import { varintSize, type Writer } from '../primitives/writer.js';

/*
 * Record (inside a v2 batch), all integers zig-zag varints:
 *
 *   length          varint    bytes that follow
 *   attributes      int8      unused, written 0
 *   timestampDelta  varlong   from the batch's baseTimestamp
 *   offsetDelta     varint    from the batch's baseOffset
 *   keyLength       varint    -1 = null
 *   key             bytes
 *   valueLength     varint    -1 = null
 *   value           bytes
 *   headersCount    varint
 *   headers         [headerKeyLength varint, headerKey utf8, headerValueLength varint (-1 = null), value]
 */

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

export interface Record {
  offsetDelta: number;
  timestampDelta: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

/** A record's fields with everything resolved, ready to write. */
export interface RecordToEncode {
  offsetDelta: number;
  timestampDelta: bigint;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: readonly RecordHeader[];
}

/** attributes + the smallest possible varints for the other six fields. */
export const RECORD_BYTES_MIN = 7;

/** Bytes a zig-zag varlong of `value` takes. */
export function varlongSize(value: bigint): number {
  const signed = BigInt.asIntN(64, value);
  let rest = BigInt.asUintN(64, (signed << 1n) ^ (signed >> 63n));
  let size = 1;
  while (rest >= 0x80n) {
    rest >>= 7n;
    size++;
  }
  return size;
}

function nullableBytesSize(bytes: Uint8Array | null): number {
  return bytes === null ? 1 : varintSize(bytes.length) + bytes.length;
}

/** What encoding a record needs computed first: its body size and its header keys as UTF-8. */
export interface RecordMeasure {
  bodyBytes: number;
  headerKeys: Buffer[];
}

export function measureRecord(record: RecordToEncode): RecordMeasure {
  const headerKeys = record.headers.map((header) => Buffer.from(header.key, 'utf8'));
  let bodyBytes =
    1 +
    varlongSize(record.timestampDelta) +
    varintSize(record.offsetDelta) +
    nullableBytesSize(record.key) +
    nullableBytesSize(record.value) +
    varintSize(record.headers.length);
  for (let i = 0; i < headerKeys.length; i++) {
    bodyBytes += nullableBytesSize(headerKeys[i]!) + nullableBytesSize(record.headers[i]!.value);
  }
  return { bodyBytes, headerKeys };
}

/** Bytes the record takes on the wire, length prefix included. */
export function encodedRecordBytes(measure: RecordMeasure): number {
  return varintSize(measure.bodyBytes) + measure.bodyBytes;
}

/** Writes one record, length prefix included. Pass the measure when the caller already has it. */
export function encodeRecord(writer: Writer, record: RecordToEncode, measure: RecordMeasure = measureRecord(record)): void {
  const { bodyBytes, headerKeys } = measure;
  writer.varint(bodyBytes);
  writer.int8(0);
  writer.varlong(record.timestampDelta);
  writer.varint(record.offsetDelta);
  writeNullableBytes(writer, record.key);
  writeNullableBytes(writer, record.value);
  writer.varint(record.headers.length);
  for (let i = 0; i < headerKeys.length; i++) {
    writeNullableBytes(writer, headerKeys[i]!);
    writeNullableBytes(writer, record.headers[i]!.value);
  }
}

function writeNullableBytes(writer: Writer, bytes: Uint8Array | null): void {
  if (bytes === null) {
    writer.varint(-1);
  } else {
    writer.varint(bytes.length);
    writer.raw(bytes);
  }
}

/**
 * Reads one record. Its body must use exactly the bytes its length prefix declares. Keys, values
 * and header values are views of the reader's buffer, not copies.
 */
export function decodeRecord(reader: Reader): Record {
  const lengthAt = reader.position;
  const bodyBytes = readVarint(reader);
  if (bodyBytes < RECORD_BYTES_MIN - 1 || bodyBytes > reader.remaining) {
    throw new DecodeError(`record length ${bodyBytes} does not fit the ${reader.remaining} bytes left`, lengthAt, 'Record.length');
  }
  const end = reader.position + bodyBytes;
  reader.int8(); // attributes: unused since 0.11
  const timestampDelta = readTimestampDelta(reader);
  const offsetDelta = readVarint(reader);
  const key = readNullableBytes(reader, 'Record.key');
  const value = readNullableBytes(reader, 'Record.value');
  const countAt = reader.position;
  const headersCount = readVarint(reader);
  // Each header takes at least two bytes (two length varints).
  if (headersCount < 0 || (headersCount > 0 && headersCount * 2 > end - reader.position)) {
    throw new DecodeError(`invalid headers count ${headersCount}`, countAt, 'Record.headers');
  }
  const headers: RecordHeader[] = new Array<RecordHeader>(headersCount);
  for (let i = 0; i < headersCount; i++) {
    const keyAt = reader.position;
    const headerKey = readNullableBytes(reader, 'Record.headers.key');
    if (headerKey === null) throw new DecodeError('null header key', keyAt, 'Record.headers.key');
    headers[i] = { key: headerKey.toString('utf8'), value: readNullableBytes(reader, 'Record.headers.value') };
  }
  if (reader.position !== end) {
    throw new DecodeError(`record body used ${reader.position - (end - bodyBytes)} bytes, its length says ${bodyBytes}`, reader.position, 'Record.length');
  }
  return { offsetDelta, timestampDelta, key, value, headers };
}

/**
 * A zig-zag varint of a record (a length, a delta, a count): one- and two-byte ones, nearly all of
 * them, read here without a loop; longer ones, and any near the end of the input, by the Reader
 * (same value, same errors).
 */
function readVarint(reader: Reader): number {
  const buffer = reader.buffer;
  const at = reader.position;
  if (at + 2 <= reader.end) {
    const first = buffer[at]!;
    if (first < 0x80) {
      reader.position = at + 1;
      return (first >>> 1) ^ -(first & 1);
    }
    const second = buffer[at + 1]!;
    if (second < 0x80) {
      const raw = (first & 0x7f) | (second << 7);
      reader.position = at + 2;
      return (raw >>> 1) ^ -(raw & 1);
    }
  }
  return reader.varint();
}

/**
 * The zig-zag varlong timestampDelta, on numbers while it takes at most 7 bytes (|delta| < 2^48 ms:
 * every real one) and then one bigint; the Reader's bigint path (several bigints per byte) takes
 * longer ones and reports truncation. Same value, same errors: it is the decoder's hottest read.
 */
function readTimestampDelta(reader: Reader): bigint {
  const buffer = reader.buffer;
  const start = reader.position;
  const limit = Math.min(reader.end, start + 7);
  let raw = 0;
  let scale = 1;
  for (let at = start; at < limit; at++) {
    const byte = buffer[at]!;
    raw += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      reader.position = at + 1;
      return BigInt(raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2);
    }
    scale *= 0x80;
  }
  return reader.varlong();
}

function readNullableBytes(reader: Reader, field: string): Buffer | null {
  const at = reader.position;
  const length = readVarint(reader);
  if (length === -1) return null;
  if (length < 0) throw new DecodeError(`invalid length ${length}`, at, field);
  return reader.raw(length, field);
}
