import { ApiKey, ErrorCode, type AddPartitionsToTxnRequestAddPartitionsToTxnTopic, type AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult } from '@defter/protocol';
import { defineHandler, type RequestContext } from '../api/handler.js';
import { clientErrorCode } from '../txn/client-error-codes.js';
import type { TxnPartition } from '../txn/topic-partition-set.js';
import { transactionVersionForAddPartitionsToTxn } from '../txn/transaction-state.js';

interface TransactionPartitions {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly verifyOnly: boolean;
  readonly topics: readonly AddPartitionsToTxnRequestAddPartitionsToTxnTopic[];
}

/**
 * AddPartitionsToTxn v0–5. v0–3: one client's transaction. v4+: a batch of transactions, as
 * brokers send it to verify (KIP-890 part 1, `verifyOnly`) and transaction-version-2 clients to add.
 * Partitions that do not exist fail the request (UNKNOWN_TOPIC_OR_PARTITION for them,
 * OPERATION_NOT_ATTEMPTED for the others), as in Kafka.
 */
export const addPartitionsToTxnHandler = defineHandler({
  apiKey: ApiKey.AddPartitionsToTxn,
  minVersion: 0,
  maxVersion: 5,
  async handle(request, context) {
    const version = context.header.apiVersion;
    if (version <= 3) {
      const results = await addPartitions(
        {
          transactionalId: request.v3AndBelowTransactionalId ?? '',
          producerId: request.v3AndBelowProducerId ?? -1n,
          producerEpoch: request.v3AndBelowProducerEpoch ?? -1,
          verifyOnly: false,
          topics: request.v3AndBelowTopics ?? [],
        },
        context,
      );
      return { throttleTimeMs: 0, resultsByTopicV3AndBelow: results };
    }
    const resultsByTransaction = [];
    for (const transaction of request.transactions ?? []) {
      resultsByTransaction.push({ transactionalId: transaction.transactionalId, topicResults: await addPartitions(transaction, context) });
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, resultsByTransaction };
  },
});

async function addPartitions(transaction: TransactionPartitions, context: RequestContext): Promise<AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult[]> {
  const { metadata, transactionCoordinator } = context.broker;
  const version = context.header.apiVersion;
  const partitions: TxnPartition[] = transaction.topics.flatMap((topic) => topic.partitions.map((partition) => ({ topic: topic.name, partition })));
  const exists = ({ topic, partition }: TxnPartition): boolean => {
    const known = metadata.topic(topic);
    return known !== undefined && Number.isInteger(partition) && partition >= 0 && partition < known.partitions;
  };
  let codeOf: (partition: TxnPartition) => number;
  if (!partitions.every(exists)) {
    codeOf = (partition) => (exists(partition) ? ErrorCode.OPERATION_NOT_ATTEMPTED : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  } else if (transaction.verifyOnly) {
    codeOf = (partition) => transactionCoordinator.verifyPartition({ ...transaction, ...partition });
  } else {
    const errorCode = await transactionCoordinator.addPartitions({
      transactionalId: transaction.transactionalId,
      producerId: transaction.producerId,
      producerEpoch: transaction.producerEpoch,
      partitions,
      clientTransactionVersion: transactionVersionForAddPartitionsToTxn(version),
    });
    codeOf = () => errorCode;
  }
  return transaction.topics.map((topic) => ({
    name: topic.name,
    resultsByPartition: topic.partitions.map((partitionIndex) => ({
      partitionIndex,
      partitionErrorCode: clientErrorCode(codeOf({ topic: topic.name, partition: partitionIndex }), ApiKey.AddPartitionsToTxn, version),
    })),
  }));
}
