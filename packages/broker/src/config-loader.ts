import { access, readFile } from 'node:fs/promises';
import { extname, isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { closest } from 'fastest-levenshtein';
import { InvalidConfigError, UNLIMITED, parseLogConfig, type LogConfig } from '@defter/log';
import { defaultBrokerConfig, type BrokerConfig } from './config.js';

/**
 * Builds a `BrokerConfig` from, in increasing precedence: the defaults, a `defter.config.json` or
 * `defter.config.ts` file, `DEFTER_*` environment variables and command-line flags. Settings Kafka
 * has keep Kafka's names (`log.retention.ms`, `num.partitions`, …); defter-only ones are camelCase
 * (`shutdownTimeoutMs`). Every value is checked, and an unknown name is refused with the nearest
 * known one, because a silently ignored typo (`log.retention.msec`) is a setting that never applied.
 */

/** A bad configuration: one sentence naming the setting and where it came from. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    /** The setting (or environment variable) at fault, when there is one. */
    readonly key?: string,
    /** Where it came from: a file path, "environment variable DEFTER_…", "the command line". */
    readonly source?: string,
  ) {
    super(message);
  }
}

/** A value as a file, the environment or a flag gives it. */
export type ConfigValue = string | number | boolean;

export interface LoadBrokerConfigOptions {
  /**
   * The configuration file (`.json`, `.ts`, `.js` or `.mjs`). When absent, `defter.config.json` or
   * `defter.config.ts` in `searchDir` is used if present; `null` reads no file.
   */
  file?: string | null;
  /** Where to look for a default configuration file; the working directory by default. */
  searchDir?: string;
  /** Settings from the command line, by setting name (Kafka's or defter's). */
  flags?: Readonly<Record<string, ConfigValue | undefined>>;
  /** The environment; `process.env` by default. */
  env?: Readonly<Record<string, string | undefined>>;
}

/** The configuration file names looked for when none is given, in this order. */
export const DEFAULT_CONFIG_FILES: readonly string[] = ['defter.config.json', 'defter.config.ts'];

/** The prefix of environment variables that carry settings. */
export const ENV_PREFIX = 'DEFTER_';

/**
 * `DEFTER_*` variables that belong to other parts of defter (the command-line clients), not to the
 * broker: the loader leaves them alone instead of refusing them as unknown settings.
 */
export const NON_BROKER_ENV_VARIABLES: ReadonlySet<string> = new Set(['DEFTER_BOOTSTRAP_SERVER', 'DEFTER_LOG_LEVEL']);

export async function loadBrokerConfig(options: LoadBrokerConfigOptions = {}): Promise<BrokerConfig> {
  const config: BrokerConfig = { ...defaultBrokerConfig, log: { ...defaultBrokerConfig.log } };
  const file = options.file === undefined ? await findDefaultConfigFile(options.searchDir ?? process.cwd()) : options.file;
  if (file !== null && file !== undefined) {
    applySettings(config, await readConfigFile(file), file);
  }
  applySettings(config, settingsFromEnv(options.env ?? process.env), undefined);
  if (options.flags !== undefined) {
    const flags = Object.entries(options.flags).filter((entry): entry is [string, ConfigValue] => entry[1] !== undefined);
    applySettings(config, flags.map(([key, value]) => ({ key, value, source: 'on the command line' })), 'on the command line');
  }
  return config;
}

/** Every setting name the loader accepts, in the order it applies them within one source. */
export function brokerSettingNames(): string[] {
  return settings.map((setting) => setting.key);
}

