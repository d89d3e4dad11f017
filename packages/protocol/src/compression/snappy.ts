import snappy from 'snappy';
import { DecodeError } from '../decode-error.js';
import { Reader } from '../primitives/reader.js';

/*
 * Kafka's snappy payloads come in two shapes:
 *
 * - xerial framing, written by the Java client (snappy-java's SnappyOutputStream):
 *     magic "\x82SNAPPY\x00" (8 bytes), version int32 (1), minCompatibleVersion int32 (1),
 *     then chunks of [compressedLength int32 BE][raw snappy block].
 * - one raw snappy block, written by librdkafka and by the kafkajs-snappy codec.
 *
 * Every consumer we care about reads both (snappy-java's SnappyInputStream falls back to raw when
 * the magic is absent; librdkafka, kafkajs-snappy and Sarama sniff the magic the same way). We
 * write xerial framing because it is what the reference client writes, in 32 KiB chunks like
 * snappy-java's default block size, and read both.
 */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;
const XERIAL_VERSION = 1;
const XERIAL_MIN_COMPATIBLE_VERSION = 1;
const XERIAL_CHUNK_BYTES = 32 * 1024;

export function snappyCompress(bytes: Uint8Array): Buffer {
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: Buffer[] = [];
  const header = Buffer.allocUnsafe(XERIAL_HEADER_BYTES);
  XERIAL_MAGIC.copy(header, 0);
  header.writeInt32BE(XERIAL_VERSION, 8);
  header.writeInt32BE(XERIAL_MIN_COMPATIBLE_VERSION, 12);
  parts.push(header);
  let total = XERIAL_HEADER_BYTES;
  for (let start = 0; start < input.length; start += XERIAL_CHUNK_BYTES) {
    const chunk = snappy.compressSync(input.subarray(start, Math.min(input.length, start + XERIAL_CHUNK_BYTES)));
    const length = Buffer.allocUnsafe(4);
    length.writeInt32BE(chunk.length, 0);
    parts.push(length, chunk);
    total += 4 + chunk.length;
  }
  return Buffer.concat(parts, total);
}

/** Raw snappy, one block, as librdkafka writes it. Exposed for interop tests and callers that want it. */
export function snappyCompressRaw(bytes: Uint8Array): Buffer {
  return snappy.compressSync(bytes);
}

export function isXerialFramed(bytes: Uint8Array): boolean {
  if (bytes.length < XERIAL_HEADER_BYTES) return false;
  for (let i = 0; i < XERIAL_MAGIC.length; i++) if (bytes[i] !== XERIAL_MAGIC[i]) return false;
  return true;
}

export function snappyDecompress(bytes: Uint8Array, maxBytes: number): Buffer {
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isXerialFramed(input)) return decompressBlock(input, 0, maxBytes);
  const reader = new Reader(input, XERIAL_HEADER_BYTES);
  const parts: Buffer[] = [];
  let total = 0;
  while (reader.remaining > 0) {
    const at = reader.position;
    const length = reader.int32();
    if (length < 0) throw new DecodeError(`negative xerial chunk length ${length}`, at, 'compression.snappy');
    const chunk = reader.raw(length, 'compression.snappy chunk');
    const part = decompressBlock(chunk, at + 4, maxBytes - total);
    total += part.length;
    parts.push(part);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
}

/** A raw snappy block starts with its uncompressed length: check it before inflating anything. */
function decompressBlock(block: Buffer, offset: number, maxBytes: number): Buffer {
  const declaredBytes = new Reader(block).unsignedVarint();
  if (declaredBytes > maxBytes) {
    throw new DecodeError(`snappy block declares ${declaredBytes} bytes, more than the ${maxBytes} allowed`, offset, 'compression.snappy');
  }
  let output: Buffer;
  try {
    output = snappy.uncompressSync(block, { asBuffer: true }) as Buffer;
  } catch (error) {
    throw new DecodeError(`invalid snappy block: ${(error as Error).message}`, offset, 'compression.snappy');
  }
  if (output.length !== declaredBytes) {
    throw new DecodeError(`snappy block inflated to ${output.length} bytes, declared ${declaredBytes}`, offset, 'compression.snappy');
  }
  return output;
}
