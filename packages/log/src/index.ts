export type { Clock } from './clock.js';
export { systemClock, ManualClock } from './clock.js';
export type { Logger, LoggedLine } from './logger.js';
export { silentLogger, RecordingLogger } from './logger.js';
export type { LogConfig } from './log-config.js';
export { defaultLogConfig, logConfigKeys, parseLogConfig, UNLIMITED } from './log-config.js';
export {
  LogError,
  CorruptRecordError,
  InvalidRecordError,
  OffsetOutOfRangeError,
  RecordTooLargeError,
  InvalidConfigError,
  LogClosedError,
  LogStorageError,
  InvalidOffsetError,
} from './errors.js';
export { OffsetIndex, OFFSET_INDEX_ENTRY_BYTES } from './offset-index.js';
export type { OffsetPosition } from './offset-index.js';
export { TimeIndex, TIME_INDEX_ENTRY_BYTES } from './time-index.js';
export type { TimestampOffset } from './time-index.js';
export { Segment, segmentFileName, parseSegmentFileName, dataSync } from './segment.js';
export type { BatchEntry, BatchLocation, FileRange, FileSync, SegmentOptions, SegmentRecoveryResult, TimestampMatch } from './segment.js';
export { PartitionLog, RECOVERY_POINT_CHECKPOINT_FILE, LOG_START_OFFSET_CHECKPOINT_FILE, LATEST_TIMESTAMP, EARLIEST_TIMESTAMP } from './partition-log.js';
export type { PartitionLogOptions, AppendInfo, ReadOptions, ReadResult } from './partition-log.js';
export type { AppendOptions, ControlBatchOptions } from './partition-log.js';
export { FlushPolicy } from './flush-policy.js';
export { OffsetCheckpointFile, CheckpointFormatError } from './recovery-checkpoint.js';
export { LogDirectoryLockedError, InvalidTopicError, InvalidPartitionError } from './errors.js';
export { DirectoryLock, LOCK_FILE_NAME, isProcessAlive } from './directory-lock.js';
export type { DirectoryLockOptions } from './directory-lock.js';
export { TimerScheduler, ManualScheduler } from './scheduler.js';
export type { Scheduler, ScheduledTask } from './scheduler.js';
export { LogCleaner, canJoinGroup, OFFSET_MAP_ENTRIES_MAX_DEFAULT } from './cleaner.js';
export type { LogCleanerOptions, CleanableState, CleanReason, CleanStats } from './cleaner.js';
export { readCleanerCheckpoint, writeCleanerCheckpoint, CLEANER_CHECKPOINT_FILE } from './cleaner/checkpoint.js';
export type { CleanerCheckpoint } from './cleaner/checkpoint.js';
export {
  LogManager,
  validateTopicName,
  validatePartition,
  parseTopicPartitionDirName,
  topicPartitionDirName,
  RETENTION_CHECK_INTERVAL_MS_DEFAULT,
  CLEANER_INTERVAL_MS_DEFAULT,
  OPEN_CONCURRENCY_DEFAULT,
  FLUSH_CHECK_INTERVAL_MS_DEFAULT,
} from './log-manager.js';
export type { LogManagerOptions, TopicPartition, ManagedLog, MaintenanceResult, MaintenanceFailure } from './log-manager.js';
export { writeFileAtomically, readTextIfExists, fsyncDirectory, ATOMIC_TEMP_SUFFIX } from './atomic-file.js';
export {
  ProducerStateManager,
  ProducerStateError,
  readEndTxnMarker,
  producerBatchInfo,
  incrementSequence,
  decrementSequence,
  inSequence,
  PRODUCER_BATCHES_RETAINED,
  PRODUCER_ID_EXPIRATION_MS_DEFAULT,
  NO_PRODUCER_EPOCH,
  NO_SEQUENCE,
} from './producer-state.js';
export type {
  AppendOrigin,
  ProducerBatchInfo,
  EndTxnMarker,
  AppendedProducerBatch,
  BatchMetadata,
  ProducerStateEntry,
  ProducerErrorName,
  AppendCheck,
  CompletedTransaction,
  ReplayBatch,
  ProducerStateManagerOptions,
  RebuildOptions,
} from './producer-state.js';
export {
  CorruptSnapshotError,
  encodeProducerSnapshot,
  decodeProducerSnapshot,
  readProducerSnapshotFile,
  writeProducerSnapshotFile,
  listProducerSnapshots,
  producerSnapshotFileName,
  parseProducerSnapshotFileName,
  PRODUCER_SNAPSHOT_VERSION,
  PRODUCER_SNAPSHOT_SUFFIX,
  PRODUCER_SNAPSHOT_ENTRY_BYTES,
  PRODUCER_SNAPSHOT_HEADER_BYTES,
  PRODUCER_SNAPSHOT_BYTES_MAX_DEFAULT,
} from './producer-snapshot.js';
export type { ProducerSnapshotEntry } from './producer-snapshot.js';
export {
  TransactionIndex,
  collectAbortedTransactions,
  encodeAbortedTxn,
  decodeAbortedTxn,
  TXN_INDEX_SUFFIX,
  ABORTED_TXN_ENTRY_BYTES,
  ABORTED_TXN_VERSION,
} from './transaction-index.js';
export type { AbortedTxn, AbortedTransaction, TxnIndexSearchResult } from './transaction-index.js';
