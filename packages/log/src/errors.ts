/**
 * Errors of the storage engine. Each maps to one Kafka error code at the broker boundary
 * (`kafkaErrorName`), so handlers never guess. Programmer errors are assertions, not these.
 */
export class LogError extends Error {
  /** The Kafka error this becomes on the wire (name from the Kafka error table). */
  readonly kafkaErrorName: string = 'UNKNOWN_SERVER_ERROR';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A batch failed validation: bad magic, size, truncated, or CRC-32C mismatch. */
export class CorruptRecordError extends LogError {
  override readonly kafkaErrorName = 'CORRUPT_MESSAGE';
  constructor(
    message: string,
    /** Byte position of the bad batch (in the appended buffer or the segment file). */
    readonly position = 0,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The batch is structurally valid but not acceptable (e.g. no records). */
export class InvalidRecordError extends LogError {
  override readonly kafkaErrorName = 'INVALID_RECORD';
}

/** A fetch offset below the log start offset or above the log end offset. */
export class OffsetOutOfRangeError extends LogError {
  override readonly kafkaErrorName = 'OFFSET_OUT_OF_RANGE';
  constructor(
    readonly offset: bigint,
    readonly logStartOffset: bigint,
    readonly logEndOffset: bigint,
  ) {
    super(`offset ${offset} is outside the log [${logStartOffset}, ${logEndOffset}]`);
  }
}

/** A batch larger than `maxMessageBytes` (Kafka's max.message.bytes). */
export class RecordTooLargeError extends LogError {
  override readonly kafkaErrorName = 'MESSAGE_TOO_LARGE';
  constructor(
    readonly sizeBytes: number,
    readonly maxMessageBytes: number,
  ) {
    super(`batch of ${sizeBytes} bytes exceeds max.message.bytes ${maxMessageBytes}`);
  }
}

/** A topic config value that does not parse or is out of range; names the Kafka key. */
export class InvalidConfigError extends LogError {
  override readonly kafkaErrorName = 'INVALID_CONFIG';
  constructor(
    readonly key: string,
    readonly value: string,
    reason: string,
  ) {
    super(`invalid value ${JSON.stringify(value)} for ${key}: ${reason}`);
  }
}

/** An operation on a log (or segment) after `close()`. */
export class LogClosedError extends LogError {
  override readonly kafkaErrorName = 'NOT_LEADER_OR_FOLLOWER';
}

/** An earlier disk write or fsync failed; the log refuses further appends until reopened. */
export class LogStorageError extends LogError {
  override readonly kafkaErrorName = 'KAFKA_STORAGE_ERROR';
}

/** An argument outside what the operation accepts (e.g. truncating above the log end offset). */
export class InvalidOffsetError extends LogError {
  override readonly kafkaErrorName = 'OFFSET_OUT_OF_RANGE';
}

/** Another live process holds the data directory's `.lock`; two brokers must never share a log dir. */
export class LogDirectoryLockedError extends LogError {
  override readonly kafkaErrorName = 'KAFKA_STORAGE_ERROR';
  constructor(
    readonly dataDir: string,
    readonly ownerPid: number,
  ) {
    super(`data directory ${dataDir} is locked by process ${ownerPid}, which is still running`);
  }
}

/** A topic name Kafka would refuse: empty, `.`/`..`, longer than 249, or outside [a-zA-Z0-9._-]. */
export class InvalidTopicError extends LogError {
  override readonly kafkaErrorName = 'INVALID_TOPIC_EXCEPTION';
  constructor(
    readonly topic: string,
    reason: string,
  ) {
    super(`invalid topic name ${JSON.stringify(topic)}: ${reason}`);
  }
}

/** A partition id that is not a non-negative 32-bit integer. */
export class InvalidPartitionError extends LogError {
  override readonly kafkaErrorName = 'UNKNOWN_TOPIC_OR_PARTITION';
  constructor(readonly partition: number) {
    super(`invalid partition ${partition}: expected an integer in [0, 2147483647]`);
  }
}
