import { ApiKey, ErrorCode } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';

/** ListTransactions v0–1: the transactional ids by state, producer id and (v1) running time. */
export const listTransactionsHandler = defineHandler({
  apiKey: ApiKey.ListTransactions,
  minVersion: 0,
  maxVersion: 1,
  handle(request, context) {
    const { transactions, unknownStateFilters } = context.broker.transactionCoordinator.list({
      stateFilters: request.stateFilters,
      producerIdFilters: request.producerIdFilters,
      durationFilterMs: Number(request.durationFilter ?? -1n),
    });
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, unknownStateFilters, transactionStates: transactions };
  },
});
