import type { RecordHeaders } from '../log/stream-log.js';

/**
 * A record as it flows through a pipeline: the deserialized key and value, and where it came from.
 * `timestamp` is the record's event time (the source timestamp, or the stream's extractor's);
 * `topic`, `partition` and `offset` are its provenance: the DSL operators keep them, so that an
 * error in a later step can name (and dead-letter) the input record that caused it.
 */
export interface StreamRecord<K, V> {
  readonly key: K | null;
  readonly value: V | null;
  readonly headers: RecordHeaders;
  /** Event time, milliseconds since the epoch. */
  readonly timestamp: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}
