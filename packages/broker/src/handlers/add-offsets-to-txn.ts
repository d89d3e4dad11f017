import { ApiKey, ErrorCode } from '@defter/protocol';
import { defineHandler } from '../api/handler.js';
import { clientErrorCode } from '../txn/client-error-codes.js';

/** AddOffsetsToTxn v0–4: the group's `__consumer_offsets` partition joins the transaction, so that TxnOffsetCommit may write there. */
export const addOffsetsToTxnHandler = defineHandler({
  apiKey: ApiKey.AddOffsetsToTxn,
  minVersion: 0,
  maxVersion: 4,
  async handle(request, context) {
    const errorCode =
      request.groupId === ''
        ? ErrorCode.INVALID_GROUP_ID
        : await context.broker.transactionCoordinator.addOffsets({
            transactionalId: request.transactionalId,
            producerId: request.producerId,
            producerEpoch: request.producerEpoch,
            groupId: request.groupId,
            clientTransactionVersion: 0,
          });
    return { throttleTimeMs: 0, errorCode: clientErrorCode(errorCode, ApiKey.AddOffsetsToTxn, context.header.apiVersion) };
  },
});
