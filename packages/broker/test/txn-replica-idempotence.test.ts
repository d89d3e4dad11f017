/**
 * Idempotent produce through the wire (Produce v9, raw batches): a retried batch is answered with
 * its original offsets and stored once; sequence gaps, old epochs and malformed producer fields get
 * their Kafka error codes and write nothing; a transactional batch without a transactional id
 * fails the whole request; DescribeProducers shows what the partition keeps per producer.
 */
import test from 'ava';
import { ApiKey, ErrorCode } from '@defter/protocol';
import { brokerWithTopics, fetch, listOffset, makeBatch, valuesOf } from './replica-support.js';
import { producerBatch, produceAs } from './txn-replica-support.js';

const PID = 4000n;

test('a first idempotent batch at sequence 0 is accepted; its retries get the original offsets and are stored once', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'idem' }]);
  const first = producerBatch(['a', 'b', 'c'], { producerId: PID, producerEpoch: 0, baseSequence: 0 });
  t.like(await produceAs(client, null, 'idem', 0, first), { errorCode: ErrorCode.NONE, baseOffset: 0n, errorMessage: null });
  const second = producerBatch(['d', 'e'], { producerId: PID, producerEpoch: 0, baseSequence: 3 });
  t.like(await produceAs(client, null, 'idem', 0, second), { errorCode: ErrorCode.NONE, baseOffset: 3n });

  // The retry of the last batch, and of an older one of the last five: NONE, original offsets.
  t.like(await produceAs(client, null, 'idem', 0, second), { errorCode: ErrorCode.NONE, baseOffset: 3n, logStartOffset: 0n, errorMessage: null });
  t.like(await produceAs(client, null, 'idem', 0, first), { errorCode: ErrorCode.NONE, baseOffset: 0n, errorMessage: null });
  t.is((await listOffset(client, 'idem', 0, -1n)).offset, 5n, 'nothing was written twice');

  const fetched = await fetch(client, [{ topic: 'idem', partition: 0, offset: 0n }], { isolationLevel: 0 });
  t.deepEqual(valuesOf(fetched.responses[0]!.partitions[0]!.records), [
    [0n, 'a'],
    [1n, 'b'],
    [2n, 'c'],
    [3n, 'd'],
    [4n, 'e'],
  ]);
  // The producer carries on after its retries.
  t.like(await produceAs(client, null, 'idem', 0, producerBatch(['f'], { producerId: PID, producerEpoch: 0, baseSequence: 5 })), { errorCode: ErrorCode.NONE, baseOffset: 5n });
});

test('a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER with a message, and nothing is written', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'gap' }]);
  await produceAs(client, null, 'gap', 0, producerBatch(['a', 'b'], { producerId: PID, producerEpoch: 0, baseSequence: 0 }));
  const gap = await produceAs(client, null, 'gap', 0, producerBatch(['x'], { producerId: PID, producerEpoch: 0, baseSequence: 5 }));
  t.like(gap, { errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, baseOffset: -1n, logStartOffset: -1n });
  t.regex(gap.errorMessage ?? '', /out of order sequence/);
  t.is((await listOffset(client, 'gap', 0, -1n)).offset, 2n);
  // The next sequence is still 2.
  t.like(await produceAs(client, null, 'gap', 0, producerBatch(['c'], { producerId: PID, producerEpoch: 0, baseSequence: 2 })), { errorCode: ErrorCode.NONE, baseOffset: 2n });
});

test('an older epoch is INVALID_PRODUCER_EPOCH; a new epoch must start at sequence 0', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'epochs' }]);
  t.is((await produceAs(client, null, 'epochs', 0, producerBatch(['a'], { producerId: PID, producerEpoch: 3, baseSequence: 0 }))).errorCode, ErrorCode.NONE);
  const old = await produceAs(client, null, 'epochs', 0, producerBatch(['zombie'], { producerId: PID, producerEpoch: 2, baseSequence: 1 }));
  t.is(old.errorCode, ErrorCode.INVALID_PRODUCER_EPOCH);
  t.regex(old.errorMessage ?? '', /epoch 2/);
  t.is((await produceAs(client, null, 'epochs', 0, producerBatch(['b'], { producerId: PID, producerEpoch: 4, baseSequence: 7 }))).errorCode, ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  t.like(await produceAs(client, null, 'epochs', 0, producerBatch(['b'], { producerId: PID, producerEpoch: 4, baseSequence: 0 })), { errorCode: ErrorCode.NONE, baseOffset: 1n });
  t.is((await listOffset(client, 'epochs', 0, -1n)).offset, 2n);
});