/** The environment variable that carries a setting: `DEFTER_` + the name upper-cased, dots (and camelCase humps) as underscores. */
export function envVariableFor(key: string): string {
  return ENV_PREFIX + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// Sources

interface SourcedValue {
  key: string;
  value: ConfigValue;
  /** For messages: "in defter.config.json", "in environment variable DEFTER_X", "on the command line". */
  source: string;
}

async function findDefaultConfigFile(searchDir: string): Promise<string | null> {
  for (const name of DEFAULT_CONFIG_FILES) {
    const path = join(searchDir, name);
    try {
      await access(path);
      return path;
    } catch {
      // not there: try the next name
    }
  }
  return null;
}

async function readConfigFile(path: string): Promise<SourcedValue[]> {
  const source = `in ${displayPath(path)}`;
  const contents = await loadConfigModule(path);
  if (typeof contents !== 'object' || contents === null || Array.isArray(contents)) {
    throw new ConfigError(`${displayPath(path)} must hold one object of settings (e.g. { "num.partitions": 3 }).`, undefined, path);
  }
  const values: SourcedValue[] = [];
  for (const [key, value] of Object.entries(contents as Record<string, unknown>)) {
    if (value === undefined) continue;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new ConfigError(`setting '${key}' ${source} must be a string, number or boolean, not ${value === null ? 'null' : typeof value}.`, key, path);
    }
    values.push({ key, value, source });
  }
  return values;
}

async function loadConfigModule(path: string): Promise<unknown> {
  const absolute = resolve(path);
  const extension = extname(absolute);
  if (extension === '.json') {
    let text: string;
    try {
      text = await readFile(absolute, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read configuration file ${displayPath(path)}: ${reasonOf(error)}.`, undefined, path);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new ConfigError(`configuration file ${displayPath(path)} is not valid JSON: ${reasonOf(error)}.`, undefined, path);
    }
  }
  if (extension === '.ts' || extension === '.mts' || extension === '.js' || extension === '.mjs') {
    try {
      await access(absolute);
    } catch (error) {
      throw new ConfigError(`cannot read configuration file ${displayPath(path)}: ${reasonOf(error)}.`, undefined, path);
    }
    let module: { default?: unknown };
    try {
      // The CLI runs under plain Node 20, which cannot strip types: tsx compiles the file on the fly.
      if (extension === '.ts' || extension === '.mts') {
        const { tsImport } = await import('tsx/esm/api');
        module = (await tsImport(pathToFileURL(absolute).href, import.meta.url)) as { default?: unknown };
      } else {
        module = (await import(pathToFileURL(absolute).href)) as { default?: unknown };
      }
    } catch (error) {
      throw new ConfigError(`configuration file ${displayPath(path)} failed to load: ${reasonOf(error)}.`, undefined, path);
    }
    // Outside a `"type": "module"` package the file is compiled to CommonJS, and Node hands back
    // `module.exports` (marked `__esModule`) as the default: the real default export is inside it.
    const exported = module.default as { __esModule?: unknown; default?: unknown } | undefined;
    if (typeof exported === 'object' && exported !== null && exported.__esModule === true) module = { default: exported.default };
    if (module.default === undefined) {
      throw new ConfigError(`configuration file ${displayPath(path)} has no default export: write \`export default { ... }\`.`, undefined, path);
    }
    return module.default;
  }
  throw new ConfigError(`configuration file ${displayPath(path)} must end in .json or .ts.`, undefined, path);
}

function settingsFromEnv(env: Readonly<Record<string, string | undefined>>): SourcedValue[] {
  const byVariable = new Map(settings.map((setting) => [envVariableFor(setting.key), setting.key]));
  const values: SourcedValue[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined || NON_BROKER_ENV_VARIABLES.has(name)) continue;
    const key = byVariable.get(name);
    if (key === undefined) {
      const known = [...byVariable.keys()];
      throw new ConfigError(`unknown setting in environment variable ${name}: did you mean ${closest(name, known)}?`, name, `environment variable ${name}`);
    }
    values.push({ key, value, source: `in environment variable ${name}` });
  }
  return values;
}

