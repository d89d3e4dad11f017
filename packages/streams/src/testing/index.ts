export { SchemaRegistryServer } from './schema-registry.js';
export type { CompatibilityLevel, SchemaRegistryServerOptions, RecordedRequest } from './schema-registry.js';
export { readTopic, type ReadTopicOptions, type StoredRecord } from './topic-contents.js';
export { runUntilProcessed, type RunUntilProcessedOptions } from './run-until-processed.js';
