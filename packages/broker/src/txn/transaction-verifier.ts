/**
 * The transaction coordinator's answer to "is this partition part of this producer's current
 * transaction?" (KIP-890 part 1). The replica manager asks it before the first transactional
 * batch of a producer on a partition, and TxnOffsetCommit before writing offsets, so that a
 * record or offset sent outside (or after) its transaction is refused instead of hanging the
 * partition's last stable offset.
 */
export interface PartitionInTransaction {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly topic: string;
  readonly partition: number;
}

export interface TransactionVerifier {
  /** ErrorCode.NONE when the partition is in the id's ongoing transaction at that producer id and epoch; else the code to refuse with. */
  verifyPartition(request: PartitionInTransaction): number;
}
