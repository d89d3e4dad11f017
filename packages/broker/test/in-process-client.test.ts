import { connect } from 'node:net';
import test from 'ava';
import { ApiKey, ErrorCode } from '@defter/protocol';
import { KafkaError, startBroker } from '@defter/broker';
import { tempDir } from './helpers/test-broker.js';
import { makeBatch, valuesOf } from './replica-support.js';

test('a broker without a listener serves its own process: produce, fetch and an unsupported version', async (t) => {
  const broker = await startBroker({ dataDir: await tempDir(t), listen: false });
  t.teardown(() => broker.close());
  t.false(broker.listening);
  t.is(broker.port, 0);
  await broker.context.metadata.createTopic('events', 2, {});
  const client = broker.client('in-process-test');

  const produced = await client.send(ApiKey.Produce, 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5_000,
    topicData: [{ name: 'events', partitionData: [{ index: 1, records: makeBatch(['a', 'b']) }] }],
  });
  t.like(produced.responses[0]!.partitionResponses[0], { errorCode: ErrorCode.NONE, baseOffset: 0n });

  const fetched = await client.send(ApiKey.Fetch, 12, {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: 1 << 20,
    isolationLevel: 1,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topic: 'events', partitions: [{ partition: 1, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
    forgottenTopicsData: [],
    rackId: '',
  });
  t.deepEqual(valuesOf(fetched.responses[0]!.partitions[0]!.records), [
    [0n, 'a'],
    [1n, 'b'],
  ]);

  const refused = await t.throwsAsync(client.send(ApiKey.Fetch, 3, {} as never), { instanceOf: KafkaError });
  t.is(refused.code, ErrorCode.UNSUPPORTED_VERSION);
  t.regex(refused.message, /Fetch v3 is not served/);
  await t.throwsAsync(
    client.send(ApiKey.Produce, 9, { transactionalId: null, acks: 0, timeoutMs: 1_000, topicData: [{ name: 'events', partitionData: [{ index: 0, records: makeBatch(['x']) }] }] }),
    { message: /gets no response/ },
  );
});

test('a broker without a listener accepts no connection on its configured port', async (t) => {
  const probe = await startBroker({ dataDir: await tempDir(t), port: 0 });
  const port = probe.port;
  await probe.close();
  const broker = await startBroker({ dataDir: await tempDir(t), port, listen: false });
  t.teardown(() => broker.close());
  const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(Object.assign(new Error('connected'), { code: 'CONNECTED' })); });
    socket.once('error', resolve);
  });
  t.is(error.code, 'ECONNREFUSED');
});
