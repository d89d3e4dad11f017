/**
 * The data handed to an encoder cannot be written in the requested version: a field that version
 * lacks carries a non-default value (and is not ignorable), a null where the version does not allow
 * one, a value of the wrong type, or a version the schema does not define. This is a caller's
 * mistake, not bad input from the wire, so it is a separate type from `DecodeError`.
 */
export class EncodeError extends Error {
  override readonly name = 'EncodeError';
  constructor(
    /** What is wrong, without the location. */
    readonly detail: string,
    /** The field being encoded, e.g. `FetchRequest.topics[0].partitions[1].currentLeaderEpoch`. */
    readonly field: string,
  ) {
    super(field === '' ? detail : `${detail} (${field})`);
  }

  /** The same error one level further out: `segment` is a field name or an `[index]`. */
  within(segment: string): EncodeError {
    if (this.field === '') return new EncodeError(this.detail, segment);
    return new EncodeError(this.detail, this.field.startsWith('[') ? `${segment}${this.field}` : `${segment}.${this.field}`);
  }
}
