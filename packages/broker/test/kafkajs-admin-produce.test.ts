/**
 * kafkajs 2.2.4 against the broker: admin create/list/delete, produce with keys and headers under
 * every acks setting and every compression codec, read back by an independent client (kcat), fetch
 * by offset and by timestamp, and a long poll woken by new data. (kafkajs's consumer needs the
 * group APIs, which this broker does not serve yet: records are read with kcat or a raw Fetch.)
 */
import test, { type ExecutionContext } from 'ava';
import kafkajs, { CompressionTypes, Kafka, logLevel, type Producer } from 'kafkajs';
import { ApiKey, CompressionType, compress, decodeRecordBatches, decompress, ErrorCode } from '@defter/protocol';
import { hasCommand, kcatArgs, runProcess } from './helpers/processes.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestBroker, type TestBroker } from './helpers/test-broker.js';

const kcatTest = hasCommand('kcat') ? test : test.skip;

// kafkajs ships gzip only; the other codecs are plug-ins. The batch framing stays kafkajs's own.
// (`CompressionCodecs` is not visible as a named ESM export of the CommonJS module.)
const { CompressionCodecs } = kafkajs;
for (const [kafkajsType, ours] of [
  [CompressionTypes.Snappy, CompressionType.Snappy],
  [CompressionTypes.LZ4, CompressionType.Lz4],
  [CompressionTypes.ZSTD, CompressionType.Zstd],
] as const) {
  CompressionCodecs[kafkajsType] = () => ({
    compress: async (encoder: { buffer: Buffer }) => compress(ours, encoder.buffer),
    decompress: async (buffer: Buffer) => decompress(ours, buffer),
  });
}

function kafkaFor(broker: TestBroker): Kafka {
  return new Kafka({ clientId: 'kafkajs-test', brokers: [broker.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2 } });
}

async function producerFor(t: ExecutionContext, broker: TestBroker): Promise<Producer> {
  const producer = kafkaFor(broker).producer({ allowAutoTopicCreation: false });
  await producer.connect();
  t.teardown(() => producer.disconnect());
  return producer;
}

/** kcat's view of a partition: `key|value|headers|offset|timestamp` per record. */
async function readWithKcat(t: ExecutionContext, broker: TestBroker, topic: string, partition: number, from = 'beginning'): Promise<string[]> {
  const result = await runProcess(t, 'kcat', kcatArgs(broker.bootstrap, '-C', '-e', '-t', topic, '-p', String(partition), '-o', from, '-f', '%k|%s|%h|%o|%T\\n'), {
    timeoutMs: 30_000,
  });
  t.is(result.code, 0, result.stderr);
  return result.stdout.split('\n').filter((line) => line !== '');
}

test('admin creates, lists, describes and deletes topics', async (t) => {
  const broker = await startTestBroker(t);
  const admin = kafkaFor(broker).admin();
  await admin.connect();
  t.teardown(() => admin.disconnect());
  t.true(await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }, { topic: 'audit' }], waitForLeaders: true }));
  t.false(await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }] }), 'an existing topic is not created again');
  t.deepEqual((await admin.listTopics()).sort(), ['audit', 'orders']);
  const { topics } = await admin.fetchTopicMetadata({ topics: ['orders'] });
  t.deepEqual(
    topics[0]!.partitions.map((p) => [p.partitionId, p.leader]).sort(),
    [
      [0, 1],
      [1, 1],
      [2, 1],
    ],
  );
  await admin.deleteTopics({ topics: ['audit'] });
  t.deepEqual(await admin.listTopics(), ['orders']);
});

kcatTest('keys and headers survive produce under acks 0, 1 and -1', async (t) => {
  const broker = await startTestBroker(t);
  await broker.broker.context.metadata.createTopic('acks', 1, {});
  const producer = await producerFor(t, broker);
  for (const acks of [0, 1, -1]) {
    await producer.send({
      topic: 'acks',
      acks,
      messages: Array.from({ length: 5 }, (_, i) => ({ key: `k${acks}`, value: `acks${acks}-${i}`, partition: 0, headers: { source: `acks${acks}`, n: `${i}` } })),
    });
  }
  // acks=0 has no answer; a later acknowledged send on the same connection follows it in order.
  const lines = await readWithKcat(t, broker, 'acks', 0);
  t.deepEqual(
    lines.map((line) => line.split('|').slice(0, 4).join('|')),
    [0, 1, -1].flatMap((acks) => Array.from({ length: 5 }, (_, i) => `k${acks}|acks${acks}-${i}|source=acks${acks},n=${i}`)).map((line, offset) => `${line}|${offset}`),
  );
});

