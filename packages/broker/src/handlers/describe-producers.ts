import { ApiKey } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';

/**
 * DescribeProducers v0 (KIP-664): per partition, the producers whose state the partition keeps
 * (id, epoch, last sequence and timestamp, coordinator epoch, open transaction's first offset);
 * an unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION on that partition.
 */
export const describeProducersHandler = defineHandler({
  apiKey: ApiKey.DescribeProducers,
  minVersion: 0,
  maxVersion: 0,
  handle(request, context) {
    const { replicaManager } = context.broker;
    return {
      throttleTimeMs: 0,
      topics: request.topics.map((topic) => ({
        name: topic.name,
        partitions: topic.partitionIndexes.map((partitionIndex) => {
          const result = replicaManager.describeProducers(topic.name, partitionIndex);
          return { partitionIndex, errorCode: result.errorCode, errorMessage: result.errorMessage, activeProducers: result.activeProducers };
        }),
      })),
    };
  },
});
