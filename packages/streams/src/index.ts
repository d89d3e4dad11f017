export type { Serde, SerdeContext, SerdeTopicContext, SerdeRole } from './serde/serde.js';
export { serializeAsync, deserializeAsync } from './serde/serde.js';
export { SerdeError } from './serde/serde-error.js';
export type { SerdeErrorReason, SerdeOperation, SerdeErrorOptions } from './serde/serde-error.js';
export { Serdes } from './serde/serdes.js';
export { stringSerde } from './serde/string-serde.js';
export type { StringSerdeOptions } from './serde/string-serde.js';
export { jsonSerde } from './serde/json-serde.js';
export type { JsonSerdeOptions, JsonValidator } from './serde/json-serde.js';
export { bytesSerde } from './serde/bytes-serde.js';
export type { BytesSerdeOptions } from './serde/bytes-serde.js';
export { int32Serde, int64Serde, float64Serde } from './serde/number-serdes.js';
export { AvroSerde } from './serde/avro-serde.js';
export type { AvroSerdeOptions } from './serde/avro-serde.js';
export { topicNameStrategy } from './serde/subject-name-strategy.js';
export type { SubjectNameStrategy } from './serde/subject-name-strategy.js';
export { CONFLUENT_MAGIC_BYTE, CONFLUENT_HEADER_BYTES, readConfluentHeader, writeConfluentHeader } from './serde/confluent-wire-format.js';
export type { ConfluentHeader } from './serde/confluent-wire-format.js';
export {
  SchemaRegistryClient,
  SchemaRegistryError,
  SchemaRegistryErrorCode,
  SCHEMA_REGISTRY_CONTENT_TYPE,
} from './serde/schema-registry-client.js';
export type {
  SchemaRegistryClientOptions,
  SchemaRegistryErrorKind,
  SchemaType,
  RegistrySchema,
  SubjectVersion,
  FetchFunction,
} from './serde/schema-registry-client.js';
