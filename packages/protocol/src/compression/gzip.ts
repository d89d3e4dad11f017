import { gunzipSync, gzipSync } from 'node:zlib';
import { DecodeError } from '../decode-error.js';

/**
 * gzip (RFC 1952) through node:zlib at its default level, as the Java client and kafkajs use.
 * Node writes a fixed header (mtime 0), so the output is deterministic for given input.
 */
export function gzipCompress(bytes: Uint8Array): Buffer {
  return gzipSync(bytes);
}

/** zlib stops inflating at `maxBytes` on its own (`maxOutputLength`), so a gzip bomb costs nothing. */
export function gzipDecompress(bytes: Uint8Array, maxBytes: number): Buffer {
  try {
    return gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DecodeError(`gzip payload inflates past the limit of ${maxBytes} bytes`, 0, 'compression.gzip');
    }
    throw new DecodeError(`invalid gzip payload: ${(error as Error).message}`, 0, 'compression.gzip');
  }
}
