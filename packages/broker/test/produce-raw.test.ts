import { crc32 } from 'node:zlib';
import test from 'ava';
import { ApiKey, CompressionType, ErrorCode, decodeResponse } from '@defter/protocol';
import { batchesOf, brokerWithTopics, fetch, listOffset, makeBatch, produce, valuesOf } from './replica-support.js';

test('produce assigns dense offsets and a fetch returns the stored batches with keys, headers and offsets', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'orders' }]);
  const first = await produce(client, 'orders', 0, makeBatch(['a', 'b']));
  t.like(first, { index: 0, errorCode: ErrorCode.NONE, baseOffset: 0n, logAppendTimeMs: -1n, logStartOffset: 0n });
  const second = await produce(client, 'orders', 0, makeBatch(['c', 'd', 'e']), { acks: 1 });
  t.like(second, { errorCode: ErrorCode.NONE, baseOffset: 2n });

  const committed = await fetch(client, [{ topic: 'orders', partition: 0, offset: 0n }], { isolationLevel: 1 });
  const partition = committed.responses[0]!.partitions[0]!;
  t.like(partition, { errorCode: 0, highWatermark: 5n, lastStableOffset: 5n, logStartOffset: 0n, preferredReadReplica: -1 });
  t.deepEqual(partition.abortedTransactions, []);
  t.deepEqual(valuesOf(partition.records), [
    [0n, 'a'],
    [1n, 'b'],
    [2n, 'c'],
    [3n, 'd'],
    [4n, 'e'],
  ]);
  const batch = batchesOf(partition.records)[0]!;
  t.is(batch.records[1]!.key!.toString(), 'k1');
  t.deepEqual(batch.records[1]!.headers.map((h) => [h.key, h.value!.toString()]), [['h', 'hv1']]);

  const uncommitted = await fetch(client, [{ topic: 'orders', partition: 0, offset: 0n }], { isolationLevel: 0 });
  t.is(uncommitted.responses[0]!.partitions[0]!.abortedTransactions, null);
});

test('a corrupted batch is CORRUPT_MESSAGE and nothing is appended', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 't' }]);
  await produce(client, 't', 0, makeBatch(['ok']));
  const corrupted = makeBatch(['will be flipped']);
  corrupted[corrupted.length - 3] ^= 0x01;
  const response = await produce(client, 't', 0, corrupted);
  t.like(response, { errorCode: ErrorCode.CORRUPT_MESSAGE, baseOffset: -1n, logStartOffset: -1n });
  t.is((await listOffset(client, 't', 0, -1n)).offset, 1n);
  t.deepEqual(valuesOf((await fetch(client, [{ topic: 't', partition: 0, offset: 0n }])).responses[0]!.partitions[0]!.records), [[0n, 'ok']]);
});

test('a batch above the topic max.message.bytes is MESSAGE_TOO_LARGE', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'small', configs: { 'max.message.bytes': '200' } }]);
  const response = await produce(client, 'small', 0, makeBatch(['x'.repeat(300)]));
  t.is(response.errorCode, ErrorCode.MESSAGE_TOO_LARGE);
  t.is((await produce(client, 'small', 0, makeBatch(['x']))).errorCode, ErrorCode.NONE);
  t.is((await listOffset(client, 'small', 0, -1n)).offset, 1n);
});

test('zstd is refused before Produce v7 and accepted from it; other codecs at v3', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'z' }]);
  t.is((await produce(client, 'z', 0, makeBatch(['a'], { compression: CompressionType.Zstd }), { version: 3 })).errorCode, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
  t.is((await produce(client, 'z', 0, makeBatch(['a'], { compression: CompressionType.Zstd }), { version: 7 })).baseOffset, 0n);
  t.is((await produce(client, 'z', 0, makeBatch(['b'], { compression: CompressionType.Gzip }), { version: 3 })).baseOffset, 1n);
  t.is((await produce(client, 'z', 0, makeBatch(['c'], { compression: CompressionType.Lz4 }), { version: 9 })).baseOffset, 2n);
  t.is((await produce(client, 'z', 0, makeBatch(['d'], { compression: CompressionType.Snappy }), { version: 11 })).baseOffset, 3n);
  const fetched = await fetch(client, [{ topic: 'z', partition: 0, offset: 0n }], { version: 12 });
  t.deepEqual(valuesOf(fetched.responses[0]!.partitions[0]!.records), [
    [0n, 'a'],
    [1n, 'b'],
    [2n, 'c'],
    [3n, 'd'],
  ]);
});

