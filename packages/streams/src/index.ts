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
export { app, StreamsApp } from './runtime/app.js';
export type { AppOptions, StreamOptions, AppMetrics, ProcessingGuarantee, TableOptions, ReadOnlyKeyValueStore } from './runtime/app.js';
export type { RestoreProgress, StateStoreFactory } from './runtime/task-state.js';
export { KTable } from './dsl/ktable.js';
export { GlobalKTable } from './dsl/global-ktable.js';
export { JoinWindows } from './dsl/joins/join-windows.js';
export type { JoinKind } from './dsl/joins/join-kind.js';
export type { StreamJoinOptions, TableJoinOptions } from './dsl/joins/join-nodes.js';
export { KGroupedStream } from './dsl/kgrouped-stream.js';
export { TimeWindows, SlidingWindows, SessionWindows } from './dsl/windows/windows.js';
export type { Windowed, WindowBounds } from './dsl/windows/windows.js';
export { TimeWindowedKStream, SessionWindowedKStream } from './dsl/windows/windowed-kstreams.js';
export type { WindowedStoreOptions, WindowedAggregateOptions } from './dsl/windows/windowed-kstreams.js';
export { untilWindowCloses } from './dsl/windows/suppressed.js';
export type { Suppressed } from './dsl/windows/suppressed.js';
export { timeWindowedSerde, sessionWindowedSerde, windowedKey } from './dsl/windows/windowed-serde.js';
export type { GroupedOptions, GroupByOptions, StoreNameOptions, AggregateOptions } from './dsl/kgrouped-stream.js';
export type { AppState } from './runtime/lifecycle.js';
export { definePipeline } from './runtime/pipeline-file.js';
export type { Pipeline, PipelineContext } from './runtime/pipeline-file.js';
export type { TaskMetrics } from './runtime/task.js';
export type { Scheduler } from './runtime/scheduler.js';
export { systemScheduler } from './runtime/scheduler.js';
export { DEAD_LETTER_HEADERS, RecordFailedError } from './runtime/error-policy.js';
export type { ErrorPolicy, FailureStage } from './runtime/error-policy.js';
export { KStream } from './dsl/kstream.js';
export type { ToOptions, RepartitionOptions } from './dsl/kstream.js';
export type { TopologyDescription, SubTopologyDescription, NodeDescription } from './topology/topology.js';
export { SIGNAL_EXIT_CODES } from './runtime/shutdown-signals.js';
export type { ShutdownSignal } from './runtime/shutdown-signals.js';
export type { StreamRecord } from './dsl/stream-record.js';
export { mapValues } from './dsl/operators/map-values.js';
export { selectKey } from './dsl/operators/select-key.js';
export { flatMapValues } from './dsl/operators/flat-map-values.js';
export { peek } from './dsl/operators/peek.js';
export { filterRecords } from './dsl/operators/filter-records.js';
export { KafkajsLog } from './log/kafkajs-log.js';
export type { KafkajsLogOptions } from './log/kafkajs-log.js';
export { EmbeddedLog } from './log/embedded-log.js';
export type { EmbeddedLogOptions } from './log/embedded-log.js';
export { openLog, DEFAULT_DATA_DIR } from './log/open-log.js';
export type { LogOption } from './log/open-log.js';
export { topicPartitionKey, GroupRebalancedError } from './log/stream-log.js';
export type {
  StreamLog,
  GroupConsumer,
  GroupHandlers,
  GroupMetadata,
  LogProducer,
  LogRecord,
  FetchedBatch,
  OutgoingRecord,
  OffsetToCommit,
  TopicPartition,
  RecordHeaders,
  ConsumerOptions,
  ProducerOptions,
  IsolationLevel,
  NewTopic,
  PartitionRange,
  ReadPartitionOptions,
} from './log/stream-log.js';
export { StateStoreError } from './state/state-store-error.js';
export type { StateStoreErrorReason } from './state/state-store-error.js';
export type { KeyValueBytesStore, KeyValueEntry } from './state/key-value-bytes-store.js';
export { InMemoryStore } from './state/in-memory-store.js';
export { RocksDbStore } from './state/rocksdb-store.js';
export type { RocksDbStoreOptions } from './state/rocksdb-store.js';
export { MemoryBudget } from './state/memory-budget.js';
export type { MemoryBudgetOptions, MemoryBudgetSnapshot, RocksDbMemoryLease, BudgetedCache } from './state/memory-budget.js';
export { WriteBackCache } from './state/write-back-cache.js';
export type { WriteBackCacheOptions, WriteBackCacheMetrics } from './state/write-back-cache.js';
export { KeyValueStore } from './state/key-value-store.js';
export type { KeyValueStoreOptions, KeyValue } from './state/key-value-store.js';
export { WindowStore } from './state/window-store.js';
export type { WindowStoreOptions, WindowRef, WindowedValue, WindowedKeyValue } from './state/window-store.js';
export { SessionStore } from './state/session-store.js';
export type { SessionStoreOptions, SessionRef, SessionValue } from './state/session-store.js';
export { changelogTopicName, toChangelogRecords, foldChangelogRecords, restoreFromChangelog } from './state/changelog.js';
export type { ChangelogRecord, ChangelogBatch, RestoreOptions } from './state/changelog.js';
export { CHECKPOINT_FILE_NAME, encodeCheckpoint, decodeCheckpoint, writeCheckpoint, readCheckpoint } from './state/checkpoint-file.js';
export type { CheckpointEntry } from './state/checkpoint-file.js';
