import { ApiKey, ErrorCode } from '@defter/protocol';
import { NO_RESPONSE, defineHandler } from '../api/handler.js';

/**
 * Produce v0-11. v3+ carry exactly one magic-2 batch per partition; v0-2 carry legacy message
 * sets, up-converted by the replica manager. acks=0 gets no response, sent only once the appends
 * are done, so that a later request on the connection sees them.
 */
export const produceHandler = defineHandler({
  apiKey: ApiKey.Produce,
  minVersion: 0,
  maxVersion: 11,
  async handle(request, context) {
    const { replicaManager, logger } = context.broker;
    const partitions = request.topicData.flatMap((topic) =>
      topic.partitionData.map((partition) => ({ topic: topic.name, partition: partition.index, records: partition.records })),
    );
    const results = await replicaManager.appendRecords({
      acks: request.acks,
      produceVersion: context.header.apiVersion,
      transactionalId: request.transactionalId ?? null,
      partitions,
    });
    if (request.acks === 0) {
      const failed = results.filter((result) => result.errorCode !== ErrorCode.NONE).length;
      if (failed > 0) logger.debug({ clientAddress: context.clientAddress, failed }, 'acks=0 produce had failed partitions; the client is not told');
      return NO_RESPONSE;
    }
    let next = 0;
    return {
      responses: request.topicData.map((topic) => ({
        name: topic.name,
        partitionResponses: topic.partitionData.map((partition) => {
          const result = results[next++]!;
          return {
            index: partition.index,
            errorCode: result.errorCode,
            baseOffset: result.baseOffset,
            logAppendTimeMs: result.logAppendTimeMs,
            logStartOffset: result.logStartOffset,
            recordErrors: [],
            errorMessage: result.errorCode === ErrorCode.NONE ? null : result.errorMessage,
          };
        }),
      })),
      throttleTimeMs: 0,
    };
  },
});
