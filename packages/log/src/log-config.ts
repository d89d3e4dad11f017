import { InvalidConfigError } from './errors.js';

/**
 * Per-partition settings: Kafka's topic configs, camelCased (`retention.ms` -> `retentionMs`).
 * Java longs that mean "never" (Long.MAX_VALUE) become `Number.MAX_SAFE_INTEGER`.
 */
export interface LogConfig {
  /** segment.bytes: roll the active segment before it would grow past this. */
  segmentBytes: number;
  /** segment.ms: roll the active segment this long after its first append. */
  segmentMs: number;
  /** index.interval.bytes: log bytes between two offset/time index entries. */
  indexIntervalBytes: number;
  /** segment.index.bytes: size limit of each index file; a full index rolls the segment. */
  segmentIndexBytes: number;
  /** retention.ms: delete segments whose newest record is older than this; -1 = unlimited. */
  retentionMs: number;
  /** retention.bytes: delete oldest segments while the partition is larger; -1 = unlimited. */
  retentionBytes: number;
  cleanupPolicy: ReadonlyArray<'delete' | 'compact'>;
  deleteRetentionMs: number;
  minCompactionLagMs: number;
  maxCompactionLagMs: number;
  minCleanableDirtyRatio: number;
  /** max.message.bytes: the largest batch accepted by append. */
  maxMessageBytes: number;
  messageTimestampType: 'CreateTime' | 'LogAppendTime';
  /** flush.messages: fsync after this many records since the last flush (1 = every append). */
  flushMessages: number;
  /** flush.ms: fsync when the oldest unflushed append is this old. */
  flushMs: number;
  /** file.delete.delay.ms: how long a deleted segment's files linger as `.deleted`. */
  fileDeleteDelayMs: number;
}

/** Stands for Java's Long.MAX_VALUE ("never") in a JavaScript number. */
export const UNLIMITED = Number.MAX_SAFE_INTEGER;

/** Kafka's defaults (from the broker's `log.*` defaults as applied to a topic). */
export const defaultLogConfig: LogConfig = Object.freeze({
  segmentBytes: 1024 * 1024 * 1024,
  segmentMs: 7 * 24 * 60 * 60 * 1000,
  indexIntervalBytes: 4096,
  segmentIndexBytes: 10 * 1024 * 1024,
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  retentionBytes: -1,
  cleanupPolicy: Object.freeze(['delete'] as const),
  deleteRetentionMs: 24 * 60 * 60 * 1000,
  minCompactionLagMs: 0,
  maxCompactionLagMs: UNLIMITED,
  minCleanableDirtyRatio: 0.5,
  maxMessageBytes: 1024 * 1024 + 12,
  messageTimestampType: 'CreateTime',
  flushMessages: UNLIMITED,
  flushMs: UNLIMITED,
  fileDeleteDelayMs: 60_000,
});

export const logConfigKeys: ReadonlyMap<string, keyof LogConfig> = new Map<string, keyof LogConfig>([
  ['segment.bytes', 'segmentBytes'],
  ['segment.ms', 'segmentMs'],
  ['index.interval.bytes', 'indexIntervalBytes'],
  ['segment.index.bytes', 'segmentIndexBytes'],
  ['retention.ms', 'retentionMs'],
  ['retention.bytes', 'retentionBytes'],
  ['cleanup.policy', 'cleanupPolicy'],
  ['delete.retention.ms', 'deleteRetentionMs'],
  ['min.compaction.lag.ms', 'minCompactionLagMs'],
  ['max.compaction.lag.ms', 'maxCompactionLagMs'],
  ['min.cleanable.dirty.ratio', 'minCleanableDirtyRatio'],
  ['max.message.bytes', 'maxMessageBytes'],
  ['message.timestamp.type', 'messageTimestampType'],
  ['flush.messages', 'flushMessages'],
  ['flush.ms', 'flushMs'],
  ['file.delete.delay.ms', 'fileDeleteDelayMs'],
]);

const INT32_MAX = 0x7fffffff;
/** The smallest segment that can hold one record batch header plus the log overhead. */
const SEGMENT_BYTES_MIN = 14;
const INDEX_ENTRY_BYTES_MAX = 12;

interface IntegerRule {
  min: number;
  max: number;
}