test('unknown topics and partitions, bad acks, two batches and no batch are refused per partition', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'known', partitions: 2 }]);
  t.is((await produce(client, 'missing', 0, makeBatch(['a']))).errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  t.is((await produce(client, 'known', 2, makeBatch(['a']))).errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  t.is((await produce(client, 'known', 0, makeBatch(['a']), { acks: 2 })).errorCode, ErrorCode.INVALID_REQUIRED_ACKS);
  t.is((await produce(client, 'known', 0, Buffer.concat([makeBatch(['a']), makeBatch(['b'])]))).errorCode, ErrorCode.INVALID_RECORD);
  t.is((await produce(client, 'known', 0, null)).errorCode, ErrorCode.INVALID_RECORD);
  // Partition 1 still works in the same request as a failing partition 0.
  const { body } = await client.request(ApiKey.Produce, 8, {
    transactionalId: null,
    acks: 1,
    timeoutMs: 1000,
    topicData: [{ name: 'known', partitionData: [{ index: 0, records: Buffer.from([1, 2, 3]) }, { index: 1, records: makeBatch(['p1']) }] }],
  });
  t.deepEqual(
    body.responses[0]!.partitionResponses.map((p) => [p.index, p.errorCode, p.baseOffset]),
    [
      [0, ErrorCode.CORRUPT_MESSAGE, -1n],
      [1, ErrorCode.NONE, 0n],
    ],
  );
  t.is((await listOffset(client, 'known', 0, -1n)).offset, 0n);
});

test('acks=0 gets no response, and the next response on the connection is the next request\'s', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'fire' }]);
  const silent = client.frame(ApiKey.Produce, 7, {
    transactionalId: null,
    acks: 0,
    timeoutMs: 1000,
    topicData: [{ name: 'fire', partitionData: [{ index: 0, records: makeBatch(['x', 'y']) }] }],
  }, 41);
  const next = client.frame(ApiKey.ListOffsets, 1, { replicaId: -1, topics: [{ name: 'fire', partitions: [{ partitionIndex: 0, timestamp: -1n }] }] }, 42);
  await client.write(Buffer.concat([silent, next]));
  const response = decodeResponse(await client.nextFrame(), ApiKey.ListOffsets, 1);
  t.is(response.header.correlationId, 42);
  t.is(response.body.topics[0]!.partitions[0]!.offset, 2n, 'the acks=0 append happened before the next request ran');
  t.is(client.pendingFrames, 0);
});

test('LogAppendTime topics stamp the broker time and report it', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'stamped', configs: { 'message.timestamp.type': 'LogAppendTime' } }]);
  const before = BigInt(Date.now());
  const response = await produce(client, 'stamped', 0, makeBatch(['a'], { timestampMs: 5n }));
  const after = BigInt(Date.now());
  t.is(response.errorCode, ErrorCode.NONE);
  const stampedMs = response.logAppendTimeMs ?? -1n;
  t.true(stampedMs >= before && stampedMs <= after, `${stampedMs} in [${before}, ${after}]`);
  const batch = batchesOf((await fetch(client, [{ topic: 'stamped', partition: 0, offset: 0n }])).responses[0]!.partitions[0]!.records)[0]!;
  t.is(batch.maxTimestamp, stampedMs);
});

/** A magic-1 message by hand (offset, size, crc32, magic, attributes, timestamp, key, value). */
function legacyMessage(timestamp: bigint, value: string): Buffer {
  const valueBytes = Buffer.from(value);
  const body = Buffer.alloc(1 + 1 + 8 + 4 + 4 + valueBytes.length);
  let at = body.writeInt8(1, 0);
  at = body.writeInt8(0, at);
  at = body.writeBigInt64BE(timestamp, at);
  at = body.writeInt32BE(-1, at);
  at = body.writeInt32BE(valueBytes.length, at);
  valueBytes.copy(body, at);
  const head = Buffer.alloc(16);
  head.writeInt32BE(4 + body.length, 8);
  head.writeUInt32BE(crc32(body) >>> 0, 12);
  return Buffer.concat([head, body]);
}

test('Produce v2 with a legacy message set is stored as a v2 batch that consumers read', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'old' }]);
  const response = await produce(client, 'old', 0, Buffer.concat([legacyMessage(10n, 'one'), legacyMessage(11n, 'two')]), { version: 2 });
  t.like(response, { errorCode: ErrorCode.NONE, baseOffset: 0n });
  const batch = batchesOf((await fetch(client, [{ topic: 'old', partition: 0, offset: 0n }])).responses[0]!.partitions[0]!.records);
  t.is(batch.length, 1);
  t.deepEqual(valuesOf((await fetch(client, [{ topic: 'old', partition: 0, offset: 0n }])).responses[0]!.partitions[0]!.records), [
    [0n, 'one'],
    [1n, 'two'],
  ]);
  t.is(batch[0]!.maxTimestamp, 11n);
});

test('clients may not produce to internal topics', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: '__internal_state' }]);
  t.is((await produce(client, '__internal_state', 0, makeBatch(['a']))).errorCode, ErrorCode.INVALID_TOPIC_EXCEPTION);
  t.is((await listOffset(client, '__internal_state', 0, -1n)).offset, 0n);
});
