import { ApiKey, ErrorCode } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';

/** DescribeTransactions v0: the state, producer and partitions of each transactional id. */
export const describeTransactionsHandler = defineHandler({
  apiKey: ApiKey.DescribeTransactions,
  minVersion: 0,
  maxVersion: 0,
  handle(request, context) {
    const coordinator = context.broker.transactionCoordinator;
    return {
      throttleTimeMs: 0,
      transactionStates: request.transactionalIds.map((transactionalId) => {
        const described = coordinator.describe(transactionalId);
        if (described === undefined) {
          return { errorCode: ErrorCode.TRANSACTIONAL_ID_NOT_FOUND, transactionalId, transactionState: '', transactionTimeoutMs: 0, transactionStartTimeMs: -1n, producerId: -1n, producerEpoch: -1, topics: [] };
        }
        return {
          errorCode: ErrorCode.NONE,
          transactionalId,
          transactionState: described.state,
          transactionTimeoutMs: described.transactionTimeoutMs,
          transactionStartTimeMs: BigInt(described.transactionStartTimeMs),
          producerId: described.producerId,
          producerEpoch: described.producerEpoch,
          topics: described.topics.map(({ topic, partitions }) => ({ topic, partitions: [...partitions] })),
        };
      }),
    };
  },
});
