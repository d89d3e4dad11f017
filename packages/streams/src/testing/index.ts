export { SchemaRegistryServer } from './schema-registry.js';
export type { CompatibilityLevel, SchemaRegistryServerOptions, RecordedRequest } from './schema-registry.js';
