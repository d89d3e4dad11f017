import lz4 from 'lz4-napi';
import { DecodeError } from '../decode-error.js';
import { Reader } from '../primitives/reader.js';

/*
 * Kafka's LZ4 is the LZ4 *frame* format: magic 0x184D2204 (LE), FLG, BD, optional content size
 * (8 bytes) and dictionary id (4), header checksum (1), then blocks of [size uint32 LE, high bit =
 * stored uncompressed][data][block checksum (4)?], an end mark 0, and an optional content checksum.
 * Java's KafkaLZ4BlockOutputStream, librdkafka and kafkajs-lz4 write such frames with independent
 * blocks; Java refuses dependent (linked) blocks, and so do we.
 *
 * Encoding is lz4-napi's (lz4_flex) frame encoder. Decoding walks the frame ourselves and inflates
 * block by block with lz4-napi's block decoder, each given an output capacity of at most what the
 * limit has left: lz4_flex's frame decoder has no output limit, decodes only the first frame and
 * accepts a missing end mark. The xxHash checksums inside the frame are not verified: the batch's
 * CRC-32C (or the legacy message's CRC-32) already covers every byte. A side effect: LZ4 in magic-0
 * messages from Kafka < 0.10, whose header checksum Java computed wrongly, decodes too.
 */
const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const FLG_VERSION_MASK = 0xc0;
const FLG_VERSION_01 = 0x40;
const FLG_BLOCK_INDEPENDENCE = 0x20;
const FLG_BLOCK_CHECKSUM = 0x10;
const FLG_CONTENT_SIZE = 0x08;
const FLG_CONTENT_CHECKSUM = 0x04;
const FLG_DICTIONARY_ID = 0x01;
const BLOCK_UNCOMPRESSED_FLAG = 0x80000000;
const FIELD = 'compression.lz4';

export function lz4Compress(bytes: Uint8Array): Buffer {
  return lz4.compressFrameSync(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

export function lz4Decompress(bytes: Uint8Array, maxBytes: number): Buffer {
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (input.length === 0) throw new DecodeError('empty lz4 payload', 0, FIELD);
  const reader = new Reader(input);
  const parts: Buffer[] = [];
  let total = 0;
  while (reader.remaining > 0) {
    const frameAt = reader.position;
    const magic = readUInt32LE(reader);
    if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      reader.raw(readUInt32LE(reader), 'lz4 skippable frame');
      continue;
    }
    if (magic !== FRAME_MAGIC) throw new DecodeError(`not an lz4 frame (magic 0x${magic.toString(16)})`, frameAt, FIELD);
    const flg = reader.uint8();
    const bd = reader.uint8();
    if ((flg & FLG_VERSION_MASK) !== FLG_VERSION_01) {
      throw new DecodeError(`unsupported lz4 frame version in FLG 0x${flg.toString(16)}`, frameAt + 4, FIELD);
    }
    if ((flg & FLG_BLOCK_INDEPENDENCE) === 0) throw new DecodeError('lz4 frames with dependent blocks are not supported', frameAt + 4, FIELD);
    const blockSizeId = (bd >> 4) & 0x07;
    if (blockSizeId < 4) throw new DecodeError(`invalid lz4 block size id ${blockSizeId}`, frameAt + 5, FIELD);
    const blockBytesMax = 1 << (2 * blockSizeId + 8);
    const contentBytes = (flg & FLG_CONTENT_SIZE) !== 0 ? readUInt64LE(reader) : null;
    if (contentBytes !== null && contentBytes > BigInt(maxBytes - total)) {
      throw new DecodeError(`lz4 frame declares ${contentBytes} bytes, past the limit of ${maxBytes}`, frameAt, FIELD);
    }
    if ((flg & FLG_DICTIONARY_ID) !== 0) throw new DecodeError('lz4 frames with a dictionary are not supported', frameAt + 4, FIELD);
    reader.uint8(); // header checksum, see above
    const frameStartBytes = total;
    for (;;) {
      const blockAt = reader.position;
      const word = readUInt32LE(reader);
      if (word === 0) break;
      const blockBytes = (word & ~BLOCK_UNCOMPRESSED_FLAG) >>> 0;
      if (blockBytes > blockBytesMax) throw new DecodeError(`lz4 block of ${blockBytes} bytes exceeds the frame's ${blockBytesMax}`, blockAt, FIELD);
      const block = reader.raw(blockBytes, 'lz4 block');
      if ((flg & FLG_BLOCK_CHECKSUM) !== 0) reader.raw(4, 'lz4 block checksum');
      const capacity = Math.min(blockBytesMax, maxBytes - total);
      const output = (word & BLOCK_UNCOMPRESSED_FLAG) !== 0 ? storedBlock(block, capacity, maxBytes, blockAt) : inflateBlock(block, capacity, maxBytes, blockAt);
      total += output.length;
      parts.push(output);
    }
    if ((flg & FLG_CONTENT_CHECKSUM) !== 0) reader.raw(4, 'lz4 content checksum');
    if (contentBytes !== null && BigInt(total - frameStartBytes) !== contentBytes) {
      throw new DecodeError(`lz4 frame inflated to ${total - frameStartBytes} bytes, declared ${contentBytes}`, frameAt, FIELD);
    }
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
}

function storedBlock(block: Buffer, capacity: number, maxBytes: number, blockAt: number): Buffer {
  if (block.length > capacity) throw new DecodeError(`lz4 payload inflates past the limit of ${maxBytes} bytes`, blockAt, FIELD);
  return block;
}

/** lz4-napi's block decoder reads a 4-byte LE size prefix as the output capacity and fails beyond it. */
function inflateBlock(block: Buffer, capacity: number, maxBytes: number, blockAt: number): Buffer {
  const prefixed = Buffer.allocUnsafe(4 + block.length);
  prefixed.writeUInt32LE(capacity, 0);
  block.copy(prefixed, 4);
  try {
    return lz4.uncompressSync(prefixed);
  } catch (error) {
    throw new DecodeError(`lz4 block is corrupt or inflates past ${capacity} bytes (limit ${maxBytes}): ${(error as Error).message}`, blockAt, FIELD);
  }
}

function readUInt32LE(reader: Reader): number {
  return reader.raw(4, 'lz4 uint32').readUInt32LE(0);
}

function readUInt64LE(reader: Reader): bigint {
  return reader.raw(8, 'lz4 uint64').readBigUInt64LE(0);
}
