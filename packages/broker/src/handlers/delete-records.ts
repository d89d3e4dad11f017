import { ApiKey } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';

/** DeleteRecords v0-2: moves each partition's log start offset (-1 = up to the high watermark). */
export const deleteRecordsHandler = defineHandler({
  apiKey: ApiKey.DeleteRecords,
  minVersion: 0,
  maxVersion: 2,
  async handle(request, context) {
    const { replicaManager } = context.broker;
    const topics = await Promise.all(
      request.topics.map(async (topic) => ({
        name: topic.name,
        partitions: await Promise.all(
          topic.partitions.map(async (partition) => {
            const result = await replicaManager.deleteRecords(topic.name, partition.partitionIndex, partition.offset);
            return { partitionIndex: partition.partitionIndex, lowWatermark: result.lowWatermark, errorCode: result.errorCode };
          }),
        ),
      })),
    );
    return { throttleTimeMs: 0, topics };
  },
});
