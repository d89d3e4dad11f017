import { DecodeError } from '../decode-error.js';
import { Reader } from '../primitives/reader.js';
import { Writer } from '../primitives/writer.js';
import { EncodeError } from './encode-error.js';
import { readTaggedFieldCount } from './tagged-fields.js';
import type { DefaultValue, FieldSchema, MessageSchema, PrimitiveType, StructSchema } from './types.js';
import { versionInRange } from './versions.js';

/**
 * A schema compiled for one version: each field becomes a small record of closures (read, write,
 * default, is-default) chosen once for that version's encoding (classic or compact, nullable or
 * not, inline, tagged or absent). Encoding and decoding then only walk these arrays; the JSON-like
 * schema is never re-interpreted on the hot path.
 */

export type Data = Record<string, unknown>;

export const FieldMode = {
  /** Written in order, in the body of the struct. */
  Inline: 0,
  /** Written in the tagged-field section at the end of the struct (KIP-482). */
  Tagged: 1,
  /** Not part of this version: decoded as its default, and must be default (or ignorable) to encode. */
  Absent: 2,
} as const;
export type FieldMode = (typeof FieldMode)[keyof typeof FieldMode];

export interface FieldPlan {
  readonly key: string;
  readonly mode: FieldMode;
  readonly tag: number;
  readonly nullable: boolean;
  readonly ignorable: boolean;
  /** Fewest bytes the field can take inline; bounds array lengths read from the wire. */
  readonly minBytes: number;
  readonly read: (reader: Reader) => unknown;
  /** Writes a value, null included (already checked against `nullable`). */
  readonly write: (writer: Writer, value: unknown) => void;
  /** A fresh default value (arrays and structs are new objects every time). */
  readonly defaultValue: () => unknown;
  readonly isDefault: (value: unknown) => boolean;
}

export interface StructPlan {
  readonly name: string;
  readonly flexible: boolean;
  /** Every field of the schema, in schema order, whatever its mode. */
  readonly fields: readonly FieldPlan[];
  /** Tagged fields of this version, by ascending tag. */
  readonly tagged: readonly FieldPlan[];
  readonly taggedByTag: ReadonlyMap<number, FieldPlan>;
  readonly minBytes: number;
  /** Reads the struct's body (everything but the tagged section) into a new object. */
  readonly readBody: (reader: Reader) => Data;
}

const ZERO_UUID = 'AAAAAAAAAAAAAAAAAAAAAA';
const EMPTY_BYTES = Buffer.alloc(0);

const plansBySchema = new WeakMap<MessageSchema<unknown>, Map<number, StructPlan>>();

/** The compiled plan of `schema` at `version`, built once and cached. */
export function messagePlan(schema: MessageSchema<unknown>, version: number): StructPlan | undefined {
  let plans = plansBySchema.get(schema);
  if (plans === undefined) {
    plans = new Map();
    plansBySchema.set(schema, plans);
  }
  let plan = plans.get(version);
  if (plan === undefined) {
    if (!Number.isInteger(version) || !versionInRange(schema.validVersions, version)) return undefined;
    const flexible = versionInRange(schema.flexibleVersions, version);
    plan = compileStruct({ name: schema.name, fields: schema.fields }, version, flexible);
    plans.set(version, plan);
  }
  return plan;
}

function compileStruct(struct: StructSchema, version: number, flexible: boolean): StructPlan {
  const fields = struct.fields.map((field) => compileField(field, version, flexible));
  const tagged = fields.filter((field) => field.mode === FieldMode.Tagged).sort((a, b) => a.tag - b.tag);
  let minBytes = flexible ? 1 : 0;
  for (const field of fields) if (field.mode === FieldMode.Inline) minBytes += field.minBytes;
  return {
    name: struct.name,
    flexible,
    fields,
    tagged,
    taggedByTag: new Map(tagged.map((field) => [field.tag, field])),
    minBytes,
    readBody: compileBodyReader(fields),
  };
}

