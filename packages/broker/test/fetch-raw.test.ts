import test from 'ava';
import { ApiKey, ErrorCode } from '@defter/protocol';
import { eventually } from './helpers/test-broker.js';
import { batchesOf, brokerWithTopics, connectClient, fetch, makeBatch, produce, valuesOf } from './replica-support.js';

test('a fetch with nothing to read waits maxWaitMs, then answers empty with the offsets', async (t) => {
  const { client, broker } = await brokerWithTopics(t, [{ name: 'quiet' }]);
  const startedMs = Date.now();
  const response = await fetch(client, [{ topic: 'quiet', partition: 0, offset: 0n }], { maxWaitMs: 300, minBytes: 1 });
  const elapsedMs = Date.now() - startedMs;
  t.true(elapsedMs >= 290 && elapsedMs < 2_000, `answered after ${elapsedMs} ms`);
  t.like(response.responses[0]!.partitions[0]!, { errorCode: 0, highWatermark: 0n, lastStableOffset: 0n, logStartOffset: 0n });
  t.is(response.responses[0]!.partitions[0]!.records!.length, 0);
  t.is(broker.context.replicaManager.waitingFetchCount, 0);
});

test('a produce wakes a waiting fetch long before its maxWaitMs', async (t) => {
  const { client, port, broker } = await brokerWithTopics(t, [{ name: 'wake', partitions: 2 }]);
  const producer = await connectClient(t, port);
  const startedMs = Date.now();
  const waiting = fetch(client, [
    { topic: 'wake', partition: 0, offset: 0n },
    { topic: 'wake', partition: 1, offset: 0n },
  ], { maxWaitMs: 5_000, minBytes: 1 });
  t.true(await eventually(() => broker.context.replicaManager.waitingFetchCount === 1));
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is((await produce(producer, 'wake', 1, makeBatch(['late']))).errorCode, 0);
  const response = await waiting;
  const elapsedMs = Date.now() - startedMs;
  t.true(elapsedMs >= 290 && elapsedMs < 2_000, `answered after ${elapsedMs} ms`);
  t.deepEqual(valuesOf(response.responses[0]!.partitions[1]!.records), [[0n, 'late']]);
  t.is(response.responses[0]!.partitions[0]!.records!.length, 0);
  t.is(broker.context.replicaManager.waitingFetchCount, 0);
});

test('minBytes: a fetch waits until enough bytes are there across appends', async (t) => {
  const { client, port } = await brokerWithTopics(t, [{ name: 'min' }]);
  const producer = await connectClient(t, port);
  const batchBytes = makeBatch(['0123456789']).length;
  const startedMs = Date.now();
  let answered = false;
  const waiting = fetch(client, [{ topic: 'min', partition: 0, offset: 0n }], { maxWaitMs: 5_000, minBytes: batchBytes * 2 }).then((response) => {
    answered = true;
    return response;
  });
  await produce(producer, 'min', 0, makeBatch(['0123456789']));
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.false(answered, 'one batch is below minBytes');
  await produce(producer, 'min', 0, makeBatch(['abcdefghij']));
  const response = await waiting;
  t.true(Date.now() - startedMs < 2_000);
  t.deepEqual(valuesOf(response.responses[0]!.partitions[0]!.records), [
    [0n, '0123456789'],
    [1n, 'abcdefghij'],
  ]);
});

test('byte limits: whole batches, the first even above the limits, and the request limit across partitions', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'limits', partitions: 2 }]);
  for (const value of ['a', 'b', 'c']) await produce(client, 'limits', 0, makeBatch([value.repeat(50), value.repeat(50)]));
  await produce(client, 'limits', 1, makeBatch(['p1']));
  const batchBytes = makeBatch(['a'.repeat(50), 'a'.repeat(50)]).length;

  // partitionMaxBytes of one and a half batches: one whole batch, never a partial one.
  const oneAndHalf = await fetch(client, [{ topic: 'limits', partition: 0, offset: 0n }], { partitionMaxBytes: Math.floor(batchBytes * 1.5) });
  t.is(oneAndHalf.responses[0]!.partitions[0]!.records!.length, batchBytes);
  t.is(batchesOf(oneAndHalf.responses[0]!.partitions[0]!.records).length, 1);

  // A limit below one batch still returns the first batch whole, so the consumer progresses.
  const tiny = await fetch(client, [{ topic: 'limits', partition: 0, offset: 2n }], { partitionMaxBytes: 10 });
  t.deepEqual(valuesOf(tiny.responses[0]!.partitions[0]!.records).map(([offset]) => offset), [2n, 3n]);

  // An offset inside a batch returns that whole batch (the consumer skips the records before it).
  const inside = await fetch(client, [{ topic: 'limits', partition: 0, offset: 5n }]);
  t.deepEqual(valuesOf(inside.responses[0]!.partitions[0]!.records).map(([offset]) => offset), [4n, 5n]);

  // The request limit: partition 0 takes it all, partition 1 gets nothing (but its offsets).
  const shared = await fetch(client, [
    { topic: 'limits', partition: 0, offset: 0n },
    { topic: 'limits', partition: 1, offset: 0n },
  ], { maxBytes: batchBytes * 2 });
  const [p0, p1] = shared.responses[0]!.partitions;
  t.is(p0!.records!.length, batchBytes * 2);
  t.is(p1!.records!.length, 0);
  t.is(p1!.highWatermark, 1n);
  t.is(p1!.errorCode, 0);
});

