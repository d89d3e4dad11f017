/**
 * A serde turns a record's key or value into bytes and back.
 *
 * Why synchronous: the runtime runs the operators over a fetched batch synchronously (no await per
 * record), so `serialize` and `deserialize` never do I/O. A serde that needs I/O (Avro against a
 * schema registry) does it up front in `prepareDeserialize` / `prepareSerialize`, which the runtime
 * awaits once per batch (or once per output topic); after they resolve, the synchronous calls for
 * those payloads hit a cache. Callers outside the runtime can use `serializeAsync` /
 * `deserializeAsync`, which do both steps.
 *
 * Null is a tombstone in Kafka: every serde maps a null value to a null payload and back.
 */
export type SerdeRole = 'key' | 'value';

/** Where the bytes belong: Confluent's subject naming and every error message use it. */
export interface SerdeTopicContext {
  readonly topic: string;
  /** Whether the bytes are the record's key or its value (subjects `<topic>-key` / `<topic>-value`). */
  readonly role: SerdeRole;
}

/**
 * The topic context plus the record's position when it is known (on the consume side).
 *
 * Valid only during the call it is passed to, as Kafka's are: the runtime reuses one context per
 * batch and role and moves it to each record's offset (no object per record). A serde that needs
 * the position later copies the fields it needs (`SerdeError` does).
 */
export interface SerdeContext extends SerdeTopicContext {
  readonly partition?: number;
  readonly offset?: bigint;
}

export interface Serde<T> {
  /** A short name for logs and errors, e.g. `string`, `json`, `avro`. */
  readonly name: string;
  /** Throws `SerdeError` when the value cannot be written (wrong type, failed validation, no schema id cached). */
  serialize(value: T | null, context: SerdeContext): Buffer | null;
  /** Throws `SerdeError` on bytes it cannot read; never anything else, whatever the bytes. */
  deserialize(bytes: Buffer | null, context: SerdeContext): T | null;
  /**
   * Resolve what `deserialize` will need for these payloads (e.g. every unknown schema id), so that
   * it is synchronous afterwards. Rejects only when the whole batch cannot proceed (e.g. the registry
   * is unreachable); a payload that is merely bad fails later, in its own `deserialize`.
   */
  prepareDeserialize?(payloads: Iterable<Buffer | null>, context: SerdeTopicContext): Promise<void>;
  /** Resolve what `serialize` will need for this topic and role (e.g. register the schema). */
  prepareSerialize?(context: SerdeTopicContext): Promise<void>;
}

/** Serialize outside the runtime: prepares first when the serde needs it. */
export async function serializeAsync<T>(serde: Serde<T>, value: T | null, context: SerdeContext): Promise<Buffer | null> {
  if (value !== null && serde.prepareSerialize !== undefined) await serde.prepareSerialize(context);
  return serde.serialize(value, context);
}

/** Deserialize outside the runtime: prepares first when the serde needs it. */
export async function deserializeAsync<T>(serde: Serde<T>, bytes: Buffer | null, context: SerdeContext): Promise<T | null> {
  if (bytes !== null && serde.prepareDeserialize !== undefined) await serde.prepareDeserialize([bytes], context);
  return serde.deserialize(bytes, context);
}
