import { ErrorCode } from '@defter/protocol';
import type { BrokerConfig } from '../config.js';
import { KafkaError } from '../errors.js';
import { ConfigSource, ConfigType, topicConfigDefinitions, type ConfigTypeCode, type DescribedConfig } from './topic-configs.js';

/*
 * This broker's settings under Kafka's names, as DescribeConfigs reports a BROKER resource. They
 * come from the config file, flags and environment at start-up and cannot be changed while the
 * broker runs, so every entry is read-only.
 */

interface BrokerSetting {
  readonly name: string;
  readonly type: ConfigTypeCode;
  readonly value: (config: BrokerConfig, listener: { host: string; port: number }) => string | null;
  /** Apache Kafka's default (null: none), which decides between STATIC_BROKER_CONFIG and DEFAULT_CONFIG. */
  readonly kafkaDefault: string | null;
}

const brokerSettings: BrokerSetting[] = [
  { name: 'advertised.listeners', type: ConfigType.STRING, value: (_, listener) => `PLAINTEXT://${listener.host}:${listener.port}`, kafkaDefault: null },
  { name: 'auto.create.topics.enable', type: ConfigType.BOOLEAN, value: (config) => String(config.autoCreateTopicsEnable), kafkaDefault: 'true' },
  { name: 'broker.id', type: ConfigType.INT, value: (config) => String(config.nodeId), kafkaDefault: '-1' },
  { name: 'connections.max.idle.ms', type: ConfigType.LONG, value: (config) => String(config.connectionsMaxIdleMs), kafkaDefault: '600000' },
  { name: 'default.replication.factor', type: ConfigType.INT, value: (config) => String(config.defaultReplicationFactor), kafkaDefault: '1' },
  { name: 'fetch.max.bytes', type: ConfigType.INT, value: (config) => String(config.fetchMaxBytes), kafkaDefault: '57671680' },
  { name: 'listeners', type: ConfigType.STRING, value: (config) => `PLAINTEXT://${config.host}:${config.port}`, kafkaDefault: 'PLAINTEXT://:9092' },
  { name: 'log.cleaner.backoff.ms', type: ConfigType.LONG, value: (config) => String(config.logCleanerBackoffMs), kafkaDefault: '15000' },
  { name: 'log.dirs', type: ConfigType.STRING, value: (config) => config.dataDir, kafkaDefault: null },
  { name: 'log.retention.check.interval.ms', type: ConfigType.LONG, value: (config) => String(config.logRetentionCheckIntervalMs), kafkaDefault: '300000' },
  { name: 'message.max.bytes', type: ConfigType.INT, value: (config) => String(config.messageMaxBytes), kafkaDefault: '1048588' },
  { name: 'node.id', type: ConfigType.INT, value: (config) => String(config.nodeId), kafkaDefault: '-1' },
  { name: 'num.partitions', type: ConfigType.INT, value: (config) => String(config.numPartitions), kafkaDefault: '1' },
  { name: 'queued.max.requests', type: ConfigType.INT, value: (config) => String(config.queuedMaxRequests), kafkaDefault: '500' },
  { name: 'socket.request.max.bytes', type: ConfigType.INT, value: (config) => String(config.socketRequestMaxBytes), kafkaDefault: '104857600' },
];

/** The topic-default settings (`log.retention.ms` …), except message.max.bytes which the broker config holds itself. */
function topicDefaultSettings(): BrokerSetting[] {
  const settings: BrokerSetting[] = [];
  for (const definition of topicConfigDefinitions.values()) {
    if (brokerSettings.some((setting) => setting.name === definition.brokerName)) continue;
    settings.push({ name: definition.brokerName, type: definition.type, value: (config) => definition.brokerDefault(config.log), kafkaDefault: definition.kafkaDefault });
  }
  return settings;
}

const allSettings: readonly BrokerSetting[] = [...brokerSettings, ...topicDefaultSettings()].sort((a, b) => (a.name < b.name ? -1 : 1));

/** Every broker setting, sorted by name. */
export function describeBrokerConfigs(config: BrokerConfig, listener: { host: string; port: number }): DescribedConfig[] {
  return allSettings.map((setting) => {
    const value = setting.value(config, listener) ?? '';
    const source = value === setting.kafkaDefault ? ConfigSource.DEFAULT_CONFIG : ConfigSource.STATIC_BROKER_CONFIG;
    const synonyms: Array<DescribedConfig['synonyms'][number]> = [{ name: setting.name, value, source }];
    if (source === ConfigSource.STATIC_BROKER_CONFIG && setting.kafkaDefault !== null) {
      synonyms.push({ name: setting.name, value: setting.kafkaDefault, source: ConfigSource.DEFAULT_CONFIG });
    }
    return { name: setting.name, value, source, readOnly: true, type: setting.type, synonyms };
  });
}

/** Whether `name` is a broker setting this broker reports (for AlterConfigs' error messages). */
export function isBrokerSetting(name: string): boolean {
  return allSettings.some((setting) => setting.name === name);
}


/** ConfigResource.Type codes of the resources this broker describes and alters. */
export const ConfigResourceType = { TOPIC: 2, BROKER: 4 } as const;

/**
 * What a BROKER resource name refers to: '' is the cluster-wide default (of which this broker has
 * none set dynamically), else it must be this node's id. INVALID_REQUEST otherwise, as Kafka.
 */
export function brokerResourceScope(resourceName: string, nodeId: number): 'cluster-default' | 'this-broker' {
  if (resourceName === '') return 'cluster-default';
  if (!/^-?\d{1,10}$/.test(resourceName)) throw new KafkaError(ErrorCode.INVALID_REQUEST, `Broker id must be an integer, but it is: ${resourceName}`);
  if (Number(resourceName) !== nodeId) {
    throw new KafkaError(ErrorCode.INVALID_REQUEST, `Unexpected broker id, expected ${nodeId} or empty string, but received ${resourceName}`);
  }
  return 'this-broker';
}

export function unsupportedResourceType(resourceType: number): KafkaError {
  return new KafkaError(ErrorCode.INVALID_REQUEST, `Unsupported resource type ${resourceType}: this broker has configs for topics (2) and brokers (4)`);
}
