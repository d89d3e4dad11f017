import avro from 'avsc';
import type { Resolver, Schema, Type } from 'avsc';
import { findAvroBoundsProblem, needsAvroBoundsCheck } from './avro-bounds.js';
import { BoundedMap } from './bounded-map.js';
import { CONFLUENT_HEADER_BYTES, readConfluentHeader, writeConfluentHeader } from './confluent-wire-format.js';
import { SchemaRegistryClient, SchemaRegistryError } from './schema-registry-client.js';
import { SerdeError, describeCause } from './serde-error.js';
import type { SerdeErrorReason } from './serde-error.js';
import type { Serde, SerdeContext, SerdeTopicContext } from './serde.js';
import { topicNameStrategy } from './subject-name-strategy.js';
import type { SubjectNameStrategy } from './subject-name-strategy.js';

/**
 * Avro in Confluent's wire format (magic byte 0, 4-byte schema id, Avro binary), against a schema
 * registry, with avsc.
 *
 * - Serializing writes with `schema` (registered under the subject, or looked up when
 *   `autoRegister` is false), or, without `schema`, with the subject's latest version.
 * - Deserializing reads with the writer's schema (fetched by id, once); when `schema` is given it is
 *   the reader schema and the writer's is resolved to it (schema evolution: added fields with
 *   defaults, removed fields, promotions).
 *
 * Both directions are synchronous once `prepareSerialize` / `prepareDeserialize` have fetched what
 * they need (see `Serde`); the caches are bounded.
 */
export interface AvroSerdeOptions {
  /** A client, or the registry's base URL. */
  readonly registry: SchemaRegistryClient | string;
  /**
   * The schema to write with and read into: an Avro schema object, its JSON text, a primitive's name,
   * or an avsc Type. Typed loosely because a schema literal in a variable widens (`type: string`);
   * avsc checks it when the serde is built.
   */
  readonly schema?: Schema | Type | object | string;
  /** A fixed subject, or a strategy; default TopicNameStrategy (`<topic>-key` / `<topic>-value`). */
  readonly subject?: string | SubjectNameStrategy;
  /** Register the schema when serializing (Confluent's `auto.register.schemas`, default true); false looks it up only. */
  readonly autoRegister?: boolean;
  /** avsc options for every schema parsed (logical types, `wrapUnions`, …). */
  readonly typeOptions?: Partial<avro.ForSchemaOptions>;
  /** Distinct writer schema ids kept parsed. Default 1000. */
  readonly writerSchemasMax?: number;
}

/** What an id resolved to: a way to read it, or why it cannot be read (kept, so each record fails the same way). */
type WriterSchema =
  | {
      readonly ok: true;
      /** The type whose binary layout the bytes have (the writer's, or the reader's when canonically equal). */
      readonly type: Type;
      readonly resolver: Resolver | undefined;
      /** The schema holds an array or map: walk the bytes for bounds before avsc decodes them. */
      readonly boundsCheck: boolean;
    }
  | { readonly ok: false; readonly reason: SerdeErrorReason; readonly detail: string };

interface WriteSchema {
  readonly id: number;
  readonly type: Type;
}

const DEFAULT_WRITER_SCHEMAS_MAX = 1000;
const SCRATCH_BYTES_INITIAL = 1024;

export class AvroSerde<T> implements Serde<T> {
  readonly name = 'avro';
  readonly registry: SchemaRegistryClient;
  private readonly readerType: Type | undefined;
  private readonly readerSchemaText: string | undefined;
  private readonly subjectFor: SubjectNameStrategy;
  private readonly autoRegister: boolean;
  private readonly typeOptions: Partial<avro.ForSchemaOptions>;
  private readonly writerSchemas: BoundedMap<number, WriterSchema>;
  private readonly writeSchemas: BoundedMap<string, WriteSchema>;
  /** Reused for every serialize: avsc encodes into it, then one copy leaves with the header. */
  private scratch = Buffer.allocUnsafe(SCRATCH_BYTES_INITIAL);

  constructor(options: AvroSerdeOptions) {
    this.registry = typeof options.registry === 'string' ? new SchemaRegistryClient({ url: options.registry }) : options.registry;
    this.typeOptions = options.typeOptions ?? {};
    if (options.schema !== undefined) {
      this.readerType = avro.Type.isType(options.schema) ? (options.schema as Type) : parseSchema(options.schema, this.typeOptions);
      this.readerSchemaText = JSON.stringify(this.readerType.schema({ exportAttrs: true }));
    }
    const subject = options.subject ?? topicNameStrategy;
    this.subjectFor = typeof subject === 'string' ? () => subject : subject;
    this.autoRegister = options.autoRegister ?? true;
    const entriesMax = options.writerSchemasMax ?? DEFAULT_WRITER_SCHEMAS_MAX;
    this.writerSchemas = new BoundedMap(entriesMax);
    this.writeSchemas = new BoundedMap(entriesMax);
  }

