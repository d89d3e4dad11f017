import { closest, distance } from 'fastest-levenshtein';
import { defaultLogConfig, logConfigKeys, LogError, parseLogConfig, UNLIMITED, type LogConfig } from '@defter/log';
import { ErrorCode } from '@defter/protocol';
import { KafkaError } from '../errors.js';

/*
 * The catalogue of topic configs this broker accepts, under Kafka's names: the storage engine's
 * (`logConfigKeys`, parsed by `parseLogConfig`) plus the few the broker itself owns. It validates
 * and normalizes override sets, and describes a topic's effective configs the way DescribeConfigs
 * and CreateTopics v5+ report them.
 */

/** DescribeConfigs' `config_source`. */
export const ConfigSource = {
  DYNAMIC_TOPIC_CONFIG: 1,
  STATIC_BROKER_CONFIG: 4,
  DEFAULT_CONFIG: 5,
} as const;

/** DescribeConfigs' `config_type` (v3+). */
export const ConfigType = { BOOLEAN: 1, STRING: 2, INT: 3, LONG: 5, DOUBLE: 6, LIST: 7 } as const;
export type ConfigTypeCode = (typeof ConfigType)[keyof typeof ConfigType];

/** Java's Long.MAX_VALUE, which the storage engine holds as UNLIMITED. */
const LONG_MAX_TEXT = '9223372036854775807';

export interface TopicConfigDefinition {
  /** The topic config name (`retention.ms`). */
  readonly name: string;
  /** The broker setting that gives topics their default (`log.retention.ms`): Kafka's synonym. */
  readonly brokerName: string;
  readonly type: ConfigTypeCode;
  /** This broker's default for topics, as Kafka text. */
  readonly brokerDefault: (log: LogConfig) => string;
  /** Apache Kafka's built-in default, to tell a configured broker default from the built-in one. */
  readonly kafkaDefault: string;
  /** Checks a value of a broker-owned config and returns its normal form (log configs go through parseLogConfig). */
  readonly normalize?: (value: string) => string;
}

/** A config entry as DescribeConfigs reports it. */
export interface DescribedConfig {
  readonly name: string;
  readonly value: string;
  readonly source: number;
  readonly readOnly: boolean;
  readonly type: ConfigTypeCode;
  /** The entry itself first, then the settings it falls back to (Kafka's order). */
  readonly synonyms: ReadonlyArray<{ readonly name: string; readonly value: string; readonly source: number }>;
}

/** A LogConfig field value as Kafka prints it. */
export function formatLogConfigValue(value: LogConfig[keyof LogConfig]): string {
  if (typeof value === 'number') return value === UNLIMITED ? LONG_MAX_TEXT : String(value);
  if (typeof value === 'string') return value;
  return value.join(',');
}

/** Broker names and types of the storage engine's configs (Kafka's `LogConfig` synonyms). */
const logConfigCatalogue: ReadonlyArray<readonly [name: string, brokerName: string, type: ConfigTypeCode]> = [
  ['cleanup.policy', 'log.cleanup.policy', ConfigType.LIST],
  ['delete.retention.ms', 'log.cleaner.delete.retention.ms', ConfigType.LONG],
  ['file.delete.delay.ms', 'log.segment.delete.delay.ms', ConfigType.LONG],
  ['flush.messages', 'log.flush.interval.messages', ConfigType.LONG],
  ['flush.ms', 'log.flush.interval.ms', ConfigType.LONG],
  ['index.interval.bytes', 'log.index.interval.bytes', ConfigType.INT],
  ['max.compaction.lag.ms', 'log.cleaner.max.compaction.lag.ms', ConfigType.LONG],
  ['max.message.bytes', 'message.max.bytes', ConfigType.INT],
  ['message.timestamp.type', 'log.message.timestamp.type', ConfigType.STRING],
  ['min.cleanable.dirty.ratio', 'log.cleaner.min.cleanable.ratio', ConfigType.DOUBLE],
  ['min.compaction.lag.ms', 'log.cleaner.min.compaction.lag.ms', ConfigType.LONG],
  ['retention.bytes', 'log.retention.bytes', ConfigType.LONG],
  ['retention.ms', 'log.retention.ms', ConfigType.LONG],
  ['segment.bytes', 'log.segment.bytes', ConfigType.INT],
  ['segment.index.bytes', 'log.index.size.max.bytes', ConfigType.INT],
  ['segment.ms', 'log.roll.ms', ConfigType.LONG],
];