kcatTest('gzip, snappy, lz4 and zstd batches from kafkajs are stored and read back', async (t) => {
  const broker = await startTestBroker(t);
  await broker.broker.context.metadata.createTopic('codecs', 1, {});
  const producer = await producerFor(t, broker);
  const codecs = [CompressionTypes.None, CompressionTypes.GZIP, CompressionTypes.Snappy, CompressionTypes.LZ4, CompressionTypes.ZSTD];
  for (const compression of codecs) {
    await producer.send({
      topic: 'codecs',
      acks: -1,
      compression,
      messages: Array.from({ length: 20 }, (_, i) => ({ key: `c${compression}`, value: `codec-${compression}-${i}-${'z'.repeat(200)}`, partition: 0 })),
    });
  }
  const lines = await readWithKcat(t, broker, 'codecs', 0);
  t.is(lines.length, codecs.length * 20);
  t.deepEqual(
    lines.map((line) => line.split('|').slice(0, 2).join('|')),
    codecs.flatMap((compression) => Array.from({ length: 20 }, (_, i) => `c${compression}|codec-${compression}-${i}-${'z'.repeat(200)}`)),
  );
  // The batches are stored as sent: each carries the codec kafkajs chose.
  const client = await RawClient.connect(broker.port);
  t.teardown(() => client.close());
  const fetched = await client.request(ApiKey.Fetch, 11, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 10_000_000,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topic: 'codecs', partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 10_000_000 }] }],
    forgottenTopicsData: [],
    rackId: '',
  });
  const records = fetched.body.responses[0]!.partitions[0]!.records!;
  const batches = decodeRecordBatches(records);
  t.deepEqual(
    batches.map((batch) => batch.attributes & 0x7),
    [CompressionType.None, CompressionType.Gzip, CompressionType.Snappy, CompressionType.Lz4, CompressionType.Zstd],
  );
});

kcatTest('records are found by offset and by timestamp', async (t) => {
  const broker = await startTestBroker(t);
  await broker.broker.context.metadata.createTopic('timeline', 1, {});
  const producer = await producerFor(t, broker);
  const baseTimestampMs = 1_700_000_000_000;
  await producer.send({
    topic: 'timeline',
    acks: -1,
    messages: Array.from({ length: 10 }, (_, i) => ({ value: `t${i}`, partition: 0, timestamp: String(baseTimestampMs + i * 1000) })),
  });
  const fromOffset = await readWithKcat(t, broker, 'timeline', 0, '6');
  t.deepEqual(
    fromOffset.map((line) => line.split('|')[1]),
    ['t6', 't7', 't8', 't9'],
  );
  // `s@TS`: ListOffsets by timestamp, the first record at or after TS.
  const fromTimestamp = await readWithKcat(t, broker, 'timeline', 0, `s@${baseTimestampMs + 7500}`);
  t.deepEqual(
    fromTimestamp.map((line) => line.split('|')[1]),
    ['t8', 't9'],
  );
  t.is(fromTimestamp[0]!.split('|')[4], String(baseTimestampMs + 8000), 'timestamps are kept');
});

test('a long-poll fetch wakes up when kafkajs produces', async (t) => {
  const broker = await startTestBroker(t);
  await broker.broker.context.metadata.createTopic('wake', 1, {});
  const client = await RawClient.connect(broker.port);
  t.teardown(() => client.close());
  const producer = await producerFor(t, broker);
  const maxWaitMs = 10_000;
  const started = Date.now();
  const fetching = client.request(
    ApiKey.Fetch,
    11,
    {
      replicaId: -1,
      maxWaitMs,
      minBytes: 1,
      maxBytes: 1_000_000,
      isolationLevel: 1,
      sessionId: 0,
      sessionEpoch: -1,
      topics: [{ topic: 'wake', partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 1_000_000 }] }],
      forgottenTopicsData: [],
      rackId: '',
    },
    { timeoutMs: maxWaitMs + 5_000 },
  );
  await new Promise((resolve) => setTimeout(resolve, 300));
  await producer.send({ topic: 'wake', acks: 1, messages: [{ key: 'k', value: 'wake up', partition: 0 }] });
  const response = await fetching;
  const elapsedMs = Date.now() - started;
  const partition = response.body.responses[0]!.partitions[0]!;
  t.is(partition.errorCode, ErrorCode.NONE);
  t.is(partition.highWatermark, 1n);
  t.is(partition.lastStableOffset, 1n, 'read_committed sees the record: LSO = high watermark');
  t.deepEqual(partition.abortedTransactions ?? [], []);
  const [batch] = decodeRecordBatches(partition.records!);
  t.is(batch!.records[0]!.value!.toString(), 'wake up');
  t.true(elapsedMs < 3_000, `answered ${elapsedMs} ms after the fetch was sent, not after max wait`);
});