/**
 * Builds the body reader of one struct as a specialised function that returns an object literal
 * with the fields in schema order. A generic loop storing `out[field.key]` makes every property
 * store megamorphic (one site shared by all structs), which profiling showed to dominate decoding;
 * an object literal per struct gets one fixed shape and monomorphic stores. The generated source
 * contains only field indices and JSON-quoted property names, never data.
 */
function compileBodyReader(fields: readonly FieldPlan[]): (reader: Reader) => Data {
  const steps: string[] = [];
  const properties: string[] = [];
  fields.forEach((field, index) => {
    const source = field.mode === FieldMode.Inline ? `read${index}(reader)` : `fallback${index}()`;
    steps.push(`i = ${index}; const v${index} = ${source};`);
    properties.push(`${JSON.stringify(field.key)}: v${index}`);
  });
  const bindings = fields.map((_, index) => `const read${index} = fields[${index}].read, fallback${index} = fields[${index}].defaultValue;`);
  const body =
    `${bindings.join('\n')}\n` +
    `return function readBody(reader) {\n` +
    `  let i = 0;\n` +
    `  try {\n    ${steps.join('\n    ')}\n    return { ${properties.join(', ')} };\n  }\n` +
    `  catch (error) { throw onError(error, fields[i].key); }\n` +
    `};`;
  const factory = new Function('fields', 'onError', body) as (
    fields: readonly FieldPlan[],
    onError: (error: unknown, key: string) => unknown,
  ) => (reader: Reader) => Data;
  return factory(fields, decodeErrorAt);
}

