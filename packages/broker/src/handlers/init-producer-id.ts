import { ApiKey } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { clientErrorCode } from '../txn/client-error-codes.js';

/**
 * InitProducerId v0–5: a producer id for an idempotent producer, or the transactional id's id
 * with its epoch bumped (fencing older instances). v3+ carries the id and epoch the client
 * already holds (KIP-360), so that a producer recovers from an error without a new id.
 */
export const initProducerIdHandler = defineHandler({
  apiKey: ApiKey.InitProducerId,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, context) {
    const result = await context.broker.transactionCoordinator.initProducerId({
      transactionalId: request.transactionalId,
      transactionTimeoutMs: request.transactionTimeoutMs,
      producerId: request.producerId ?? -1n,
      producerEpoch: request.producerEpoch ?? -1,
    });
    return {
      throttleTimeMs: 0,
      errorCode: clientErrorCode(result.errorCode, ApiKey.InitProducerId, context.header.apiVersion),
      producerId: result.producerId,
      producerEpoch: result.producerEpoch,
    };
  },
});
