/**
 * The declarative form of a Kafka message schema, as generated from Apache Kafka's JSON message
 * specs (`spec/*.json`) by `scripts/generate-schemas.ts`. Version ranges are kept in the specs' own
 * notation ("0+", "3-7", "5", "none") so a generated schema reads like its spec; the codec parses
 * them once when it compiles a plan for one version.
 */

/** A version range as the Kafka specs write it: `N+`, `N-M`, `N`, or `none`. */
export type VersionRange = `${number}+` | `${number}-${number}` | `${number}` | 'none';

/** Wire types of single values. `records` is a RecordBatch blob, carried as raw bytes. */
export type PrimitiveType =
  | 'bool'
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'int64'
  | 'float64'
  | 'string'
  | 'bytes'
  | 'uuid'
  | 'records';

/** A field's default, already converted from the spec's text to the value type of the field. */
export type DefaultValue = boolean | number | bigint | string | null;

export interface StructSchema {
  /** The spec's struct name, e.g. `FetchTopic`. */
  readonly name: string;
  readonly fields: readonly FieldSchema[];
}

interface FieldCommon {
  /** The spec's field name, e.g. `ReplicaId`. */
  readonly name: string;
  /** The property name in data objects: the spec name in camelCase, e.g. `replicaId`. */
  readonly key: string;
  readonly versions: VersionRange;
  readonly nullableVersions?: VersionRange;
  readonly taggedVersions?: VersionRange;
  readonly tag?: number;
  /** Overrides the message's flexible versions for this field (only RequestHeader.ClientId does). */
  readonly flexibleVersions?: VersionRange;
  /** The spec's default; absent means the type's zero value (0, false, "", empty, all-zero UUID). */
  readonly default?: DefaultValue;
  /** May be silently dropped when encoding a version that lacks the field. */
  readonly ignorable?: boolean;
}

export interface PrimitiveFieldSchema extends FieldCommon {
  readonly kind: 'primitive';
  readonly type: PrimitiveType;
}

export interface StructFieldSchema extends FieldCommon {
  readonly kind: 'struct';
  readonly struct: StructSchema;
}

export interface PrimitiveArrayFieldSchema extends FieldCommon {
  readonly kind: 'primitiveArray';
  readonly type: PrimitiveType;
}

export interface StructArrayFieldSchema extends FieldCommon {
  readonly kind: 'structArray';
  readonly struct: StructSchema;
}

export type FieldSchema = PrimitiveFieldSchema | StructFieldSchema | PrimitiveArrayFieldSchema | StructArrayFieldSchema;

/** `T` is the TypeScript type of the message's data; it exists only for type inference. */
export interface MessageSchema<T = unknown> {
  /** e.g. `FetchRequest`, or `ConsumerProtocolSubscription` for a data message. */
  readonly name: string;
  /** Absent from data messages (bytes embedded in other messages, e.g. JoinGroup's metadata), which are not APIs. */
  readonly apiKey?: number;
  readonly type: 'request' | 'response' | 'data';
  readonly validVersions: VersionRange;
  readonly flexibleVersions: VersionRange;
  readonly fields: readonly FieldSchema[];
  /** Never set at run time: carries `T` so that `decodeMessage(FetchRequestSchema, …)` is typed. */
  readonly dataType?: T;
}

/** One row of the generated `apiKeys` table. */
export interface ApiKeyInfo {
  readonly apiKey: number;
  /** e.g. `Fetch`. */
  readonly name: string;
  /** Valid versions of both the request and the response. */
  readonly validVersions: VersionRange;
  readonly flexibleVersions: VersionRange;
  /** The highest version is still under development in Kafka and should not be advertised. */
  readonly latestVersionUnstable: boolean;
  /** Which Kafka listeners serve this API (`broker`, `controller`, `zkBroker`). */
  readonly listeners: readonly string[];
  /** Request header version for each API version (index = API version). */
  readonly requestHeaderVersions: readonly number[];
  /** Response header version for each API version (index = API version). */
  readonly responseHeaderVersions: readonly number[];
}
