import test from 'ava';
import { ApiKey, ErrorCode } from '@defter/protocol';
import type { RawClient } from './helpers/raw-client.js';
import { brokerWithTopics, fetch, listOffset, makeBatch, produce, valuesOf } from './replica-support.js';

async function deleteRecords(client: RawClient, topic: string, partition: number, offset: bigint, version = 2) {
  const { body } = await client.request(ApiKey.DeleteRecords, version, { topics: [{ name: topic, partitions: [{ partitionIndex: partition, offset }] }], timeoutMs: 1000 });
  return body.topics[0]!.partitions[0]!;
}

test('DeleteRecords moves the log start offset; fetches below it are out of range', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'd' }]);
  for (const value of ['a', 'b', 'c']) await produce(client, 'd', 0, makeBatch([value + '0', value + '1']));
  t.like(await deleteRecords(client, 'd', 0, 3n), { errorCode: 0, lowWatermark: 3n });
  t.like(await listOffset(client, 'd', 0, -2n), { offset: 3n });
  t.is((await fetch(client, [{ topic: 'd', partition: 0, offset: 0n }])).responses[0]!.partitions[0]!.errorCode, ErrorCode.OFFSET_OUT_OF_RANGE);
  const fromStart = (await fetch(client, [{ topic: 'd', partition: 0, offset: 3n }])).responses[0]!.partitions[0]!;
  t.is(fromStart.logStartOffset, 3n);
  // The batch holding offset 3 starts at 2: it is returned whole, the consumer skips offset 2.
  t.deepEqual(valuesOf(fromStart.records).map(([offset]) => offset), [2n, 3n, 4n, 5n]);
  t.like(await produce(client, 'd', 0, makeBatch(['z'])), { baseOffset: 6n, logStartOffset: 3n });
  // Lower than the current start changes nothing.
  t.like(await deleteRecords(client, 'd', 0, 1n, 0), { errorCode: 0, lowWatermark: 3n });
});

test('-1 deletes up to the high watermark; beyond it is OFFSET_OUT_OF_RANGE; unknown partitions', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'd' }]);
  await produce(client, 'd', 0, makeBatch(['a', 'b']));
  t.like(await deleteRecords(client, 'd', 0, 3n, 1), { errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, lowWatermark: -1n });
  t.like(await deleteRecords(client, 'd', 0, -1n), { errorCode: 0, lowWatermark: 2n });
  t.like(await listOffset(client, 'd', 0, -2n), { offset: 2n });
  t.like(await listOffset(client, 'd', 0, -1n), { offset: 2n });
  t.is((await deleteRecords(client, 'other', 0, 0n)).errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
});