/** Applies one source's values in the settings' own order, so that within a source `log.retention.ms` beats `.hours` as in Kafka. */
function applySettings(config: BrokerConfig, values: readonly SourcedValue[], fileOrSource: string | undefined): void {
  const byKey = new Map<string, SourcedValue>();
  for (const value of values) {
    if (!settingsByKey.has(value.key)) {
      throw new ConfigError(
        `unknown setting '${value.key}' ${value.source}: did you mean '${closest(value.key, brokerSettingNames())}'?`,
        value.key,
        fileOrSource ?? value.source,
      );
    }
    byKey.set(value.key, value);
  }
  for (const setting of settings) {
    const given = byKey.get(setting.key);
    if (given === undefined) continue;
    try {
      setting.apply(config, given.value);
    } catch (error) {
      if (!(error instanceof InvalidValue)) throw error;
      throw new ConfigError(
        `invalid value ${JSON.stringify(given.value)} for '${setting.key}' ${given.source}: ${error.message}.`,
        setting.key,
        fileOrSource ?? given.source,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Settings

/** Why a value was refused (without the key or source, which `applySettings` adds). */
class InvalidValue extends Error {}

interface Setting {
  readonly key: string;
  readonly apply: (config: BrokerConfig, value: ConfigValue) => void;
}

const INT32_MAX = 0x7fffffff;
const PORT_MAX = 65_535;
const MS_PER_MINUTE = 60_000;
const MS_PER_HOUR = 3_600_000;

/** An integer (Java int or long) in [min, max]; longs beyond 2^53 saturate to UNLIMITED ("never"). */
function integer(value: ConfigValue, min: number, max: number): number {
  let parsed: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new InvalidValue('expected an integer');
    parsed = value;
  } else if (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)) {
    const big = BigInt(value.trim());
    parsed = big > BigInt(UNLIMITED) ? UNLIMITED : big < -BigInt(UNLIMITED) ? -UNLIMITED : Number(big);
  } else {
    throw new InvalidValue('expected an integer');
  }
  if (parsed < min || parsed > max) {
    throw new InvalidValue(`expected an integer in [${min}, ${max === UNLIMITED ? 'Long.MAX_VALUE' : max}]`);
  }
  return parsed;
}

function boolean(value: ConfigValue): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (text === 'true') return true;
    if (text === 'false') return false;
  }
  throw new InvalidValue('expected true or false');
}

function nonEmptyString(value: ConfigValue): string {
  if (typeof value !== 'string' || value.trim().length === 0) throw new InvalidValue('expected a non-empty string');
  return value.trim();
}

/** One `PLAINTEXT://host:port` listener (an empty host binds every interface, as in Kafka). */
function listener(value: ConfigValue): { host: string; port: number } {
  const text = nonEmptyString(value);
  if (text.includes(',')) throw new InvalidValue('defter serves one listener; give exactly one PLAINTEXT://host:port');
  const match = /^([A-Za-z_][A-Za-z0-9_]*):\/\/(\[[^\]]*\]|[^:/]*):(\d+)$/.exec(text);
  if (match === null) throw new InvalidValue('expected PLAINTEXT://host:port');
  const [, protocol, rawHost, rawPort] = match as unknown as [string, string, string, string];
  if (protocol.toUpperCase() !== 'PLAINTEXT') throw new InvalidValue(`security protocol ${protocol} is not supported (only PLAINTEXT)`);
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  return { host: host === '' ? '0.0.0.0' : host, port: integer(rawPort, 0, PORT_MAX) };
}

/**
 * A topic-level default (`log.retention.ms` → `retention.ms`): validated by the storage engine's
 * own topic-config parser, so a broker default and a topic override obey the same rules.
 */
function logDefault(key: string, topicKey: string, toTopicValue: (value: ConfigValue) => string = String): Setting {
  return {
    key,
    apply: (config, value) => {
      const text = typeof value === 'boolean' ? String(value) : toTopicValue(value);
      try {
        config.log = parseLogConfig({ [topicKey]: text }, config.log) as LogConfig;
      } catch (error) {
        if (!(error instanceof InvalidConfigError)) throw error;
        throw new InvalidValue(error.message.replace(`invalid value ${JSON.stringify(text)} for ${topicKey}: `, ''));
      }
    },
  };
}

