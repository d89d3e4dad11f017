import { DecodeError } from '../decode-error.js';
import { CompressionType } from '../record-batch/header.js';
import { gzipCompress, gzipDecompress } from './gzip.js';
import { lz4Compress, lz4Decompress } from './lz4.js';
import { snappyCompress, snappyDecompress } from './snappy.js';
import { zstdCompress, zstdDecompress } from './zstd.js';

/**
 * The one interface to Kafka's compression codecs. All are synchronous (native libraries with
 * sync APIs): the broker moves decompression off the event loop by calling these in a worker.
 */

/** Default bound on what one compressed payload may inflate to: a guard against decompression bombs. */
export const DECOMPRESSED_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

export function compress(type: CompressionType, bytes: Uint8Array): Buffer {
  switch (type) {
    case CompressionType.None:
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    case CompressionType.Gzip:
      return gzipCompress(bytes);
    case CompressionType.Snappy:
      return snappyCompress(bytes);
    case CompressionType.Lz4:
      return lz4Compress(bytes);
    case CompressionType.Zstd:
      return zstdCompress(bytes);
    default:
      throw new RangeError(`unknown compression type ${String(type)}`);
  }
}

/**
 * Inflates `bytes`; a payload that is malformed, of an unknown type, or that would inflate past
 * `maxBytes` is a `DecodeError` (offsets are relative to `bytes`).
 */
export function decompress(type: CompressionType, bytes: Uint8Array, maxBytes = DECOMPRESSED_BYTES_MAX_DEFAULT): Buffer {
  switch (type) {
    case CompressionType.None:
      if (bytes.length > maxBytes) throw new DecodeError(`${bytes.length} bytes exceed the limit of ${maxBytes}`, 0, 'compression');
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    case CompressionType.Gzip:
      return gzipDecompress(bytes, maxBytes);
    case CompressionType.Snappy:
      return snappyDecompress(bytes, maxBytes);
    case CompressionType.Lz4:
      return lz4Decompress(bytes, maxBytes);
    case CompressionType.Zstd:
      return zstdDecompress(bytes, maxBytes);
    default:
      throw new DecodeError(`unknown compression type ${String(type)}`, 0, 'compression');
  }
}

export { snappyCompressRaw, isXerialFramed } from './snappy.js';
