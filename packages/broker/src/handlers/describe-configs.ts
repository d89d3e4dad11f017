import { validateTopicName } from '@defter/log';
import { ApiKey, ErrorCode, type DescribeConfigsResponseDescribeConfigsResourceResult, type DescribeConfigsResponseDescribeConfigsResult } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { KafkaError } from '../errors.js';
import { adminFailure } from '../metadata/admin-failure.js';
import { brokerResourceScope, ConfigResourceType, describeBrokerConfigs, unsupportedResourceType } from '../metadata/broker-configs.js';
import { ConfigSource, describeTopicConfigs, type DescribedConfig } from '../metadata/topic-configs.js';

/**
 * DescribeConfigs v0–4: a topic's every config with its effective value and source (clients
 * read-modify-write, so defaults are listed too), and this broker's settings under Kafka's names.
 * Each resource succeeds or fails on its own.
 */
export const describeConfigsHandler = defineHandler({
  apiKey: ApiKey.DescribeConfigs,
  minVersion: 0,
  maxVersion: 4,
  handle(request, context) {
    const { config, metadata, logger } = context.broker;
    const includeSynonyms = context.header.apiVersion >= 1 && request.includeSynonyms === true;
    const results = request.resources.map(({ resourceType, resourceName, configurationKeys }): DescribeConfigsResponseDescribeConfigsResult => {
      try {
        let described: DescribedConfig[];
        if (resourceType === ConfigResourceType.TOPIC) {
          validateTopicName(resourceName);
          const topic = metadata.topic(resourceName);
          if (topic === undefined) throw new KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic ${resourceName} does not exist.`);
          described = describeTopicConfigs(topic.configs, config.log);
        } else if (resourceType === ConfigResourceType.BROKER) {
          const scope = brokerResourceScope(resourceName, config.nodeId);
          described = scope === 'cluster-default' ? [] : describeBrokerConfigs(config, context.broker.advertisedListener());
        } else {
          throw unsupportedResourceType(resourceType);
        }
        const wanted = configurationKeys === null ? undefined : new Set(configurationKeys);
        const configs = described.filter((entry) => wanted === undefined || wanted.has(entry.name)).map((entry) => toEntry(entry, { includeSynonyms, ofTopic: resourceType === ConfigResourceType.TOPIC, version: context.header.apiVersion }));
        return { errorCode: ErrorCode.NONE, errorMessage: null, resourceType, resourceName, configs };
      } catch (error) {
        return { ...adminFailure(error, logger, { api: 'DescribeConfigs', resourceType, resourceName }), resourceType, resourceName, configs: [] };
      }
    });
    return { throttleTimeMs: 0, results };
  },
});

function toEntry(entry: DescribedConfig, options: { includeSynonyms: boolean; ofTopic: boolean; version: number }): DescribeConfigsResponseDescribeConfigsResourceResult {
  return {
    name: entry.name,
    value: entry.value,
    readOnly: entry.readOnly,
    // Only v0 has is_default (later versions carry the source): a topic's value is "default"
    // unless the topic overrides it.
    isDefault: options.version === 0 && (options.ofTopic ? entry.source !== ConfigSource.DYNAMIC_TOPIC_CONFIG : entry.source === ConfigSource.DEFAULT_CONFIG),
    configSource: entry.source,
    isSensitive: false,
    synonyms: options.includeSynonyms ? entry.synonyms.map(({ name, value, source }) => ({ name, value, source })) : [],
    configType: entry.type,
    documentation: null,
  };
}
