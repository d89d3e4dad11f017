/**
 * Flow on one connection: correlation ids echoed in order, pipelined requests answered in order,
 * a client that never reads holding bounded memory, idle connections reaped, and a graceful
 * shutdown that answers what it has received.
 */
import test from 'ava';
import { ApiKey, decodeResponse, ErrorCode } from '@defter/protocol';
import { assertBrokerHealthy } from './helpers/health.js';
import { RawClient } from './helpers/raw-client.js';
import { eventually, startTestBroker } from './helpers/test-broker.js';

test('responses echo the correlation id sent, duplicates and extremes included, in order', async (t) => {
  const broker = await startTestBroker(t);
  const bystander = await RawClient.connect(broker.port);
  t.teardown(() => bystander.close());
  const client = await RawClient.connect(broker.port);
  const ids = [7, 7, -1, 0, 2_147_483_647, -2_147_483_648, 42, 7];
  await client.write(Buffer.concat(ids.map((id) => client.frame(ApiKey.ApiVersions, 1, {}, id))));
  const echoed: number[] = [];
  for (const _ of ids) echoed.push(decodeResponse(await client.nextFrame(), ApiKey.ApiVersions, 1).header.correlationId);
  t.deepEqual(echoed, ids);
  client.close();
  await assertBrokerHealthy(t, broker, bystander);
});

test('100 pipelined requests of mixed versions written at once are answered in order', async (t) => {
  const broker = await startTestBroker(t);
  const bystander = await RawClient.connect(broker.port);
  t.teardown(() => bystander.close());
  const client = await RawClient.connect(broker.port);
  const versions = Array.from({ length: 100 }, (_, i) => i % 4);
  const frames = versions.map((version, i) =>
    client.frame(ApiKey.ApiVersions, version, version >= 3 ? { clientSoftwareName: 'pipeline', clientSoftwareVersion: `${i}` } : {}, 1000 + i),
  );
  await client.write(Buffer.concat(frames));
  for (const [i, version] of versions.entries()) {
    const response = decodeResponse(await client.nextFrame(), ApiKey.ApiVersions, version);
    t.is(response.header.correlationId, 1000 + i);
    t.is(response.body.errorCode, ErrorCode.NONE);
  }
  t.is(client.pendingFrames, 0, 'exactly one response per request');
  client.close();
  await assertBrokerHealthy(t, broker, bystander);
});

test('a client that sends without reading is paused: bounded memory, then every response in order', async (t) => {
  const queuedMaxRequests = 32;
  const broker = await startTestBroker(t, { queuedMaxRequests });
  const bystander = await RawClient.connect(broker.port);
  t.teardown(() => bystander.close());
  const client = await RawClient.connect(broker.port);
  t.teardown(() => client.close());
  client.pauseReading();
  const before = process.memoryUsage();

  // Responses (~6 bytes per API) outweigh requests (~20 bytes), so unread responses fill the
  // kernel buffers; then the broker must stop reading and the client's writes must stall.
  // One chunk written again and again, so the test itself allocates nothing while it measures.
  const requestsPerWrite = 1_000;
  const chunk = Buffer.concat(Array.from({ length: requestsPerWrite }, (_, i) => client.frame(ApiKey.ApiVersions, 0, {}, i)));
  const requestBytesMax = 32 * 1024 * 1024;
  let sentRequests = 0;
  let sentBytes = 0;
  let stalled = false;
  while (sentBytes < requestBytesMax) {
    const accepted = client.socket.write(chunk);
    sentRequests += requestsPerWrite;
    sentBytes += chunk.length;
    if (!accepted) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 1_500);
        client.socket.once('drain', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!drained) {
        stalled = true;
        break;
      }
    }
  }
  t.true(stalled, `the broker stopped reading after ${sentBytes} bytes of requests`);
  const during = process.memoryUsage();
  const grownBytes = during.heapUsed + during.arrayBuffers - (before.heapUsed + before.arrayBuffers);
  t.log(`stalled after ${sentRequests} requests (${sentBytes} bytes); heap + buffers grew ${(grownBytes / 1e6).toFixed(1)} MB`);
  t.true(grownBytes < 48 * 1024 * 1024, 'memory stays bounded while the client does not read');

  // Other connections are served meanwhile.
  t.is((await bystander.apiVersions(0)).errorCode, ErrorCode.NONE);

  // Now read: every request is answered, in order, none lost.
  client.resumeReading();
  for (let i = 0; i < sentRequests; i += 1) {
    const response = decodeResponse(await client.nextFrame(10_000), ApiKey.ApiVersions, 0);
    if (response.header.correlationId !== i % requestsPerWrite) {
      t.fail(`response ${i} carries correlation id ${response.header.correlationId}`);
      return;
    }
  }
  t.pass(`all ${sentRequests} responses arrived in order`);
  client.close();
  await assertBrokerHealthy(t, broker, bystander);
});

