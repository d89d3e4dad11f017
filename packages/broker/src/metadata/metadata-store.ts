import { join } from 'node:path';
import { LogError, validateTopicName, writeFileAtomically, type Clock, type LogConfig, type LogManager } from '@defter/log';
import { ErrorCode } from '@defter/protocol';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import { KafkaError } from '../errors.js';
import { formatMetaProperties, META_PROPERTIES_FILE, MetaPropertiesError, readMetaProperties } from './meta-properties.js';
import { ConfigType, topicConfigDefinition, validateTopicConfigs } from './topic-configs.js';
import { formatTopicsFile, readTopicsFile, TOPICS_FILE, type StoredDeletion, type StoredTopic } from './topics-file.js';
import { isUuid, randomKafkaUuid, ZERO_UUID } from './uuid.js';

/*
 * The cluster's metadata on this single node: its identity (`meta.properties`) and its topics
 * (name, topic id, partition count, config overrides) in the topics file. Every change is written
 * to disk (atomically) before it is visible or acted on, and changes run one at a time.
 */

export interface TopicMetadata {
  readonly name: string;
  /** base64url UUID, as the codec uses. */
  readonly topicId: string;
  readonly partitions: number;
  /** Kafka-named overrides, in normal form. */
  readonly configs: Readonly<Record<string, string>>;
  /** Kafka's internal topics (`__consumer_offsets`, …): names starting with `__`. */
  readonly internal: boolean;
}

export interface MetadataStoreOptions {
  dataDir: string;
  config: BrokerConfig;
  clock: Clock;
  logger: Logger;
  /** Where cluster and topic ids come from; tests may make them predictable. */
  randomUuid?: () => string;
  /** The most partitions this broker hosts, over all topics: bounds what one request can create. */
  partitionsMax?: number;
}

export type ConfigChangeOp = 'set' | 'delete' | 'append' | 'subtract';

export interface ConfigChange {
  readonly name: string;
  readonly value: string | null;
  readonly op: ConfigChangeOp;
}

/** Partitions one broker hosts at most unless configured: each is a directory and open files. */
export const PARTITIONS_MAX_DEFAULT = 10_000;
/** Partition logs created at the same time when a topic is created or grown. */
const LOG_CREATION_CONCURRENCY = 16;
const INTERNAL_TOPIC_PREFIX = '__';

function isInternalTopic(name: string): boolean {
  return name.startsWith(INTERNAL_TOPIC_PREFIX);
}

/** Kafka's `Topic.hasCollision`: '.' and '_' become the same character in metric names. */
function collisionKey(name: string): string {
  return name.replaceAll('.', '_');
}

function unknownTopic(name: string): KafkaError {
  return new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `This server does not host this topic: ${name}`);
}

function toTopicMetadata(stored: StoredTopic): TopicMetadata {
  return Object.freeze({
    name: stored.name,
    topicId: stored.topicId,
    partitions: stored.partitions,
    configs: Object.freeze({ ...stored.configs }),
    internal: isInternalTopic(stored.name),
  });
}

/** Runs `work` over `items` with at most `concurrency` at a time; rejects with the first failure after all settle. */
async function forEachBounded<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, index) => from + index);
}