  async prepareSerialize(context: SerdeTopicContext): Promise<void> {
    const subject = this.subjectFor(context);
    if (this.writeSchemas.has(subject)) return;
    try {
      if (this.readerType !== undefined && this.readerSchemaText !== undefined) {
        const id = this.autoRegister
          ? await this.registry.register(subject, this.readerSchemaText)
          : (await this.registry.lookup(subject, this.readerSchemaText)).id;
        this.rememberOwnSchema(subject, id, this.readerType);
        return;
      }
      const latest = await this.registry.getLatest(subject);
      if (latest.schemaType !== 'AVRO') {
        throw new SerdeError({ operation: 'serialize', reason: 'incompatible-schema', context, detail: `the latest schema of subject "${subject}" is ${latest.schemaType}, not Avro` });
      }
      this.rememberOwnSchema(subject, latest.id, parseSchema(latest.schema, this.typeOptions));
    } catch (cause) {
      if (cause instanceof SerdeError) throw cause;
      throw this.registryFailure('serialize', context, cause, `subject "${subject}"`);
    }
  }

  serialize(value: T | null, context: SerdeContext): Buffer | null {
    if (value === null) return null;
    const subject = this.subjectFor(context);
    const write = this.writeSchemas.get(subject);
    if (write === undefined) {
      throw new SerdeError({
        operation: 'serialize',
        reason: 'not-prepared',
        context,
        detail: `no schema id for subject "${subject}" yet: call prepareSerialize first (or use serializeAsync)`,
      });
    }
    let end: number;
    try {
      end = write.type.encode(value, this.scratch, CONFLUENT_HEADER_BYTES);
      if (end < 0) {
        // avsc returns minus the missing byte count when the buffer is too small.
        this.scratch = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, this.scratch.length - end));
        end = write.type.encode(value, this.scratch, CONFLUENT_HEADER_BYTES);
      }
    } catch (cause) {
      throw new SerdeError({ operation: 'serialize', reason: 'invalid-value', context, detail: describeInvalidValue(write.type, value, cause), cause });
    }
    const payload = Buffer.allocUnsafe(end);
    writeConfluentHeader(payload, write.id);
    this.scratch.copy(payload, CONFLUENT_HEADER_BYTES, CONFLUENT_HEADER_BYTES, end);
    return payload;
  }

  async prepareDeserialize(payloads: Iterable<Buffer | null>, context: SerdeTopicContext): Promise<void> {
    const unknownIds = new Set<number>();
    for (const payload of payloads) {
      if (payload === null) continue;
      const header = readConfluentHeader(payload);
      // A bad header fails in deserialize, for that record alone.
      if (header.ok && !this.writerSchemas.has(header.schemaId)) unknownIds.add(header.schemaId);
    }
    await Promise.all([...unknownIds].map((id) => this.fetchWriterSchema(id, context)));
  }

  deserialize(bytes: Buffer | null, context: SerdeContext): T | null {
    if (bytes === null) return null;
    const header = readConfluentHeader(bytes);
    if (!header.ok) throw new SerdeError({ operation: 'deserialize', reason: 'malformed', context, detail: header.problem });
    const writer = this.writerSchemas.get(header.schemaId);
    if (writer === undefined) {
      throw new SerdeError({
        operation: 'deserialize',
        reason: 'not-prepared',
        context,
        detail: `schema id ${header.schemaId} has not been fetched: call prepareDeserialize first (or use deserializeAsync)`,
      });
    }
    if (!writer.ok) throw new SerdeError({ operation: 'deserialize', reason: writer.reason, context, detail: writer.detail });
    if (writer.boundsCheck) {
      const problem = findAvroBoundsProblem(writer.type, bytes, CONFLUENT_HEADER_BYTES);
      if (problem !== undefined) {
        throw new SerdeError({ operation: 'deserialize', reason: 'malformed', context, detail: `the Avro body does not fit schema id ${header.schemaId}: ${problem}` });
      }
    }
    let decoded: { value: unknown; offset: number };
    try {
      decoded = writer.resolver === undefined
        ? writer.type.decode(bytes, CONFLUENT_HEADER_BYTES)
        : this.readerType!.decode(bytes, CONFLUENT_HEADER_BYTES, writer.resolver);
    } catch (cause) {
      // avsc throws plain errors on some garbage (a union branch index out of range, an invalid enum index).
      throw new SerdeError({ operation: 'deserialize', reason: 'malformed', context, detail: `the Avro body does not match schema id ${header.schemaId} (${describeCause(cause)})`, cause });
    }
    if (decoded.offset < 0) {
      throw new SerdeError({ operation: 'deserialize', reason: 'malformed', context, detail: `the Avro body is truncated for schema id ${header.schemaId}` });
    }
    if (decoded.offset !== bytes.length) {
      throw new SerdeError({
        operation: 'deserialize',
        reason: 'malformed',
        context,
        detail: `${bytes.length - decoded.offset} bytes follow the Avro body of schema id ${header.schemaId}`,
      });
    }
    return decoded.value as T;
  }

  /** What this serde writes it can read back without asking the registry for the id. */
  private rememberOwnSchema(subject: string, id: number, type: Type): void {
    this.writeSchemas.set(subject, { id, type });
    if (!this.writerSchemas.has(id)) this.writerSchemas.set(id, this.toWriterType(id, type));
  }

  private async fetchWriterSchema(id: number, context: SerdeTopicContext): Promise<void> {
    let fetched;
    try {
      fetched = await this.registry.getSchemaById(id);
    } catch (cause) {
      if (cause instanceof SchemaRegistryError && cause.kind === 'not-found') {
        // Ids are immutable, so an unknown id stays unknown: remember it, fail each of its records alone.
        this.writerSchemas.set(id, { ok: false, reason: 'unknown-schema', detail: `schema id ${id} is not in the registry at ${this.registry.url}` });
        return;
      }
      // The registry is down or broken: the batch cannot proceed, and nothing is remembered.
      throw this.registryFailure('deserialize', context, cause, `schema id ${id}`);
    }
    this.writerSchemas.set(id, this.toWriterSchema(id, fetched.schema, fetched.schemaType));
  }

  private toWriterSchema(id: number, schemaText: string, schemaType: string): WriterSchema {
    if (schemaType !== 'AVRO') return { ok: false, reason: 'incompatible-schema', detail: `schema id ${id} is a ${schemaType} schema, not Avro` };
    let writerType: Type;
    try {
      writerType = parseSchema(schemaText, this.typeOptions);
    } catch (cause) {
      return { ok: false, reason: 'incompatible-schema', detail: `schema id ${id} is not a valid Avro schema (${describeCause(cause)})` };
    }
    return this.toWriterType(id, writerType);
  }

  private toWriterType(id: number, writerType: Type): WriterSchema {
    const boundsCheck = needsAvroBoundsCheck(writerType);
    if (this.readerType === undefined || this.readerType.equals(writerType)) {
      // Same canonical form: the binary layout is identical, so read directly without a resolver.
      return { ok: true, type: this.readerType ?? writerType, resolver: undefined, boundsCheck };
    }
    try {
      return { ok: true, type: writerType, resolver: this.readerType.createResolver(writerType), boundsCheck };
    } catch (cause) {
      return { ok: false, reason: 'incompatible-schema', detail: `schema id ${id} cannot be read with the reader schema (${describeCause(cause)})` };
    }
  }

  private registryFailure(operation: 'serialize' | 'deserialize', context: SerdeTopicContext, cause: unknown, what: string): SerdeError {
    const notFound = cause instanceof SchemaRegistryError && cause.kind === 'not-found';
    return new SerdeError({
      operation,
      reason: notFound ? 'unknown-schema' : 'registry',
      context,
      detail: `the schema registry at ${this.registry.url} could not resolve ${what}: ${describeCause(cause)}`,
      cause,
    });
  }
}

/** A schema object, its JSON text (`{…}`, `[…]`, `"string"`), or a bare primitive name (`string`, `long`). */
function parseSchema(schema: object | string, typeOptions: Partial<avro.ForSchemaOptions>): Type {
  const parsed = (typeof schema === 'string' && /^\s*[[{"]/.test(schema) ? JSON.parse(schema) : schema) as Schema;
  // A fresh registry per parse (seeded with the caller's types): named types from one schema must not leak into another.
  return avro.Type.forSchema(parsed, { ...typeOptions, registry: { ...typeOptions.registry } });
}

/** avsc's own message says little ("invalid \"int\": …"); the error hook names the field path. */
function describeInvalidValue(type: Type, value: unknown, cause: unknown): string {
  const paths: string[] = [];
  try {
    type.isValid(value, { errorHook: (path) => paths.push(path.length === 0 ? '(the value)' : path.join('.')) });
  } catch {
    // isValid itself may throw on exotic values; the original cause still explains it.
  }
  const where = paths.length === 0 ? '' : ` at ${paths.slice(0, 3).join(', ')}`;
  return `the value does not match the Avro schema${where} (${describeCause(cause)})`;
}