/** `log.retention.hours` and friends: Kafka multiplies them out to ms; a negative value means unlimited. */
function scaledToMs(unitMs: number): (value: ConfigValue) => string {
  return (value) => {
    const count = integer(value, -UNLIMITED, UNLIMITED);
    if (count < 0) return '-1';
    return String(Math.min(count * unitMs, UNLIMITED));
  };
}

function brokerInteger(key: string, field: IntegerField, min: number, max: number): Setting {
  return { key, apply: (config, value) => void (config[field] = integer(value, min, max)) };
}

type IntegerField = {
  [K in keyof BrokerConfig]: BrokerConfig[K] extends number ? K : never;
}[keyof BrokerConfig];

/**
 * Every accepted setting. Order matters within one source: more general settings come first, so
 * the more specific one wins (`listeners` then `host`/`port`; `log.retention.hours`, `.minutes`,
 * then `.ms`, as Kafka resolves them).
 */
const settings: readonly Setting[] = [
  brokerInteger('node.id', 'nodeId', 0, INT32_MAX),
  { key: 'broker.id', apply: (config, value) => void (config.nodeId = integer(value, 0, INT32_MAX)) },
  { key: 'cluster.id', apply: (config, value) => void (config.clusterId = nonEmptyString(value)) },
  { key: 'log.dir', apply: (config, value) => void (config.dataDir = nonEmptyString(value)) },
  {
    key: 'log.dirs',
    apply: (config, value) => {
      const dirs = nonEmptyString(value).split(',').map((dir) => dir.trim()).filter((dir) => dir.length > 0);
      if (dirs.length !== 1) throw new InvalidValue('defter stores its data in one directory; give exactly one');
      config.dataDir = dirs[0]!;
    },
  },
  {
    key: 'listeners',
    apply: (config, value) => {
      const { host, port } = listener(value);
      config.host = host;
      config.port = port;
    },
  },
  { key: 'host', apply: (config, value) => void (config.host = nonEmptyString(value)) },
  brokerInteger('port', 'port', 0, PORT_MAX),
  {
    key: 'advertised.listeners',
    apply: (config, value) => {
      const { host, port } = listener(value);
      if (host === '0.0.0.0') throw new InvalidValue('an advertised listener needs a host clients can connect to');
      if (port === 0) throw new InvalidValue('an advertised listener needs a real port, not 0');
      config.advertisedHost = host;
      config.advertisedPort = port;
    },
  },
  { key: 'auto.create.topics.enable', apply: (config, value) => void (config.autoCreateTopicsEnable = boolean(value)) },
  brokerInteger('num.partitions', 'numPartitions', 1, INT32_MAX),
  brokerInteger('default.replication.factor', 'defaultReplicationFactor', 1, 32_767),
  {
    // message.max.bytes is both the broker's limit and the default of every topic's max.message.bytes.
    key: 'message.max.bytes',
    apply: (config, value) => {
      const bytes = integer(value, 0, INT32_MAX);
      config.messageMaxBytes = bytes;
      config.log = { ...config.log, maxMessageBytes: bytes };
    },
  },
  brokerInteger('socket.request.max.bytes', 'socketRequestMaxBytes', 1, INT32_MAX),
  brokerInteger('connections.max.idle.ms', 'connectionsMaxIdleMs', 1, UNLIMITED),
  brokerInteger('queued.max.requests', 'queuedMaxRequests', 1, INT32_MAX),
  brokerInteger('fetch.max.bytes', 'fetchMaxBytes', 1024, INT32_MAX),
  brokerInteger('log.retention.check.interval.ms', 'logRetentionCheckIntervalMs', 1, UNLIMITED),
  brokerInteger('log.cleaner.backoff.ms', 'logCleanerBackoffMs', 0, UNLIMITED),
  logDefault('log.segment.bytes', 'segment.bytes'),
  logDefault('log.roll.hours', 'segment.ms', (value) => String(integer(value, 1, UNLIMITED) * MS_PER_HOUR)),
  logDefault('log.roll.ms', 'segment.ms'),
  logDefault('log.index.interval.bytes', 'index.interval.bytes'),
  logDefault('log.index.size.max.bytes', 'segment.index.bytes'),
  logDefault('log.retention.hours', 'retention.ms', scaledToMs(MS_PER_HOUR)),
  logDefault('log.retention.minutes', 'retention.ms', scaledToMs(MS_PER_MINUTE)),
  logDefault('log.retention.ms', 'retention.ms'),
  logDefault('log.retention.bytes', 'retention.bytes'),
  logDefault('log.cleanup.policy', 'cleanup.policy'),
  logDefault('log.cleaner.delete.retention.ms', 'delete.retention.ms'),
  logDefault('log.cleaner.min.compaction.lag.ms', 'min.compaction.lag.ms'),
  logDefault('log.cleaner.max.compaction.lag.ms', 'max.compaction.lag.ms'),
  logDefault('log.cleaner.min.cleanable.ratio', 'min.cleanable.dirty.ratio'),
  logDefault('log.message.timestamp.type', 'message.timestamp.type'),
  logDefault('log.flush.interval.messages', 'flush.messages'),
  logDefault('log.flush.interval.ms', 'flush.ms'),
  logDefault('log.segment.delete.delay.ms', 'file.delete.delay.ms'),
  brokerInteger('group.initial.rebalance.delay.ms', 'groupInitialRebalanceDelayMs', 0, INT32_MAX),
  brokerInteger('group.min.session.timeout.ms', 'groupMinSessionTimeoutMs', 0, INT32_MAX),
  brokerInteger('group.max.session.timeout.ms', 'groupMaxSessionTimeoutMs', 0, INT32_MAX),
  brokerInteger('group.max.size', 'groupMaxSize', 1, INT32_MAX),
  brokerInteger('offsets.topic.num.partitions', 'offsetsTopicNumPartitions', 1, INT32_MAX),
  brokerInteger('offsets.topic.segment.bytes', 'offsetsTopicSegmentBytes', 1, INT32_MAX),
  brokerInteger('offsets.retention.minutes', 'offsetsRetentionMinutes', 1, INT32_MAX),
  brokerInteger('offsets.retention.check.interval.ms', 'offsetsRetentionCheckIntervalMs', 1, UNLIMITED),
  brokerInteger('offset.metadata.max.bytes', 'offsetMetadataMaxBytes', 0, INT32_MAX),
  brokerInteger('producer.id.expiration.ms', 'producerIdExpirationMs', 1, INT32_MAX),
  brokerInteger('producer.id.expiration.check.interval.ms', 'producerIdExpirationCheckIntervalMs', 1, INT32_MAX),
  brokerInteger('transaction.state.log.num.partitions', 'transactionStateLogNumPartitions', 1, INT32_MAX),
  brokerInteger('transaction.state.log.segment.bytes', 'transactionStateLogSegmentBytes', 1, INT32_MAX),
  brokerInteger('transaction.max.timeout.ms', 'transactionMaxTimeoutMs', 1, INT32_MAX),
  brokerInteger('transactional.id.expiration.ms', 'transactionalIdExpirationMs', 1, INT32_MAX),
  brokerInteger('transaction.abort.timed.out.transaction.cleanup.interval.ms', 'transactionAbortTimedOutTransactionCleanupIntervalMs', 1, INT32_MAX),
  brokerInteger('transaction.remove.expired.transaction.cleanup.interval.ms', 'transactionRemoveExpiredTransactionCleanupIntervalMs', 1, INT32_MAX),
  brokerInteger('shutdownTimeoutMs', 'shutdownTimeoutMs', 0, UNLIMITED),
];

const settingsByKey: ReadonlyMap<string, Setting> = new Map(settings.map((setting) => [setting.key, setting]));

/** A path as a person would type it: relative to the working directory when it lies below it. */
function displayPath(path: string): string {
  const shown = relative(process.cwd(), resolve(path));
  return shown.length > 0 && !shown.startsWith('..') && !isAbsolute(shown) ? shown : path;
}

function reasonOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\.$/, '');
}
