import { SerdeError } from './serde-error.js';
import type { Serde } from './serde.js';

export interface BytesSerdeOptions {
  /**
   * Copy the bytes on deserialize (default true). Fetched records may be views into pooled buffers that
   * are reused after the batch; pass `false` only when the bytes never outlive the batch.
   */
  readonly copy?: boolean;
}

/** Raw bytes, unchanged, like Kafka's ByteArraySerializer. */
export function bytesSerde(options: BytesSerdeOptions = {}): Serde<Buffer> {
  const copy = options.copy ?? true;
  return {
    name: 'bytes',
    serialize(value, context) {
      // Typed as Buffer, but callers in plain JavaScript (or behind a cast) may pass anything.
      const bytes: unknown = value;
      if (bytes === null) return null;
      if (Buffer.isBuffer(bytes)) return bytes;
      // A plain Uint8Array is accepted as a view, without copying.
      if (bytes instanceof Uint8Array) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      throw new SerdeError({ operation: 'serialize', reason: 'invalid-value', context, detail: `expected a Buffer, got ${typeof bytes}` });
    },
    deserialize(bytes) {
      if (bytes === null) return null;
      return copy ? Buffer.from(bytes) : bytes;
    },
  };
}
