import zstd from 'zstd-napi';
import binding from 'zstd-napi/binding.js';
import { DecodeError } from '../decode-error.js';

/*
 * zstd frames at level 3, the Java client's default. zstd-napi's one-shot decompress trusts the
 * content size in the frame header and has no limit, so we drive the streaming context ourselves
 * with bounded output chunks and stop at the limit. One context is reused (creating one costs more
 * than inflating a small batch); it is reset before each payload, so an error leaves nothing behind.
 */
const OUTPUT_CHUNK_BYTES = 128 * 1024;
const COMPRESSION_LEVEL = 3;
const FIELD = 'compression.zstd';

let sharedContext: binding.DCtx | null = null;

export function zstdCompress(bytes: Uint8Array): Buffer {
  return zstd.compress(bytes, { compressionLevel: COMPRESSION_LEVEL });
}

export function zstdDecompress(bytes: Uint8Array, maxBytes: number): Buffer {
  if (bytes.length === 0) throw new DecodeError('empty zstd payload', 0, FIELD);
  sharedContext ??= new binding.DCtx();
  const context = sharedContext;
  context.reset(binding.ResetDirective.sessionOnly);
  const parts: Buffer[] = [];
  let total = 0;
  let input = bytes;
  let pendingBytes = 1;
  // The first frame's declared size (when present and within the limit) sizes the first chunk exactly.
  let declaredBytes: number | null = null;
  try {
    declaredBytes = binding.getFrameContentSize(bytes);
  } catch {
    // Not a valid frame header: decompressStream below reports it.
  }
  let chunkBytes = declaredBytes !== null && declaredBytes > 0 && declaredBytes <= maxBytes ? declaredBytes : OUTPUT_CHUNK_BYTES;
  try {
    while (input.length > 0 || pendingBytes !== 0) {
      const chunk = Buffer.allocUnsafe(Math.min(chunkBytes, maxBytes - total + 1));
      chunkBytes = OUTPUT_CHUNK_BYTES;
      const [pending, produced, consumed] = context.decompressStream(chunk, input);
      pendingBytes = pending;
      input = input.subarray(consumed);
      if (produced > 0) {
        total += produced;
        if (total > maxBytes) throw new DecodeError(`zstd payload inflates past the limit of ${maxBytes} bytes`, bytes.length - input.length, FIELD);
        parts.push(chunk.subarray(0, produced));
      } else if (consumed === 0) {
        // No progress with input left (or a frame left open at the end of the input): truncated.
        throw new DecodeError('truncated zstd frame', bytes.length - input.length, FIELD);
      }
    }
  } catch (error) {
    context.reset(binding.ResetDirective.sessionOnly);
    if (error instanceof DecodeError) throw error;
    throw new DecodeError(`invalid zstd payload: ${(error as Error).message}`, bytes.length - input.length, FIELD);
  }
  if (parts.length === 0) return Buffer.alloc(0);
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
}
