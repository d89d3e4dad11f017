/**
 * Consecutive Produce requests of one connection overlap (so their appends meet in the log's group
 * commit), while every other request still waits for all earlier ones, and responses keep the
 * arrival order. First against the connection alone (a processor the test releases by hand, so
 * the overlap is observed exactly), then end to end (offsets follow the arrival order).
 */
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import test from 'ava';
import pino from 'pino';
import { ApiKey, decodeResponse, encodeRequest, ErrorCode, FrameDecoder, type ProduceResponse } from '@defter/protocol';
import { Connection } from '../src/network/connection.js';
import type { Outcome, RequestProcessor } from '../src/network/request-processor.js';
import { brokerWithTopics, fetch, makeBatch, valuesOf } from './replica-support.js';

interface HeldRequest {
  readonly apiKey: number;
  readonly correlationId: number;
  readonly release: () => void;
}

/** A processor whose requests finish only when the test says so; it answers with the correlation id. */
class HeldProcessor {
  readonly started: HeldRequest[] = [];
  process(frame: Buffer): Promise<Outcome> {
    const apiKey = frame.readInt16BE(0);
    const correlationId = frame.readInt32BE(4);
    return new Promise((resolve) => {
      const bytes = Buffer.alloc(8);
      bytes.writeInt32BE(4, 0);
      bytes.writeInt32BE(correlationId, 4);
      const header = { apiKey, apiVersion: 0, correlationId, clientId: null };
      this.started.push({ apiKey, correlationId, release: () => resolve({ kind: 'respond', bytes, header }) });
    });
  }
  startedIds(): number[] {
    return this.started.map((request) => request.correlationId);
  }
  release(correlationId: number): void {
    this.started.find((request) => request.correlationId === correlationId)!.release();
  }
}

async function connectionPair(t: import('ava').ExecutionContext, processor: HeldProcessor, pipelinedProducesMax: number): Promise<{ client: Socket; answered: number[] }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const port = (server.address() as { port: number }).port;
  const client = connect({ port, host: '127.0.0.1' });
  const [socket] = (await accepted) as [Socket];
  new Connection(socket, processor as unknown as RequestProcessor, {
    frameBytesMax: 1 << 20,
    queuedRequestsMax: 100,
    pipelinedProducesMax,
    clock: { nowMs: () => Date.now() },
    logger: pino({ level: 'silent' }),
  });
  const answered: number[] = [];
  const decoder = new FrameDecoder();
  client.on('data', (chunk: Buffer) => {
    for (const frame of decoder.push(chunk)) answered.push(frame.readInt32BE(0));
  });
  t.teardown(() => {
    client.destroy();
    socket.destroy();
    server.close();
  });
  return { client, answered };
}

function produceFrame(correlationId: number): Buffer {
  return encodeRequest(
    { apiKey: ApiKey.Produce, apiVersion: 7, correlationId, clientId: 't' },
    { transactionalId: null, acks: 1, timeoutMs: 1000, topicData: [] },
  );
}

function apiVersionsFrame(correlationId: number): Buffer {
  return encodeRequest({ apiKey: ApiKey.ApiVersions, apiVersion: 0, correlationId, clientId: 't' }, {});
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('consecutive produces overlap up to the limit, other requests wait for all earlier ones, answers keep arrival order', async (t) => {
  const processor = new HeldProcessor();
  const { client, answered } = await connectionPair(t, processor, 3);
  // P1 P2 P3 P4 A5 P6 P7: P1-P3 start together (limit 3); P4 once one of them is answered;
  // A5 only when P1-P4 are all done; P6 only after A5.
  client.write(Buffer.concat([produceFrame(1), produceFrame(2), produceFrame(3), produceFrame(4), apiVersionsFrame(5), produceFrame(6), produceFrame(7)]));
  await until(() => processor.started.length === 3);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(processor.startedIds(), [1, 2, 3], 'three produces in progress at once, no more');

  // Finishing out of order: P3, then P2, answer nothing until P1 is done.
  processor.release(3);
  processor.release(2);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(answered, []);
  t.deepEqual(processor.startedIds(), [1, 2, 3], 'P4 waits: the three slots are held until answered in order');

  processor.release(1);
  await until(() => answered.length === 3 && processor.started.length === 4);
  t.deepEqual(answered, [1, 2, 3]);
  t.deepEqual(processor.startedIds(), [1, 2, 3, 4], 'ApiVersions does not start while P4 is in progress');

  processor.release(4);
  await until(() => processor.started.length === 5);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(processor.startedIds(), [1, 2, 3, 4, 5], 'P6 does not start while ApiVersions is in progress');
  processor.release(5);
  await until(() => processor.started.length === 7);
  t.deepEqual(processor.startedIds(), [1, 2, 3, 4, 5, 6, 7], 'P6 and P7 overlap again');
  processor.release(7);
  processor.release(6);
  await until(() => answered.length === 7);
  t.deepEqual(answered, [1, 2, 3, 4, 5, 6, 7]);
});

test('a limit of 1 processes produces one at a time', async (t) => {
  const processor = new HeldProcessor();
  const { client, answered } = await connectionPair(t, processor, 1);
  client.write(Buffer.concat([produceFrame(1), produceFrame(2)]));
  await until(() => processor.started.length === 1);
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(processor.startedIds(), [1]);
  processor.release(1);
  await until(() => processor.started.length === 2);
  processor.release(2);
  await until(() => answered.length === 2);
  t.deepEqual(answered, [1, 2]);
});

test('pipelined produces on one connection are appended in arrival order, and a fetch behind them sees them all', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'piped', partitions: 2 }]);
  const requestCount = 40;
  const frames = Array.from({ length: requestCount }, (_, i) =>
    client.frame(
      ApiKey.Produce,
      7,
      {
        transactionalId: null,
        acks: i % 5 === 4 ? 0 : 1,
        timeoutMs: 1000,
        // Every request writes both partitions, so both logs see the same arrival order.
        topicData: [{ name: 'piped', partitionData: [{ index: 0, records: makeBatch([`a${i}`, `b${i}`]) }, { index: 1, records: makeBatch([`c${i}`]) }] }],
      },
      i,
    ),
  );
  await client.write(Buffer.concat(frames));
  const acknowledged = Array.from({ length: requestCount }, (_, i) => i).filter((i) => i % 5 !== 4);
  for (const i of acknowledged) {
    const { header, body } = decodeResponse(await client.nextFrame(), ApiKey.Produce, 7) as { header: { correlationId: number }; body: ProduceResponse };
    t.is(header.correlationId, i);
    const [p0, p1] = body.responses[0]!.partitionResponses;
    t.like(p0, { index: 0, errorCode: ErrorCode.NONE, baseOffset: BigInt(2 * i) });
    t.like(p1, { index: 1, errorCode: ErrorCode.NONE, baseOffset: BigInt(i) });
  }
  const fetched = await fetch(client, [
    { topic: 'piped', partition: 0, offset: 0n },
    { topic: 'piped', partition: 1, offset: 0n },
  ]);
  const [partition0, partition1] = fetched.responses[0]!.partitions;
  t.deepEqual(
    valuesOf(partition0!.records),
    Array.from({ length: requestCount }, (_, i) => [
      [BigInt(2 * i), `a${i}`],
      [BigInt(2 * i + 1), `b${i}`],
    ]).flat(),
  );
  t.deepEqual(
    valuesOf(partition1!.records),
    Array.from({ length: requestCount }, (_, i) => [BigInt(i), `c${i}`]),
  );
  t.is(client.pendingFrames, 0);
});