const integerRules: Partial<Record<keyof LogConfig, IntegerRule>> = {
  // Positions in a segment are int32 in the offset index, so a segment stays below 2 GiB.
  segmentBytes: { min: SEGMENT_BYTES_MIN, max: INT32_MAX },
  segmentMs: { min: 1, max: UNLIMITED },
  indexIntervalBytes: { min: 0, max: INT32_MAX },
  segmentIndexBytes: { min: INDEX_ENTRY_BYTES_MAX, max: INT32_MAX },
  retentionMs: { min: -1, max: UNLIMITED },
  retentionBytes: { min: -1, max: UNLIMITED },
  deleteRetentionMs: { min: 0, max: UNLIMITED },
  minCompactionLagMs: { min: 0, max: UNLIMITED },
  maxCompactionLagMs: { min: 1, max: UNLIMITED },
  maxMessageBytes: { min: 0, max: INT32_MAX },
  flushMessages: { min: 1, max: UNLIMITED },
  flushMs: { min: 0, max: UNLIMITED },
  fileDeleteDelayMs: { min: 0, max: UNLIMITED },
};

/** Parses a Java long; values beyond 2^53 saturate to UNLIMITED (they all mean "never"). */
function parseInteger(key: string, text: string, rule: IntegerRule): number {
  const trimmed = text.trim();
  if (!/^-?\d+$/.test(trimmed)) throw new InvalidConfigError(key, text, 'not an integer');
  const value = BigInt(trimmed);
  if (value > 0x7fffffffffffffffn || value < -0x8000000000000000n) {
    throw new InvalidConfigError(key, text, 'outside the range of a 64-bit integer');
  }
  const saturated = value > BigInt(UNLIMITED) ? UNLIMITED : Number(value);
  if (saturated < rule.min || saturated > rule.max) {
    throw new InvalidConfigError(key, text, `must be in [${rule.min}, ${rule.max === UNLIMITED ? 'Long.MAX_VALUE' : rule.max}]`);
  }
  return saturated;
}

function parseCleanupPolicy(key: string, text: string): ReadonlyArray<'delete' | 'compact'> {
  const parts = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  if (parts.length === 0) throw new InvalidConfigError(key, text, 'expected "delete", "compact" or both');
  const policies: Array<'delete' | 'compact'> = [];
  for (const part of parts) {
    if (part !== 'delete' && part !== 'compact') {
      throw new InvalidConfigError(key, text, `unknown policy "${part}" (expected delete or compact)`);
    }
    if (!policies.includes(part)) policies.push(part);
  }
  return Object.freeze(policies);
}

function parseRatio(key: string, text: string): number {
  const trimmed = text.trim();
  const value = Number(trimmed);
  if (trimmed.length === 0 || !Number.isFinite(value)) throw new InvalidConfigError(key, text, 'not a number');
  if (value < 0 || value > 1) throw new InvalidConfigError(key, text, 'must be in [0, 1]');
  return value;
}

function parseTimestampType(key: string, text: string): 'CreateTime' | 'LogAppendTime' {
  const trimmed = text.trim();
  if (trimmed !== 'CreateTime' && trimmed !== 'LogAppendTime') {
    throw new InvalidConfigError(key, text, 'expected CreateTime or LogAppendTime');
  }
  return trimmed;
}

/**
 * Builds a LogConfig from Kafka-named string settings (as they arrive in CreateTopics or
 * AlterConfigs) over `base`. Keys this package does not own (e.g. `compression.type`,
 * `min.insync.replicas`) are ignored: they belong to the broker. Every known key is validated,
 * and a bad value throws `InvalidConfigError` naming the key.
 */
export function parseLogConfig(kafkaNamed: Record<string, string>, base: LogConfig = defaultLogConfig): LogConfig {
  const config: LogConfig = { ...base };
  const target = config as unknown as Record<keyof LogConfig, unknown>;
  for (const [key, text] of Object.entries(kafkaNamed)) {
    const field = logConfigKeys.get(key);
    if (field === undefined) continue;
    if (typeof text !== 'string') throw new InvalidConfigError(key, String(text), 'expected a string value');
    switch (field) {
      case 'cleanupPolicy':
        config.cleanupPolicy = parseCleanupPolicy(key, text);
        break;
      case 'minCleanableDirtyRatio':
        config.minCleanableDirtyRatio = parseRatio(key, text);
        break;
      case 'messageTimestampType':
        config.messageTimestampType = parseTimestampType(key, text);
        break;
      default: {
        const rule = integerRules[field];
        if (rule === undefined) throw new Error(`no parsing rule for ${key}`);
        target[field] = parseInteger(key, text, rule);
      }
    }
  }
  return Object.freeze(config);
}