function logDefinition(name: string, brokerName: string, type: ConfigTypeCode): TopicConfigDefinition {
  const field = logConfigKeys.get(name);
  if (field === undefined) throw new Error(`${name} is not a storage engine config`);
  return {
    name,
    brokerName,
    type,
    brokerDefault: (log) => formatLogConfigValue(log[field]),
    kafkaDefault: formatLogConfigValue(defaultLogConfig[field]),
  };
}

function invalidValue(name: string, value: string, reason: string): KafkaError {
  return new KafkaError(ErrorCode.INVALID_CONFIG, `Invalid value ${JSON.stringify(value)} for configuration ${name}: ${reason}`);
}

/**
 * Configs the broker owns. Only values the broker really honours are accepted: defter stores
 * batches as the producer sent them, so `compression.type` can only be `producer`; a single node
 * has no unclean elections, so either value of that flag holds trivially.
 */
const brokerOwnedDefinitions: TopicConfigDefinition[] = [
  {
    name: 'compression.type',
    brokerName: 'compression.type',
    type: ConfigType.STRING,
    brokerDefault: () => 'producer',
    kafkaDefault: 'producer',
    normalize: (value) => {
      const trimmed = value.trim().toLowerCase();
      if (trimmed !== 'producer') throw invalidValue('compression.type', value, 'defter keeps batches as the producer compressed them; only "producer" is supported');
      return trimmed;
    },
  },
  {
    name: 'min.insync.replicas',
    brokerName: 'min.insync.replicas',
    type: ConfigType.INT,
    brokerDefault: () => '1',
    kafkaDefault: '1',
    normalize: (value) => {
      const trimmed = value.trim();
      if (!/^\d{1,10}$/.test(trimmed) || Number(trimmed) < 1 || Number(trimmed) > 0x7fffffff) {
        throw invalidValue('min.insync.replicas', value, 'must be an integer in [1, 2147483647]');
      }
      return String(Number(trimmed));
    },
  },
  {
    name: 'unclean.leader.election.enable',
    brokerName: 'unclean.leader.election.enable',
    type: ConfigType.BOOLEAN,
    brokerDefault: () => 'false',
    kafkaDefault: 'false',
    normalize: (value) => {
      const trimmed = value.trim().toLowerCase();
      if (trimmed !== 'true' && trimmed !== 'false') throw invalidValue('unclean.leader.election.enable', value, 'expected true or false');
      return trimmed;
    },
  },
];

/** Every accepted topic config, sorted by name (the order DescribeConfigs lists them in). */
export const topicConfigDefinitions: ReadonlyMap<string, TopicConfigDefinition> = new Map(
  [...logConfigCatalogue.map(([name, brokerName, type]) => logDefinition(name, brokerName, type)), ...brokerOwnedDefinitions]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((definition) => [definition.name, definition]),
);

const topicConfigNames = [...topicConfigDefinitions.keys()];

/** "Did you mean" only for near misses: a suggestion far from what was typed is noise. */
function suggestionFor(name: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const nearest = closest(name, candidates);
  return distance(name, nearest) <= Math.max(2, Math.ceil(name.length / 3)) ? nearest : undefined;
}

export function unknownTopicConfigError(name: string): KafkaError {
  const suggestion = suggestionFor(name, topicConfigNames);
  return new KafkaError(ErrorCode.INVALID_CONFIG, `Unknown topic config name: ${name}.${suggestion === undefined ? '' : ` Did you mean ${suggestion}?`}`);
}

/** The definition of a topic config, or INVALID_CONFIG with the nearest valid name. */
export function topicConfigDefinition(name: string): TopicConfigDefinition {
  const definition = topicConfigDefinitions.get(name);
  if (definition === undefined) throw unknownTopicConfigError(name);
  return definition;
}

