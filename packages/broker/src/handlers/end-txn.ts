import { ApiKey, ErrorCode } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { clientErrorCode } from '../txn/client-error-codes.js';
import { transactionVersionForEndTxn } from '../txn/transaction-state.js';

/**
 * EndTxn v0–5: commit or abort. v5 comes from a transaction-version-2 client (KIP-890 part 2):
 * the end bumps the epoch, and the response carries the producer id and epoch to go on with.
 */
export const endTxnHandler = defineHandler({
  apiKey: ApiKey.EndTxn,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, context) {
    const version = context.header.apiVersion;
    const result = await context.broker.transactionCoordinator.endTransaction({
      transactionalId: request.transactionalId,
      producerId: request.producerId,
      producerEpoch: request.producerEpoch,
      commit: request.committed,
      clientTransactionVersion: transactionVersionForEndTxn(version),
    });
    const answered = result.errorCode === ErrorCode.NONE;
    return {
      throttleTimeMs: 0,
      errorCode: clientErrorCode(result.errorCode, ApiKey.EndTxn, version),
      producerId: answered ? result.producerId : -1n,
      producerEpoch: answered ? result.producerEpoch : -1,
    };
  },
});
