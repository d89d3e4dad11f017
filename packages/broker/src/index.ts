export { startBroker, type StartBrokerOptions, type RunningBroker } from './broker.js';
export { defaultBrokerConfig, type BrokerConfig } from './config.js';
export type { BrokerContext } from './broker-context.js';
export { KafkaError, errorCodeOf, errorMessageOf } from './errors.js';
export { InProcessClient } from './api/in-process-client.js';
export { NO_RESPONSE, defineHandler, type ApiHandler, type RequestContext } from './api/handler.js';
export {
  loadBrokerConfig,
  ConfigError,
  brokerSettingNames,
  envVariableFor,
  DEFAULT_CONFIG_FILES,
  ENV_PREFIX,
  NON_BROKER_ENV_VARIABLES,
  type LoadBrokerConfigOptions,
  type ConfigValue,
} from './config-loader.js';
export { murmur2, partitionForKey, toPositive } from './partitioner.js';
export { MetadataStore, type TopicMetadata } from './metadata/metadata-store.js';
export { ReplicaManager, IsolationLevel } from './replica/replica-manager.js';
export { TRANSACTION_STATES, type TransactionState } from './txn/transaction-state.js';
