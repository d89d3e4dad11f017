/**
 * Strict UTF-8 decoding in one pass: a `fatal` TextDecoder checks the bytes while it decodes them,
 * where `isUtf8` then `toString` read them twice (measured on the bench's records: about 40% less
 * CPU for a 10-byte key, a little less for a 100-byte JSON value). `ignoreBOM` keeps a leading BOM
 * in the text, as `Buffer.toString` does. Decoding without `stream` keeps no state between calls,
 * so one decoder serves every serde.
 */
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The text of `bytes`, or undefined when they are not valid UTF-8. */
export function decodeUtf8Strict(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}
