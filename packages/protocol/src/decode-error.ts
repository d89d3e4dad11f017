/**
 * The one error a decoder may throw: the input is truncated or malformed.
 * Carries where it happened so that a log line can name the field and the byte offset.
 */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  constructor(
    message: string,
    /** Byte offset in the buffer being decoded where the problem was found. */
    readonly offset: number,
    /** The field or structure being decoded, e.g. `ProduceRequest.topic_data[0].name`. */
    readonly field?: string,
  ) {
    super(field === undefined ? `${message} at byte ${offset}` : `${message} at byte ${offset} (${field})`);
  }
}
