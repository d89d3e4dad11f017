export { startBroker, type StartBrokerOptions, type RunningBroker } from './broker.js';
export { defaultBrokerConfig, type BrokerConfig } from './config.js';
export type { BrokerContext } from './broker-context.js';
export { KafkaError, errorCodeOf, errorMessageOf } from './errors.js';
export { NO_RESPONSE, defineHandler, type ApiHandler, type RequestContext } from './api/handler.js';