export class MetadataStore {
  private readonly topicsByName = new Map<string, TopicMetadata>();
  private readonly topicsById = new Map<string, TopicMetadata>();
  private readonly logConfigs = new Map<string, LogConfig>();
  private deleting: StoredDeletion[];
  private sortedTopics: readonly TopicMetadata[] | undefined;
  private logManager: LogManager | undefined;
  /** Changes run one after another: each sees the state the previous one left. */
  private changes: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly options: Required<Pick<MetadataStoreOptions, 'randomUuid' | 'partitionsMax'>> & MetadataStoreOptions,
    readonly clusterId: string,
    private readonly metaPropertiesMissing: boolean,
    topics: readonly StoredTopic[],
    deleting: readonly StoredDeletion[],
  ) {
    for (const stored of topics) this.publish(toTopicMetadata(stored), this.checkedLogConfig(stored));
    this.deleting = [...deleting];
  }

  /**
   * Reads the data directory's metadata (writing nothing: the log manager has not locked the
   * directory yet). A new directory gets a new cluster id, written by `attach`.
   */
  static async open(options: MetadataStoreOptions): Promise<MetadataStore> {
    const { dataDir, config } = options;
    const randomUuid = options.randomUuid ?? (() => randomKafkaUuid());
    const partitionsMax = options.partitionsMax ?? PARTITIONS_MAX_DEFAULT;
    const meta = await readMetaProperties(dataDir);
    const where = join(dataDir, META_PROPERTIES_FILE);
    if (config.clusterId !== undefined && !isUuid(config.clusterId)) {
      throw new MetaPropertiesError(`cluster.id ${JSON.stringify(config.clusterId)} is not a 22-character base64url UUID`);
    }
    if (meta !== undefined && meta.nodeId !== config.nodeId) {
      throw new MetaPropertiesError(`${where}: stored node.id ${meta.nodeId} does not match the configured node.id ${config.nodeId}`);
    }
    if (meta !== undefined && config.clusterId !== undefined && meta.clusterId !== config.clusterId) {
      throw new MetaPropertiesError(`${where}: stored cluster.id ${meta.clusterId} does not match the configured cluster.id ${config.clusterId}`);
    }
    const clusterId = meta?.clusterId ?? config.clusterId ?? randomUuid();
    const content = await readTopicsFile(dataDir);
    return new MetadataStore({ ...options, randomUuid, partitionsMax }, clusterId, meta === undefined, content?.topics ?? [], content?.deleting ?? []);
  }

  /**
   * Takes the (now locked) data directory into use: writes `meta.properties` on first start,
   * finishes deletions a crash interrupted, creates every partition log a topic should have, and
   * warns about logs on disk that belong to no topic.
   */
  async attach(logManager: LogManager): Promise<void> {
    if (this.logManager !== undefined) throw new Error('the metadata store is already attached');
    this.logManager = logManager;
    const { dataDir, config, logger } = this.options;
    if (this.metaPropertiesMissing) {
      await writeFileAtomically(join(dataDir, META_PROPERTIES_FILE), formatMetaProperties({ nodeId: config.nodeId, clusterId: this.clusterId }));
      logger.info({ clusterId: this.clusterId }, 'wrote meta.properties for a new data directory');
    }
    if (this.deleting.length > 0) await this.finishDeletions([...this.deleting]);
    for (const topic of this.topics()) await this.createLogs(topic, 0, topic.partitions);
    for (const { topic, partition } of logManager.logs()) {
      const known = this.topicsByName.get(topic);
      if (known === undefined || partition >= known.partitions) {
        logger.warn(
          { topic, partition },
          known === undefined
            ? `the log ${topic}-${partition} belongs to no known topic: it is kept, unused (a topic created with this name would take it over)`
            : `the log ${topic}-${partition} is beyond the topic's ${known.partitions} partitions: it is kept, unused`,
        );
      }
    }
  }

  /** Broker defaults with the topic's overrides; undefined for unknown topics. */
  logConfigFor(topic: string): LogConfig | undefined {
    return this.logConfigs.get(topic);
  }

  topic(name: string): TopicMetadata | undefined {
    return this.topicsByName.get(name);
  }

  topicById(topicId: string): TopicMetadata | undefined {
    return this.topicsById.get(topicId);
  }

  /** Every topic, sorted by name. */
  topics(): readonly TopicMetadata[] {
    this.sortedTopics ??= Object.freeze([...this.topicsByName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
    return this.sortedTopics;
  }

  /** Partitions over all topics. */
  partitionCount(): number {
    let count = 0;
    for (const topic of this.topicsByName.values()) count += topic.partitions;
    return count;
  }

  /**
   * Creates a topic with `partitions` partitions and the given Kafka-named config overrides. Throws
   * KafkaError: INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_CONFIG.
   * With `validateOnly` nothing changes and the returned topic id is the zero UUID.
   */
  createTopic(name: string, partitions: number, configs: Record<string, string>, options: { validateOnly?: boolean } = {}): Promise<TopicMetadata> {
    return this.change(async () => {
      this.checkNewTopicName(name);
      await this.finishDeletionOf(name);
      this.checkPartitionsToAdd(partitions, `Number of partitions must be larger than 0 (got ${partitions}).`);
      const validated = validateTopicConfigs(new Map(Object.entries(configs)), this.options.config.log);
      if (options.validateOnly === true) {
        return toTopicMetadata({ name, topicId: ZERO_UUID, partitions, configs: validated.configs });
      }
      const stored: StoredTopic = { name, topicId: this.newTopicId(), partitions, configs: validated.configs };
      const topic = toTopicMetadata(stored);
      await this.save([...this.topics(), topic], this.deleting);
      try {
        await this.createLogs(topic, 0, partitions, validated.logConfig);
      } finally {
        // The topic exists once it is on disk, even if a log could not be created yet (attach retries).
        this.publish(topic, validated.logConfig);
      }
      this.options.logger.info({ topic: name, topicId: topic.topicId, partitions }, 'created topic');
      return topic;
    });
  }

  /**
   * Creates `name` as a Metadata request may ask (`auto.create.topics.enable`): `num.partitions`
   * partitions, broker defaults. A topic created meanwhile is returned as it is.
   * UNKNOWN_TOPIC_OR_PARTITION when auto-creation is off.
   */
  async autoCreateTopic(name: string): Promise<TopicMetadata> {
    if (!this.options.config.autoCreateTopicsEnable) throw unknownTopic(name);
    try {
      return await this.createTopic(name, this.options.config.numPartitions, {});
    } catch (error) {
      const existing = this.topicsByName.get(name);
      if (error instanceof KafkaError && error.code === ErrorCode.TOPIC_ALREADY_EXISTS && existing !== undefined) return existing;
      throw error;
    }
  }

  /**
   * Deletes a topic: first from the metadata on disk (from then on it is gone, even after a crash),
   * then its partition logs. A deletion a crash interrupts is finished by the next `attach`.
   */
  deleteTopic(name: string): Promise<void> {
    return this.change(async () => {
      const topic = this.topicsByName.get(name);
      if (topic === undefined) throw unknownTopic(name);
      const deletion: StoredDeletion = { name, topicId: topic.topicId, partitions: topic.partitions };
      const remaining = this.topics().filter((other) => other.name !== name);
      await this.save(remaining, [...this.deleting, deletion]);
      this.deleting.push(deletion);
      this.unpublish(topic);
      this.options.logger.info({ topic: name, topicId: topic.topicId }, 'deleted topic');
      await this.finishDeletions([deletion]);
    });
  }

  /** Grows a topic to `totalCount` partitions (never shrinks: INVALID_PARTITIONS). */
  createPartitions(name: string, totalCount: number, options: { validateOnly?: boolean } = {}): Promise<void> {
    return this.change(async () => {
      const topic = this.topicsByName.get(name);
      if (topic === undefined) throw unknownTopic(name);
      if (!Number.isInteger(totalCount) || totalCount <= topic.partitions) {
        throw new KafkaError(
          ErrorCode.INVALID_PARTITIONS,
          totalCount === topic.partitions
            ? `Topic already has ${topic.partitions} partitions.`
            : `Topic currently has ${topic.partitions} partitions, which is higher than the requested ${totalCount}.`,
        );
      }
      this.checkPartitionsToAdd(totalCount - topic.partitions, '');
      if (options.validateOnly === true) return;
      const grown = Object.freeze({ ...topic, partitions: totalCount });
      await this.save(
        this.topics().map((other) => (other.name === name ? grown : other)),
        this.deleting,
      );
      const logConfig = this.logConfigs.get(name)!;
      try {
        await this.createLogs(grown, topic.partitions, totalCount, logConfig);
      } finally {
        this.publish(grown, logConfig);
      }
      this.options.logger.info({ topic: name, from: topic.partitions, to: totalCount }, 'added partitions');
    });
  }

  /**
   * Changes a topic's config overrides. Not incremental (AlterConfigs): the `set` changes replace
   * the whole override set. Incremental: each change applies to the current overrides; `append` and
   * `subtract` only for list configs, starting from the effective value. The live logs take the new
   * config at once. Throws KafkaError: UNKNOWN_TOPIC_OR_PARTITION, INVALID_CONFIG, INVALID_REQUEST.
   */
  alterTopicConfigs(name: string, changes: ReadonlyArray<ConfigChange>, options: { incremental: boolean; validateOnly?: boolean }): Promise<void> {
    return this.change(async () => {
      const topic = this.topicsByName.get(name);
      if (topic === undefined) throw unknownTopic(name);
      const overrides = this.applyConfigChanges(topic, changes, options.incremental);
      const validated = validateTopicConfigs(overrides, this.options.config.log);
      if (options.validateOnly === true) return;
      const altered = Object.freeze({ ...topic, configs: validated.configs });
      await this.save(
        this.topics().map((other) => (other.name === name ? altered : other)),
        this.deleting,
      );
      this.publish(altered, validated.logConfig);
      for (let partition = 0; partition < altered.partitions; partition++) {
        this.attachedLogManager().updateConfig(name, partition, validated.logConfig);
      }
      this.options.logger.info({ topic: name, configs: validated.configs }, 'altered topic configs');
    });
  }

  /** Waits for a change in progress; afterwards every change is refused. */
  async close(): Promise<void> {
    this.closed = true;
    await this.changes.catch(() => undefined);
  }

  // -------------------------------------------------------------------------------------------

  private change<T>(operation: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw new KafkaError(ErrorCode.NOT_CONTROLLER, 'the broker is shutting down');
      this.attachedLogManager();
      return operation();
    };
    const result = this.changes.then(run, run);
    this.changes = result.catch(() => undefined);
    return result;
  }

  private attachedLogManager(): LogManager {
    if (this.logManager === undefined) throw new Error('the metadata store is not attached to a log manager yet');
    return this.logManager;
  }

  private checkNewTopicName(name: string): void {
    try {
      validateTopicName(name);
    } catch (error) {
      if (error instanceof LogError) throw new KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, error.message);
      throw error;
    }
    if (this.topicsByName.has(name)) throw new KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${name}' already exists.`);
    const key = collisionKey(name);
    for (const existing of this.topicsByName.keys()) {
      if (collisionKey(existing) === key) {
        throw new KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, `Topic '${name}' collides with existing topic: ${existing}`);
      }
    }
  }

  private checkPartitionsToAdd(added: number, notPositiveMessage: string): void {
    if (!Number.isInteger(added) || added < 1) throw new KafkaError(ErrorCode.INVALID_PARTITIONS, notPositiveMessage);
    const total = this.partitionCount() + added;
    if (total > this.options.partitionsMax) {
      throw new KafkaError(
        ErrorCode.INVALID_PARTITIONS,
        `Adding ${added} partitions would bring this broker to ${total}, above its limit of ${this.options.partitionsMax}.`,
      );
    }
  }

  private newTopicId(): string {
    for (;;) {
      const id = this.options.randomUuid();
      if (!this.topicsById.has(id) && !this.deleting.some((deletion) => deletion.topicId === id)) return id;
    }
  }

  private applyConfigChanges(topic: TopicMetadata, changes: ReadonlyArray<ConfigChange>, incremental: boolean): Map<string, string> {
    const seen = new Set<string>();
    for (const { name } of changes) {
      if (seen.has(name)) throw new KafkaError(ErrorCode.INVALID_REQUEST, `Error due to duplicate config keys: ${name}`);
      seen.add(name);
    }
    const overrides = incremental ? new Map(Object.entries(topic.configs)) : new Map<string, string>();
    for (const { name, value, op } of changes) {
      const definition = topicConfigDefinition(name);
      if (op !== 'delete' && value === null) throw new KafkaError(ErrorCode.INVALID_REQUEST, `Null value not supported for : ${name}`);
      if (!incremental && op !== 'set') throw new Error(`a non-incremental config change must be a set, not ${op}`);
      switch (op) {
        case 'set':
          overrides.set(name, value!);
          break;
        case 'delete':
          overrides.delete(name);
          break;
        case 'append':
        case 'subtract': {
          if (definition.type !== ConfigType.LIST) {
            throw new KafkaError(ErrorCode.INVALID_CONFIG, `Config value ${op} is not allowed for config key: ${name}`);
          }
          const current = (overrides.get(name) ?? definition.brokerDefault(this.options.config.log)).split(',').map((item) => item.trim()).filter((item) => item.length > 0);
          const given = value!.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
          const result = op === 'append' ? [...current, ...given.filter((item) => !current.includes(item))] : current.filter((item) => !given.includes(item));
          overrides.set(name, result.join(','));
          break;
        }
      }
    }
    return overrides;
  }

  private async createLogs(topic: TopicMetadata, fromPartition: number, toPartition: number, logConfig?: LogConfig): Promise<void> {
    const logManager = this.attachedLogManager();
    const config = logConfig ?? this.logConfigs.get(topic.name);
    await forEachBounded(range(fromPartition, toPartition), LOG_CREATION_CONCURRENCY, async (partition) => {
      await logManager.getOrCreateLog(topic.name, partition, config);
    });
  }

  /**
   * A topic deleted under the same name whose logs are not all gone yet (a disk error) must finish
   * first: its logs would otherwise be taken for the new topic's.
   */
  private async finishDeletionOf(name: string): Promise<void> {
    const pending = this.deleting.filter((deletion) => deletion.name === name);
    if (pending.length === 0) return;
    await this.finishDeletions(pending);
    if (this.deleting.some((deletion) => deletion.name === name)) {
      throw new KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, `Topic '${name}' is marked for deletion.`);
    }
  }

  /** Deletes the logs of deleted topics, then forgets the deletions that completed. */
  private async finishDeletions(deletions: readonly StoredDeletion[]): Promise<void> {
    const logManager = this.attachedLogManager();
    const finished: StoredDeletion[] = [];
    for (const deletion of deletions) {
      try {
        for (let partition = 0; partition < deletion.partitions; partition++) await logManager.deleteLog(deletion.name, partition);
        finished.push(deletion);
      } catch (error) {
        this.options.logger.error({ err: error, topic: deletion.name }, 'could not delete the logs of a deleted topic; the next start retries');
      }
    }
    if (finished.length === 0) return;
    const deleting = this.deleting.filter((deletion) => !finished.includes(deletion));
    await this.save(this.topics(), deleting);
    this.deleting = deleting;
  }

  private async save(topics: readonly StoredTopic[], deleting: readonly StoredDeletion[]): Promise<void> {
    await writeFileAtomically(join(this.options.dataDir, TOPICS_FILE), formatTopicsFile({ topics, deleting }));
  }

  private publish(topic: TopicMetadata, logConfig: LogConfig): void {
    const previous = this.topicsByName.get(topic.name);
    if (previous !== undefined) this.topicsById.delete(previous.topicId);
    this.topicsByName.set(topic.name, topic);
    this.topicsById.set(topic.topicId, topic);
    this.logConfigs.set(topic.name, logConfig);
    this.sortedTopics = undefined;
  }

  private unpublish(topic: TopicMetadata): void {
    this.topicsByName.delete(topic.name);
    this.topicsById.delete(topic.topicId);
    this.logConfigs.delete(topic.name);
    this.sortedTopics = undefined;
  }

  /** The log config of a topic read from disk, or a start-up error naming the topic. */
  private checkedLogConfig(stored: StoredTopic): LogConfig {
    try {
      return validateTopicConfigs(new Map(Object.entries(stored.configs)), this.options.config.log).logConfig;
    } catch (error) {
      throw new Error(`${join(this.options.dataDir, TOPICS_FILE)}: topic ${stored.name}: ${(error as Error).message}`, { cause: error });
    }
  }
}