test('hostile producer fields get INVALID_RECORD; a transactional batch without a transactional id fails the whole request', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'hostile', partitions: 2 }]);
  const negativeEpoch = await produceAs(client, null, 'hostile', 0, producerBatch(['a'], { producerId: PID, producerEpoch: -5, baseSequence: 0 }));
  t.like(negativeEpoch, { errorCode: ErrorCode.INVALID_RECORD, baseOffset: -1n });
  t.regex(negativeEpoch.errorMessage ?? '', /producer epoch -5/);
  t.is((await produceAs(client, null, 'hostile', 0, producerBatch(['a'], { producerId: PID, producerEpoch: 0, baseSequence: -1 }))).errorCode, ErrorCode.INVALID_RECORD);
  const noProducerId = producerBatch(['a'], { producerId: -1n, producerEpoch: -1, baseSequence: -1, transactional: true });
  t.is((await produceAs(client, 'tx', 'hostile', 0, noProducerId)).errorCode, ErrorCode.INVALID_RECORD);
  // Not idempotent (librdkafka's -1/-1/-1 and kafkajs's -1/0/0): accepted as plain batches.
  t.is((await produceAs(client, null, 'hostile', 0, producerBatch(['plain'], { producerId: -1n, producerEpoch: -1, baseSequence: -1 }))).errorCode, ErrorCode.NONE);
  t.is((await produceAs(client, null, 'hostile', 0, producerBatch(['plain'], { producerId: -1n, producerEpoch: 0, baseSequence: 0 }))).errorCode, ErrorCode.NONE);

  // Kafka refuses the whole request (every partition) when a transactional batch has no transactional id.
  const { body } = await client.request(ApiKey.Produce, 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5_000,
    topicData: [
      {
        name: 'hostile',
        partitionData: [
          { index: 0, records: makeBatch(['plain']) },
          { index: 1, records: producerBatch(['t'], { producerId: PID, producerEpoch: 0, baseSequence: 0, transactional: true }) },
        ],
      },
    ],
  });
  t.deepEqual(
    body.responses[0]!.partitionResponses.map((p) => [p.index, p.errorCode, p.baseOffset]),
    [
      [0, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1n],
      [1, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1n],
    ],
  );
  t.is((await listOffset(client, 'hostile', 0, -1n)).offset, 2n, 'only the two plain batches');
  t.is((await listOffset(client, 'hostile', 1, -1n)).offset, 0n);
});

test('DescribeProducers lists a partition’s producers; unknown topics and partitions are UNKNOWN_TOPIC_OR_PARTITION', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'described', partitions: 2 }]);
  await produceAs(client, null, 'described', 0, producerBatch(['a', 'b'], { producerId: PID, producerEpoch: 2, baseSequence: 0, timestampMs: 1_700_000_000_000n }));
  await produceAs(client, null, 'described', 0, producerBatch(['c', 'd', 'e'], { producerId: PID, producerEpoch: 2, baseSequence: 2, timestampMs: 1_700_000_000_100n }));
  await produceAs(client, null, 'described', 0, producerBatch(['x'], { producerId: PID + 1n, producerEpoch: 0, baseSequence: 0, timestampMs: 1_700_000_000_200n }));
  await produceAs(client, null, 'described', 0, makeBatch(['not idempotent']));

  const versions = await client.apiVersions();
  t.like(versions.apiKeys.find((api) => api.apiKey === ApiKey.DescribeProducers), { minVersion: 0, maxVersion: 0 });

  const { body } = await client.request(ApiKey.DescribeProducers, 0, {
    topics: [
      { name: 'described', partitionIndexes: [0, 1, 7] },
      { name: 'nope', partitionIndexes: [0] },
    ],
  });
  t.deepEqual(body.topics[0]!.partitions[0], {
    partitionIndex: 0,
    errorCode: ErrorCode.NONE,
    errorMessage: null,
    activeProducers: [
      { producerId: PID, producerEpoch: 2, lastSequence: 4, lastTimestamp: 1_700_000_000_102n, coordinatorEpoch: -1, currentTxnStartOffset: -1n },
      { producerId: PID + 1n, producerEpoch: 0, lastSequence: 0, lastTimestamp: 1_700_000_000_200n, coordinatorEpoch: -1, currentTxnStartOffset: -1n },
    ],
  });
  t.like(body.topics[0]!.partitions[1], { partitionIndex: 1, errorCode: ErrorCode.NONE, activeProducers: [] });
  t.like(body.topics[0]!.partitions[2], { partitionIndex: 7, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, activeProducers: [] });
  t.like(body.topics[1]!.partitions[0], { partitionIndex: 0, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, activeProducers: [] });
});