test('offsets outside the log are OFFSET_OUT_OF_RANGE, answered at once, with no data', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'range' }]);
  await produce(client, 'range', 0, makeBatch(['a', 'b']));
  const startedMs = Date.now();
  const beyond = await fetch(client, [{ topic: 'range', partition: 0, offset: 3n }], { maxWaitMs: 3_000 });
  t.true(Date.now() - startedMs < 1_000);
  t.like(beyond.responses[0]!.partitions[0]!, { errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, highWatermark: -1n });
  t.is(beyond.responses[0]!.partitions[0]!.records!.length, 0);
  const negative = await fetch(client, [{ topic: 'range', partition: 0, offset: -1n }]);
  t.is(negative.responses[0]!.partitions[0]!.errorCode, ErrorCode.OFFSET_OUT_OF_RANGE);
  const atEnd = await fetch(client, [{ topic: 'range', partition: 0, offset: 2n }]);
  t.like(atEnd.responses[0]!.partitions[0]!, { errorCode: 0, highWatermark: 2n });
});

test('unknown topics by name and by id; topic ids from v13', async (t) => {
  const { client, broker } = await brokerWithTopics(t, [{ name: 'named' }]);
  await produce(client, 'named', 0, makeBatch(['x']));
  const unknown = await fetch(client, [
    { topic: 'nope', partition: 0, offset: 0n },
    { topic: 'named', partition: 7, offset: 0n },
  ], { maxWaitMs: 3_000 });
  t.is(unknown.responses[0]!.partitions[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  t.is(unknown.responses[1]!.partitions[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);

  const topicId = broker.context.metadata.topic('named')!.topicId;
  const request = (id: string) => ({
    replicaId: -1,
    maxWaitMs: 2_000,
    minBytes: 1,
    maxBytes: 1 << 20,
    isolationLevel: 1,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [{ topicId: id, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
    forgottenTopicsData: [],
    rackId: '',
  });
  const byId = (await client.request(ApiKey.Fetch, 13, request(topicId))).body;
  t.is(byId.responses[0]!.topicId, topicId);
  t.deepEqual(valuesOf(byId.responses[0]!.partitions[0]!.records), [[0n, 'x']]);
  const v16 = (await client.request(ApiKey.Fetch, 16, request(topicId))).body;
  t.deepEqual(valuesOf(v16.responses[0]!.partitions[0]!.records), [[0n, 'x']]);

  const startedMs = Date.now();
  const missingId = (await client.request(ApiKey.Fetch, 13, request('AAAAAAAAAAAAAAAAAAAAAQ'))).body;
  t.true(Date.now() - startedMs < 1_000);
  t.is(missingId.responses[0]!.partitions[0]!.errorCode, ErrorCode.UNKNOWN_TOPIC_ID);
});

test('fetch sessions: full fetches get session id 0; an incremental fetch is FETCH_SESSION_ID_NOT_FOUND', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 's' }]);
  await produce(client, 's', 0, makeBatch(['x']));
  const asksForSession = await fetch(client, [{ topic: 's', partition: 0, offset: 0n }], { sessionId: 0, sessionEpoch: 0 });
  t.is(asksForSession.errorCode, 0);
  t.is(asksForSession.sessionId, 0);
  t.deepEqual(valuesOf(asksForSession.responses[0]!.partitions[0]!.records), [[0n, 'x']]);
  const incremental = await fetch(client, [{ topic: 's', partition: 0, offset: 1n }], { sessionId: 1234, sessionEpoch: 1 });
  t.is(incremental.errorCode, ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
  t.deepEqual(incremental.responses, []);
});

test('Fetch v4 (classic encoding) serves the same batches', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'old' }]);
  await produce(client, 'old', 0, makeBatch(['a', 'b']), { version: 3 });
  const response = await fetch(client, [{ topic: 'old', partition: 0, offset: 0n }], { version: 4 });
  t.like(response.responses[0]!.partitions[0]!, { errorCode: 0, highWatermark: 2n, lastStableOffset: 2n });
  t.deepEqual(valuesOf(response.responses[0]!.partitions[0]!.records), [
    [0n, 'a'],
    [1n, 'b'],
  ]);
});

test('closing the replica manager answers waiting fetches at once', async (t) => {
  const { client, broker } = await brokerWithTopics(t, [{ name: 'closing' }]);
  const startedMs = Date.now();
  const waiting = fetch(client, [{ topic: 'closing', partition: 0, offset: 0n }], { maxWaitMs: 10_000 });
  t.true(await eventually(() => broker.context.replicaManager.waitingFetchCount === 1));
  await broker.context.replicaManager.close();
  const response = await waiting;
  t.true(Date.now() - startedMs < 2_000);
  t.is(response.responses[0]!.partitions[0]!.errorCode, 0);
  // Later fetches are not parked either.
  const later = Date.now();
  await fetch(client, [{ topic: 'closing', partition: 0, offset: 0n }], { maxWaitMs: 5_000 });
  t.true(Date.now() - later < 1_000);
});
