import type { SerdeContext, SerdeRole } from './serde.js';

export type SerdeOperation = 'serialize' | 'deserialize';

/**
 * Why a serde failed, for policies and dead-letter headers:
 * - `malformed`: the bytes are not what the serde reads (bad UTF-8, bad JSON, wrong width, bad magic byte, truncated Avro);
 * - `invalid-value`: the value cannot be written (wrong type, out of range, does not match the schema);
 * - `validation`: a user-supplied validator rejected the value;
 * - `unknown-schema`: the registry has no schema with the payload's id;
 * - `incompatible-schema`: the writer schema cannot be read with the reader schema;
 * - `registry`: the registry failed or could not be reached;
 * - `not-prepared`: a synchronous call needed a schema that `prepare*` had not fetched (a runtime bug).
 */
export type SerdeErrorReason =
  | 'malformed'
  | 'invalid-value'
  | 'validation'
  | 'unknown-schema'
  | 'incompatible-schema'
  | 'registry'
  | 'not-prepared';

export interface SerdeErrorOptions {
  readonly operation: SerdeOperation;
  readonly reason: SerdeErrorReason;
  readonly context: SerdeContext;
  /** Says what is wrong, without the where (the error adds topic, partition, offset and role). */
  readonly detail: string;
  readonly cause?: unknown;
}

/** The one error every serde throws: which record, key or value, what went wrong, and the underlying cause. */
export class SerdeError extends Error {
  override readonly name = 'SerdeError';
  readonly operation: SerdeOperation;
  readonly reason: SerdeErrorReason;
  readonly topic: string;
  readonly role: SerdeRole;
  readonly partition: number | undefined;
  readonly offset: bigint | undefined;
  readonly detail: string;

  constructor(options: SerdeErrorOptions) {
    super(`cannot ${options.operation} the ${options.context.role} ${describeWhere(options.context)}: ${options.detail}`, {
      cause: options.cause,
    });
    this.operation = options.operation;
    this.reason = options.reason;
    this.topic = options.context.topic;
    this.role = options.context.role;
    this.partition = options.context.partition;
    this.offset = options.context.offset;
    this.detail = options.detail;
  }
}

function describeWhere(context: SerdeContext): string {
  let where = `of topic "${context.topic}"`;
  if (context.partition !== undefined) where += ` partition ${context.partition}`;
  if (context.offset !== undefined) where += ` offset ${context.offset}`;
  return where;
}

/** The message of an unknown thrown value, for `detail`. */
export function describeCause(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