test('idle connections are reaped after connections.max.idle.ms, busy ones are kept', async (t) => {
  // Generous against a loaded machine: the test and the broker share one event loop.
  const connectionsMaxIdleMs = 1_000;
  const broker = await startTestBroker(t, { connectionsMaxIdleMs });
  const busy = await RawClient.connect(broker.port);
  t.teardown(() => busy.close());
  // Our clock starts before the broker sees the connection, so it can only over-estimate idleness.
  const started = Date.now();
  const idle = await RawClient.connect(broker.port);
  let busyRequests = 0;
  while (!idle.isClosed && Date.now() - started < 6_000) {
    await busy.apiVersions(0);
    busyRequests += 1;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const idleForMs = Date.now() - started;
  t.true(idle.isClosed, 'the idle connection was closed');
  t.true(idleForMs >= connectionsMaxIdleMs, `not before its time (${idleForMs} ms)`);
  t.true(idleForMs < connectionsMaxIdleMs * 4, `nor long after (${idleForMs} ms)`);
  t.false(busy.isClosed, `the busy connection (${busyRequests} requests) is kept`);
  const line = await broker.logs.waitFor((l) => l.msg === 'closing connection');
  t.regex(String(line['reason']), /idle for more than connections.max.idle.ms \(1000 ms\)/);
});

test('graceful shutdown answers the requests it received, then closes', async (t) => {
  const broker = await startTestBroker(t);
  const client = await RawClient.connect(broker.port);
  t.teardown(() => client.close());
  const count = 2_000;
  await client.write(Buffer.concat(Array.from({ length: count }, (_, i) => client.frame(ApiKey.ApiVersions, 2, {}, i))));
  // Wait until the broker has started answering, so requests are in flight when close() begins.
  t.true(await eventually(() => client.pendingFrames > 0, 5_000, 1));
  await broker.broker.close();
  await client.closed;
  // Whatever was answered is whole and in order; nothing arrives after the connection ends.
  let answered = 0;
  while (client.pendingFrames > 0) {
    const response = decodeResponse(await client.nextFrame(), ApiKey.ApiVersions, 2);
    t.is(response.header.correlationId, answered);
    answered += 1;
  }
  t.log(`${answered} of ${count} pipelined requests answered before the shutdown`);
  t.true(answered >= 1 && answered <= count);
  const stopped = await broker.logs.waitFor((line) => line.msg === 'broker stopped');
  t.truthy(stopped);
  const refused = await RawClient.connect(broker.port).then(
    (late) => {
      late.close();
      return false;
    },
    () => true,
  );
  t.true(refused, 'no new connections after close');
});

test('graceful shutdown answers a long-poll fetch in flight before it closes', async (t) => {
  const broker = await startTestBroker(t);
  await broker.broker.context.metadata.createTopic('quiet', 1, {});
  const client = await RawClient.connect(broker.port);
  t.teardown(() => client.close());
  const maxWaitMs = 1_500;
  const fetchVersion = 11;
  await client.write(
    client.frame(
      ApiKey.Fetch,
      fetchVersion,
      {
        replicaId: -1,
        maxWaitMs,
        minBytes: 1,
        maxBytes: 1_048_576,
        isolationLevel: 1,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [{ topic: 'quiet', partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: 0n, logStartOffset: -1n, partitionMaxBytes: 1_048_576 }] }],
        forgottenTopicsData: [],
        rackId: '',
      },
      77,
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(client.pendingFrames, 0, 'the fetch is waiting for data');
  const closeStarted = Date.now();
  await broker.broker.close();
  const closeMs = Date.now() - closeStarted;
  const response = decodeResponse(await client.nextFrame(), ApiKey.Fetch, fetchVersion);
  t.is(response.header.correlationId, 77);
  t.is(response.body.errorCode ?? 0, ErrorCode.NONE);
  const partition = response.body.responses[0]!.partitions[0]!;
  t.is(partition.errorCode, ErrorCode.NONE);
  t.is(partition.highWatermark, 0n);
  t.is(partition.records?.length ?? 0, 0, 'no data was there to return');
  t.log(`close took ${closeMs} ms`);
  t.deepEqual(broker.logs.matching('shutdown grace period over: closing the remaining connections'), [], 'the fetch was answered, not cut off');
  await client.closed;
});