function compileField(field: FieldSchema, version: number, messageFlexible: boolean): FieldPlan {
  const present = versionInRange(field.versions, version);
  const mode = !present ? FieldMode.Absent : versionInRange(field.taggedVersions, version) ? FieldMode.Tagged : FieldMode.Inline;
  const nullable = present && versionInRange(field.nullableVersions, version);
  const compact = field.flexibleVersions === undefined ? messageFlexible : versionInRange(field.flexibleVersions, version);
  const common = { key: field.key, mode, tag: field.tag ?? -1, nullable, ignorable: field.ignorable === true };
  // A null default stands as declared where the field is absent (Kafka's objects carry it there too)
  // and where the version allows null; elsewhere the type's zero value takes its place.
  const nullDefaultAllowed = !present || nullable;

  switch (field.kind) {
    case 'primitive': {
      const codec = primitiveCodec(field.type, compact, nullable);
      const zero = zeroValue(field.type);
      const fallback = defaultOrZero(field.default, nullDefaultAllowed, zero);
      return {
        ...common,
        minBytes: codec.minBytes,
        read: codec.read,
        write: codec.write,
        defaultValue: () => fallback,
        isDefault: primitiveIsDefault(field.type, fallback),
      };
    }
    case 'primitiveArray': {
      const element = primitiveCodec(field.type, compact, false);
      const elementMinBytes = Math.max(1, element.minBytes);
      const defaultIsNull = field.default === null && nullDefaultAllowed;
      return {
        ...common,
        minBytes: compact ? 1 : 4,
        read: arrayReader(compact, nullable, elementMinBytes, element.read),
        write: arrayWriter(compact, element.write),
        defaultValue: () => (defaultIsNull ? null : []),
        isDefault: (value) => (defaultIsNull ? value === null : Array.isArray(value) && value.length === 0),
      };
    }
    case 'struct': {
      // A struct present in no version of its parent can still be compiled: its fields are then all absent.
      const plan = compileStruct(field.struct, version, messageFlexible);
      const defaultIsNull = field.default === null && nullDefaultAllowed;
      return {
        ...common,
        minBytes: nullable ? 1 : plan.minBytes,
        read: nullable ? nullableStructReader(plan) : (reader) => readStruct(plan, reader),
        write: nullable
          ? (writer, value) => {
              // Kafka marks a nullable struct with one byte: -1 for null, 1 for present.
              if (value === null) {
                writer.int8(-1);
                return;
              }
              writer.int8(1);
              writeStruct(plan, writer, value);
            }
          : (writer, value) => writeStruct(plan, writer, value),
        defaultValue: () => (defaultIsNull ? null : defaultStruct(plan)),
        isDefault: (value) => (defaultIsNull ? value === null : value !== null && structIsDefault(plan, value)),
      };
    }
    case 'structArray': {
      const plan = compileStruct(field.struct, version, messageFlexible);
      const elementMinBytes = Math.max(1, plan.minBytes);
      const defaultIsNull = field.default === null && nullDefaultAllowed;
      return {
        ...common,
        minBytes: compact ? 1 : 4,
        read: arrayReader(compact, nullable, elementMinBytes, (reader) => readStruct(plan, reader), true),
        write: arrayWriter(compact, (writer, value) => writeStruct(plan, writer, value), true),
        defaultValue: () => (defaultIsNull ? null : []),
        isDefault: (value) => (defaultIsNull ? value === null : Array.isArray(value) && value.length === 0),
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Structs

/** Appends a path segment to a DecodeError raised below this point, keeping its offset. */
function decodeErrorAt(error: unknown, segment: string): unknown {
  if (!(error instanceof DecodeError)) return error;
  const nested = PATHED.has(error);
  const suffix = error.field === undefined ? ` at byte ${error.offset}` : ` at byte ${error.offset} (${error.field})`;
  const message = error.message.endsWith(suffix) ? error.message.slice(0, -suffix.length) : error.message;
  const field = nested && error.field !== undefined ? `${segment}${error.field.startsWith('[') ? '' : '.'}${error.field}` : segment;
  const wrapped = new DecodeError(message, error.offset, field);
  PATHED.add(wrapped);
  return wrapped;
}

/** DecodeErrors whose `field` is already a path built here (rather than a primitive's name). */
const PATHED = new WeakSet<DecodeError>();

export function readStruct(plan: StructPlan, reader: Reader): Data {
  const out = plan.readBody(reader);
  if (plan.flexible) {
    try {
      readTaggedFields(plan, reader, out);
    } catch (error) {
      // A known tagged field's error already names that field.
      throw error instanceof DecodeError && PATHED.has(error) ? error : decodeErrorAt(error, 'taggedFields');
    }
  }
  return out;
}

function readTaggedFields(plan: StructPlan, reader: Reader, out: Data): void {
  const count = readTaggedFieldCount(reader);
  for (let i = 0; i < count; i++) {
    const tag = reader.unsignedVarint();
    const size = reader.unsignedVarint();
    const start = reader.position;
    const bytes = reader.raw(size, 'tagged field');
    const field = plan.taggedByTag.get(tag);
    if (field === undefined) continue; // an unknown tag: skipped, as KIP-482 requires
    const inner = new Reader(reader.buffer, start, start + bytes.length);
    try {
      out[field.key] = field.read(inner);
      inner.assertFullyConsumed(`tagged field ${tag}`);
    } catch (error) {
      throw decodeErrorAt(error, field.key);
    }
  }
}

function nullableStructReader(plan: StructPlan): (reader: Reader) => Data | null {
  return (reader) => (reader.int8() < 0 ? null : readStruct(plan, reader));
}

export function writeStruct(plan: StructPlan, writer: Writer, value: unknown): void {
  if (typeof value !== 'object' || value === null) throw new EncodeError('expected an object', '');
  const data = value as Data;
  const fields = plan.fields;
  let current = '';
  try {
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!;
      current = field.key;
      const fieldValue = data[field.key];
      if (field.mode === FieldMode.Inline) {
        writeField(field, writer, fieldValue === undefined ? field.defaultValue() : fieldValue);
      } else if (field.mode === FieldMode.Absent) {
        if (fieldValue !== undefined && !field.ignorable && !field.isDefault(fieldValue)) {
          throw new EncodeError(`a non-default value for a field this version does not have, and it is not ignorable`, '');
        }
      }
    }
    if (plan.flexible) {
      current = '';
      writeTaggedFields(plan, writer, data);
    }
  } catch (error) {
    const encodeError = asEncodeError(error);
    throw encodeError instanceof EncodeError && current !== '' ? encodeError.within(current) : encodeError;
  }
}

/** Out-of-range numbers surface from the Writer as RangeErrors; give them a field path too. */
function asEncodeError(error: unknown): unknown {
  return error instanceof RangeError ? new EncodeError(error.message, '') : error;
}

function writeField(field: FieldPlan, writer: Writer, value: unknown): void {
  if (value === null && !field.nullable) throw new EncodeError('null in a version where the field is not nullable', '');
  field.write(writer, value);
}

function writeTaggedFields(plan: StructPlan, writer: Writer, data: Data): void {
  let count = 0;
  for (const field of plan.tagged) {
    const value = data[field.key];
    if (value !== undefined && !field.isDefault(value)) count++;
  }
  writer.unsignedVarint(count);
  if (count === 0) return;
  for (const field of plan.tagged) {
    const value = data[field.key];
    if (value === undefined || field.isDefault(value)) continue;
    // The size precedes the value, so the value is written aside first; tagged fields are rare and small.
    const aside = new Writer(64);
    try {
      writeField(field, aside, value);
    } catch (error) {
      const encodeError = asEncodeError(error);
      throw encodeError instanceof EncodeError ? encodeError.within(field.key) : encodeError;
    }
    const bytes = aside.finish();
    writer.unsignedVarint(field.tag).unsignedVarint(bytes.length).raw(bytes);
  }
}

function defaultStruct(plan: StructPlan): Data {
  const out: Data = {};
  for (const field of plan.fields) out[field.key] = field.defaultValue();
  return out;
}

function structIsDefault(plan: StructPlan, value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const data = value as Data;
  for (const field of plan.fields) {
    const fieldValue = data[field.key];
    if (fieldValue !== undefined && !field.isDefault(fieldValue)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Arrays

function arrayReader(
  compact: boolean,
  nullable: boolean,
  elementMinBytes: number,
  readElement: (reader: Reader) => unknown,
  indexErrors = false,
): (reader: Reader) => unknown[] | null {
  return (reader) => {
    const at = reader.position;
    const length = compact ? reader.compactArrayLength(elementMinBytes) : reader.arrayLength(elementMinBytes);
    if (length === null) {
      if (nullable) return null;
      throw new DecodeError('null where an array is required', at, 'array');
    }
    const out = new Array<unknown>(length);
    let i = 0;
    try {
      for (; i < length; i++) out[i] = readElement(reader);
    } catch (error) {
      throw indexErrors ? decodeErrorAt(error, `[${i}]`) : error;
    }
    return out;
  };
}

function arrayWriter(
  compact: boolean,
  writeElement: (writer: Writer, value: unknown) => void,
  indexErrors = false,
): (writer: Writer, value: unknown) => void {
  return (writer, value) => {
    if (value === null) {
      if (compact) writer.compactArrayLength(null);
      else writer.arrayLength(null);
      return;
    }
    if (!Array.isArray(value)) throw new EncodeError('expected an array', '');
    if (compact) writer.compactArrayLength(value.length);
    else writer.arrayLength(value.length);
    let i = 0;
    try {
      for (; i < value.length; i++) {
        const element: unknown = value[i];
        if (element === null || element === undefined) throw new EncodeError('null array element', '');
        writeElement(writer, element);
      }
    } catch (error) {
      const encodeError = asEncodeError(error);
      throw encodeError instanceof EncodeError && (indexErrors || encodeError.field === '') ? encodeError.within(`[${i}]`) : encodeError;
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Primitives

interface PrimitiveCodec {
  readonly minBytes: number;
  readonly read: (reader: Reader) => unknown;
  readonly write: (writer: Writer, value: unknown) => void;
}

const FIXED: Record<Exclude<PrimitiveType, 'string' | 'bytes' | 'records'>, PrimitiveCodec> = {
  bool: { minBytes: 1, read: (r) => r.boolean(), write: (w, v) => w.boolean(expect(v, 'boolean')) },
  int8: { minBytes: 1, read: (r) => r.int8(), write: (w, v) => w.int8(expect(v, 'number')) },
  int16: { minBytes: 2, read: (r) => r.int16(), write: (w, v) => w.int16(expect(v, 'number')) },
  uint16: { minBytes: 2, read: (r) => r.uint16(), write: (w, v) => w.uint16(expect(v, 'number')) },
  int32: { minBytes: 4, read: (r) => r.int32(), write: (w, v) => w.int32(expect(v, 'number')) },
  int64: { minBytes: 8, read: (r) => r.int64(), write: (w, v) => w.int64(expect(v, 'bigint')) },
  float64: { minBytes: 8, read: (r) => r.float64(), write: (w, v) => w.float64(expect(v, 'number')) },
  uuid: { minBytes: 16, read: (r) => r.uuid(), write: (w, v) => w.uuid(expect(v, 'string')) },
};

interface TypeNames {
  boolean: boolean;
  number: number;
  bigint: bigint;
  string: string;
}

function expect<K extends keyof TypeNames>(value: unknown, type: K): TypeNames[K] {
  if (typeof value !== type) throw new EncodeError(`expected a ${type}, got ${typeof value}`, '');
  return value as TypeNames[K];
}

function expectBytes(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new EncodeError('expected a Buffer', '');
  return value;
}

function primitiveCodec(type: PrimitiveType, compact: boolean, nullable: boolean): PrimitiveCodec {
  switch (type) {
    case 'string':
      if (compact) {
        return {
          minBytes: 1,
          read: nullable ? (r) => r.compactNullableString() : (r) => r.compactString(),
          write: (w, v) => w.compactNullableString(v === null ? null : expect(v, 'string')),
        };
      }
      return {
        minBytes: 2,
        read: nullable ? (r) => r.nullableString() : (r) => r.string(),
        write: (w, v) => w.nullableString(v === null ? null : expect(v, 'string')),
      };
    case 'bytes':
    case 'records':
      if (compact) {
        return {
          minBytes: 1,
          read: nullable ? (r) => r.compactNullableBytes() : (r) => r.compactBytes(),
          write: (w, v) => w.compactNullableBytes(v === null ? null : expectBytes(v)),
        };
      }
      return {
        minBytes: 4,
        read: nullable ? (r) => r.nullableBytes() : (r) => r.bytes(),
        write: (w, v) => w.nullableBytes(v === null ? null : expectBytes(v)),
      };
    default:
      return FIXED[type];
  }
}

function zeroValue(type: PrimitiveType): DefaultValue | Buffer {
  switch (type) {
    case 'bool':
      return false;
    case 'int64':
      return 0n;
    case 'string':
      return '';
    case 'uuid':
      return ZERO_UUID;
    case 'bytes':
    case 'records':
      return EMPTY_BYTES;
    default:
      return 0;
  }
}

function defaultOrZero(value: DefaultValue | undefined, nullAllowed: boolean, zero: DefaultValue | Buffer): unknown {
  if (value === undefined) return zero;
  if (value === null) return nullAllowed ? null : zero;
  return value;
}

function primitiveIsDefault(type: PrimitiveType, fallback: unknown): (value: unknown) => boolean {
  if (type === 'bytes' || type === 'records') {
    return fallback === null ? (value) => value === null : (value) => value instanceof Uint8Array && value.length === 0;
  }
  return (value) => value === fallback;
}
