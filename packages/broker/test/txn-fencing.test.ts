/**
 * Zombie fencing with kafkajs: a second producer with the same transactional id initialises while
 * the first has a transaction open. The coordinator aborts the open transaction and bumps the
 * epoch; the first producer's sends (to a partition of its transaction and to a new one) and its
 * commit are refused with the epoch error kafkajs's request versions get from Kafka, and nothing
 * of its transaction ever becomes visible to read_committed. The new producer works normally.
 */
import test from 'ava';
import type { Producer } from 'kafkajs';
import { startTestBroker } from './helpers/test-broker.js';
import { readUntilSentinels, sendSentinels, transactionalProducer, txnKafka, valuesByPartition } from './helpers/txn-clients.js';

/**
 * kafkajs 2.2.4 speaks Produce v7, AddPartitionsToTxn v1 and EndTxn v1: Kafka answers a fenced
 * producer INVALID_PRODUCER_EPOCH (47) at those versions (PRODUCER_FENCED, 90, is for newer ones).
 */
const FENCED = 'INVALID_PRODUCER_EPOCH';

/** The kafkajs error type a rejected promise carries (its protocol error, or its cause's). */
async function rejectionType(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    let cause: unknown = error;
    while (cause !== undefined && cause !== null) {
      // kafkajs's protocol errors (KafkaJSProtocolError) carry the Kafka error name as `type`.
      const { name, type } = cause as { name?: string; type?: string };
      if (name === 'KafkaJSProtocolError' && type !== undefined) return type;
      cause = (cause as { cause?: unknown }).cause;
    }
    return `not a protocol error: ${String(error)}`;
  }
  return 'resolved';
}

test('kafkajs zombie: the second init fences the first; its sends and its commit fail and its records never show', async (t) => {
  const { broker, bootstrap } = await startTestBroker(t, { groupInitialRebalanceDelayMs: 0, offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 });
  await broker.context.metadata.createTopic('fenced', 2, {});
  const kafka = txnKafka(bootstrap);

  const zombie: Producer = await transactionalProducer(t, kafka, 'shared-id');
  const zombieTransaction = await zombie.transaction();
  await zombieTransaction.send({ topic: 'fenced', messages: [{ value: 'zombie-1', partition: 0 }] });
  const zombieState = broker.context.transactionCoordinator.describe('shared-id')!;
  t.like(zombieState, { state: 'Ongoing', topics: [{ topic: 'fenced', partitions: [0] }] });

  const successor = await transactionalProducer(t, kafka, 'shared-id');
  // kafkajs sends the transactional InitProducerId when the first transaction begins. It fences
  // the zombie: its transaction is aborted (markers at a higher epoch), then the epoch is bumped again.
  const live = await successor.transaction();
  const described = broker.context.transactionCoordinator.describe('shared-id');
  t.like(described, { state: 'Empty', producerId: zombieState.producerId, topics: [] });
  t.true(described!.producerEpoch > zombieState.producerEpoch, `epoch ${zombieState.producerEpoch} → ${described!.producerEpoch}`);

  const sendToAddedType = await rejectionType(zombieTransaction.send({ topic: 'fenced', messages: [{ value: 'zombie-2', partition: 0 }] }));
  t.is(sendToAddedType, FENCED, 'a send to a partition of its transaction');
  const sendToNewType = await rejectionType(zombieTransaction.send({ topic: 'fenced', messages: [{ value: 'zombie-3', partition: 1 }] }));
  t.is(sendToNewType, FENCED, 'a send to a new partition (AddPartitionsToTxn)');
  const commitType = await rejectionType(zombieTransaction.commit());
  t.is(commitType, FENCED, 'the commit (EndTxn)');

  await live.send({ topic: 'fenced', messages: [{ value: 'successor-0', partition: 0 }, { value: 'successor-1', partition: 1 }] });
  await live.commit();
  await sendSentinels(kafka, ['fenced'], 2);
  const committed = await readUntilSentinels(t, kafka, { groupId: 'fenced-committed', topics: ['fenced'], partitions: 2, isolation: 'read_committed' });
  t.deepEqual(valuesByPartition(committed), { 'fenced/0': ['successor-0'], 'fenced/1': ['successor-1'] }, 'only the successor’s transaction is visible');
  const everything = await readUntilSentinels(t, kafka, { groupId: 'fenced-uncommitted', topics: ['fenced'], partitions: 2, isolation: 'read_uncommitted' });
  t.deepEqual(valuesByPartition(everything), { 'fenced/0': ['zombie-1', 'successor-0'], 'fenced/1': ['successor-1'] }, 'the zombie wrote only before it was fenced');
});
