/**
 * The brokers of the benchmark: the settings every row's broker shares, and the preparation done
 * before any timing — topics created, the input written, the internal topics made to exist — so
 * that no row pays for work another row skips.
 */
import { ApiKey, ErrorCode } from '@defter/protocol';
import type { RunningBroker, StartBrokerOptions } from '@defter/broker';
import { writeOrders } from './workload.js';

/**
 * Shared by the in-process broker (embedded row) and the broker process (network rows). The group
 * join is not delayed (Kafka's 3 s group.initial.rebalance.delay.ms would dominate short rows).
 */
export const BENCH_BROKER_SETTINGS = {
  groupInitialRebalanceDelayMs: 0,
  logLevel: 'warn',
} as const satisfies Omit<StartBrokerOptions, 'dataDir'>;

export const INPUT_TOPIC = 'orders';
export const TOPIC_PARTITIONS = 4;

export interface PreparedInput {
  /** The log end offset of each input partition: what every row's committed offsets must reach. */
  readonly inputEndOffsets: readonly bigint[];
}

/**
 * Creates the input and output topics, writes `records` orders into the input, and creates
 * `__consumer_offsets` and `__transaction_state` (a broker creates them on first use, which would
 * otherwise land in the first timed row).
 */
export async function prepareBroker(broker: RunningBroker, outputTopics: readonly string[], records: number): Promise<PreparedInput> {
  for (const topic of [INPUT_TOPIC, ...outputTopics]) await broker.context.metadata.createTopic(topic, TOPIC_PARTITIONS, {});
  const written = await writeOrders(broker, INPUT_TOPIC, TOPIC_PARTITIONS, records);
  await broker.context.offsetStore.ensureTopic();
  const initialised = await broker.client('bench-warm-up').send(ApiKey.InitProducerId, 4, {
    transactionalId: 'bench-warm-up',
    transactionTimeoutMs: 60_000,
    producerId: -1n,
    producerEpoch: -1,
  });
  if (initialised.errorCode !== ErrorCode.NONE) throw new Error(`creating the transaction state topic failed with error code ${initialised.errorCode}`);
  return { inputEndOffsets: written.map(BigInt) };
}
