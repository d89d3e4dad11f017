import { ApiKey, ErrorCode, encodeRecordBatch, type ProduceResponsePartitionProduceResponse } from '@defter/protocol';
import type { PartitionInTransaction, TransactionVerifier } from '../src/txn/transaction-verifier.js';
import type { RawClient } from './helpers/raw-client.js';

/** A batch from a producer: `values` as records (keys `k<i>`), at `baseSequence`, transactional or not. */
export function producerBatch(
  values: readonly string[],
  producer: { producerId: bigint; producerEpoch: number; baseSequence: number; transactional?: boolean; timestampMs?: bigint },
): Buffer {
  const timestampMs = producer.timestampMs ?? 1_700_000_000_000n;
  return encodeRecordBatch({
    producerId: producer.producerId,
    producerEpoch: producer.producerEpoch,
    baseSequence: producer.baseSequence,
    transactional: producer.transactional ?? false,
    records: values.map((value, i) => ({ timestamp: timestampMs + BigInt(i), key: Buffer.from(`k${i}`), value: Buffer.from(value) })),
  });
}

/** Produces one batch (a copy: the broker patches what it appends) with a transactional id; returns the partition's response. */
export async function produceAs(
  client: RawClient,
  transactionalId: string | null,
  topic: string,
  partition: number,
  records: Buffer,
  version = 9,
): Promise<ProduceResponsePartitionProduceResponse> {
  const { body } = await client.request(ApiKey.Produce, version, {
    transactionalId,
    acks: -1,
    timeoutMs: 5_000,
    topicData: [{ name: topic, partitionData: [{ index: partition, records: Buffer.from(records) }] }],
  });
  return body.responses[0]!.partitionResponses[0]!;
}

/**
 * A transaction coordinator reduced to its answer: the partitions added to each transactional
 * id's transaction (at one producer id and epoch); anything else gets `refusalCode`. Every
 * question asked is kept, so tests see when verification was (not) needed.
 */
export class SetVerifier implements TransactionVerifier {
  readonly asked: PartitionInTransaction[] = [];
  private readonly added = new Set<string>();

  constructor(public refusalCode: number = ErrorCode.INVALID_TXN_STATE) {}

  add(transactionalId: string, producerId: bigint, producerEpoch: number, topic: string, partition: number): void {
    this.added.add(keyOf({ transactionalId, producerId, producerEpoch, topic, partition }));
  }

  /** The transaction ended: its partitions are no longer in it. */
  clear(): void {
    this.added.clear();
  }

  verifyPartition(request: PartitionInTransaction): number {
    this.asked.push(request);
    return this.added.has(keyOf(request)) ? ErrorCode.NONE : this.refusalCode;
  }
}

function keyOf(request: PartitionInTransaction): string {
  return `${request.transactionalId}|${request.producerId}|${request.producerEpoch}|${request.topic}|${request.partition}`;
}
