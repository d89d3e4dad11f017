import test from 'ava';
import { CompressionType, compress, decompress } from '@defter/protocol';
import kafkajs, { type Producer } from 'kafkajs';
import { eventually } from './helpers/test-broker.js';
import { batchesOf, brokerWithTopics, fetch, valuesOf } from './replica-support.js';

// kafkajs is CommonJS: its named exports come through the default import.
const { CompressionCodecs, CompressionTypes, Kafka, logLevel } = kafkajs;
type CompressionTypes = kafkajs.CompressionTypes;

/** kafkajs ships gzip only: tiny adapters over @defter/protocol's codecs for the other three. */
function codec(type: CompressionType) {
  return () => ({
    compress: async (encoder: { buffer: Buffer }) => compress(type, encoder.buffer),
    decompress: async (buffer: Buffer) => decompress(type, buffer),
  });
}
CompressionCodecs[CompressionTypes.Snappy] = codec(CompressionType.Snappy);
CompressionCodecs[CompressionTypes.LZ4] = codec(CompressionType.Lz4);
CompressionCodecs[CompressionTypes.ZSTD] = codec(CompressionType.Zstd);

async function kafkajsFor(t: Parameters<typeof brokerWithTopics>[0], bootstrap: string) {
  const kafka = new Kafka({ clientId: 'replica-test', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2 } });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const admin = kafka.admin();
  await producer.connect();
  await admin.connect();
  t.teardown(async () => {
    await producer.disconnect();
    await admin.disconnect();
  });
  return { producer, admin };
}

async function send(producer: Producer, topic: string, acks: number, compression: CompressionTypes, values: string[]) {
  return producer.send({
    topic,
    acks,
    compression,
    messages: values.map((value, i) => ({ partition: 0, key: `key-${value}`, value, headers: { source: 'kafkajs', index: String(i) }, timestamp: String(1_700_000_000_000 + i) })),
  });
}

test('kafkajs produces with keys and headers, acks -1/1/0 and every codec; the batches come back as stored', async (t) => {
  const { client, bootstrap } = await brokerWithTopics(t, [{ name: 'events' }]);
  const { producer } = await kafkajsFor(t, bootstrap);
  const plan: Array<[number, CompressionTypes, string[]]> = [
    [-1, CompressionTypes.None, ['n1', 'n2']],
    [1, CompressionTypes.GZIP, ['g1', 'g2']],
    [-1, CompressionTypes.Snappy, ['s1']],
    [1, CompressionTypes.LZ4, ['l1', 'l2', 'l3']],
    [-1, CompressionTypes.ZSTD, ['z1']],
  ];
  let expectedOffset = 0n;
  for (const [acks, compression, values] of plan) {
    const [metadata] = await send(producer, 'events', acks, compression, values);
    t.is(metadata!.errorCode, 0);
    t.is(metadata!.baseOffset, String(expectedOffset), `${CompressionTypes[compression]} acks=${acks}`);
    expectedOffset += BigInt(values.length);
  }
  await send(producer, 'events', 0, CompressionTypes.GZIP, ['zero1', 'zero2']);
  const all = plan.flatMap(([, , values]) => values).concat(['zero1', 'zero2']);
  t.true(await eventually(async () => (await fetch(client, [{ topic: 'events', partition: 0, offset: 0n }])).responses[0]!.partitions[0]!.highWatermark === BigInt(all.length)));

  const records = (await fetch(client, [{ topic: 'events', partition: 0, offset: 0n }])).responses[0]!.partitions[0]!.records;
  t.deepEqual(valuesOf(records), all.map((value, i): [bigint, string] => [BigInt(i), value]));
  const batches = batchesOf(records);
  t.deepEqual(batches.map((batch) => batch.attributes & 0x07), [0, 1, 2, 3, 4, 1]);
  const lz4 = batches[3]!;
  t.deepEqual(lz4.records.map((record) => [record.key!.toString(), record.headers.map((h) => `${h.key}=${h.value!.toString()}`).join(',')]), [
    ['key-l1', 'source=kafkajs,index=0'],
    ['key-l2', 'source=kafkajs,index=1'],
    ['key-l3', 'source=kafkajs,index=2'],
  ]);
  t.is(lz4.baseTimestamp, 1_700_000_000_000n);
});

test('kafkajs admin: offsets, offsets by timestamp, and deleteTopicRecords', async (t) => {
  const { bootstrap } = await brokerWithTopics(t, [{ name: 'timeline', partitions: 2 }]);
  const { producer, admin } = await kafkajsFor(t, bootstrap);
  for (const [i, timestamp] of [1_000, 2_000, 3_000].entries()) {
    await producer.send({ topic: 'timeline', acks: -1, messages: [{ partition: 0, value: `v${i}`, timestamp: String(timestamp) }] });
  }
  t.deepEqual(
    (await admin.fetchTopicOffsets('timeline')).sort((a, b) => a.partition - b.partition).map(({ partition, low, high }) => [partition, low, high]),
    [
      [0, '0', '3'],
      [1, '0', '0'],
    ],
  );
  const byTimestamp = async (timestamp: number) =>
    (await admin.fetchTopicOffsetsByTimestamp('timeline', timestamp)).sort((a, b) => a.partition - b.partition).map(({ partition, offset }) => [partition, offset]);
  t.deepEqual(await byTimestamp(1_500), [
    [0, '1'],
    [1, '0'],
  ]);
  t.deepEqual(await byTimestamp(3_000), [
    [0, '2'],
    [1, '0'],
  ]);
  // After every record, kafkajs answers with the high watermark.
  t.deepEqual((await byTimestamp(9_000))[0], [0, '3']);

  await admin.deleteTopicRecords({ topic: 'timeline', partitions: [{ partition: 0, offset: '2' }] });
  const [p0] = (await admin.fetchTopicOffsets('timeline')).sort((a, b) => a.partition - b.partition);
  t.deepEqual([p0!.low, p0!.high], ['2', '3']);
});