export interface ValidatedTopicConfigs {
  /** The overrides in normal form (what is stored and described). */
  readonly configs: Readonly<Record<string, string>>;
  /** The storage engine's config: `base` with the overrides applied. */
  readonly logConfig: LogConfig;
}

/**
 * Checks a complete override set: every name known (else INVALID_CONFIG with a suggestion), every
 * value valid, and the values consistent with each other (Kafka's cross-field rules).
 */
export function validateTopicConfigs(overrides: ReadonlyMap<string, string>, base: LogConfig): ValidatedTopicConfigs {
  const logOverrides: Record<string, string> = {};
  const normalized = new Map<string, string>();
  for (const [name, value] of overrides) {
    const definition = topicConfigDefinition(name);
    if (definition.normalize !== undefined) normalized.set(name, definition.normalize(value));
    else logOverrides[name] = value;
  }
  let logConfig: LogConfig;
  try {
    logConfig = parseLogConfig(logOverrides, base);
  } catch (error) {
    if (error instanceof LogError) throw new KafkaError(ErrorCode.INVALID_CONFIG, error.message);
    throw error;
  }
  for (const name of Object.keys(logOverrides)) {
    normalized.set(name, formatLogConfigValue(logConfig[logConfigKeys.get(name)!]));
  }
  if (logConfig.minCompactionLagMs > logConfig.maxCompactionLagMs) {
    throw new KafkaError(
      ErrorCode.INVALID_CONFIG,
      `conflicting topic configs: min.compaction.lag.ms (${logConfig.minCompactionLagMs}) > max.compaction.lag.ms (${formatLogConfigValue(logConfig.maxCompactionLagMs)})`,
    );
  }
  const sorted = [...normalized].sort(([a], [b]) => (a < b ? -1 : 1));
  return { configs: Object.freeze(Object.fromEntries(sorted)), logConfig };
}

/**
 * Name/value pairs as CreateTopics carries them, as a map: a null value is INVALID_CONFIG and a
 * name given twice INVALID_REQUEST (which one would win is not defined).
 */
export function configPairsToMap(pairs: ReadonlyArray<{ readonly name: string; readonly value: string | null }>): Map<string, string> {
  const configs = new Map<string, string>();
  for (const { name, value } of pairs) {
    if (value === null) throw new KafkaError(ErrorCode.INVALID_CONFIG, `Null value not supported for topic configs: ${name}`);
    if (configs.has(name)) throw new KafkaError(ErrorCode.INVALID_REQUEST, `Duplicate config key: ${name}`);
    configs.set(name, value);
  }
  return configs;
}

/**
 * A topic's every config with its effective value and where that value comes from: the topic's
 * override (DYNAMIC_TOPIC_CONFIG), the broker's configured default (STATIC_BROKER_CONFIG) or Kafka's
 * built-in default (DEFAULT_CONFIG).
 */
export function describeTopicConfigs(overrides: Readonly<Record<string, string>>, brokerLog: LogConfig): DescribedConfig[] {
  const described: DescribedConfig[] = [];
  for (const definition of topicConfigDefinitions.values()) {
    const brokerValue = definition.brokerDefault(brokerLog);
    const synonyms: Array<DescribedConfig['synonyms'][number]> = [];
    const override = Object.hasOwn(overrides, definition.name) ? overrides[definition.name] : undefined;
    if (override !== undefined) synonyms.push({ name: definition.name, value: override, source: ConfigSource.DYNAMIC_TOPIC_CONFIG });
    if (brokerValue !== definition.kafkaDefault) synonyms.push({ name: definition.brokerName, value: brokerValue, source: ConfigSource.STATIC_BROKER_CONFIG });
    synonyms.push({ name: definition.brokerName, value: definition.kafkaDefault, source: ConfigSource.DEFAULT_CONFIG });
    const effective = synonyms[0]!;
    described.push({ name: definition.name, value: effective.value, source: effective.source, readOnly: false, type: definition.type, synonyms });
  }
  return described;
}
