/**
 * A producer that does no per-record work: Produce requests are encoded before timing starts
 * (one 1000-record batch per request, spread over the topic's partitions) and written pipelined
 * over a few connections. It measures what the broker itself can take through the network, which a
 * real client on the same 2 cores (kcat reading lines, kafkajs building records) cannot show.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ApiKey, decodeResponse, encodeRecordBatch, encodeRequest, FrameDecoder, type ProduceResponse } from '@defter/protocol';

const PRODUCE_VERSION = 7;
const BATCH_RECORDS = 1_000;
const CONNECTIONS = 4;
const IN_FLIGHT_PER_CONNECTION = 8;

export interface RawProduceOptions {
  /** 1 (default), -1, or 0: no responses; the end is marked by an ApiVersions round trip per connection. */
  readonly acks?: number;
}

export interface RawProduceResult {
  readonly records: number;
  readonly seconds: number;
}

export async function rawProduce(
  host: string,
  port: number,
  topic: string,
  partitions: number,
  records: number,
  valueBytes: number,
  options: RawProduceOptions = {},
): Promise<RawProduceResult> {
  const acks = options.acks ?? 1;
  const value = Buffer.alloc(valueBytes, 0x78);
  const batch = encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    records: Array.from({ length: BATCH_RECORDS }, (_, i) => ({ timestampDelta: BigInt(i), key: null, value })),
  });
  const requestCount = Math.ceil(records / BATCH_RECORDS);
  const requests = Array.from({ length: requestCount }, (_, i) =>
    encodeRequest(
      { apiKey: ApiKey.Produce, apiVersion: PRODUCE_VERSION, correlationId: i, clientId: 'raw-bench' },
      { transactionalId: null, acks, timeoutMs: 30_000, topicData: [{ name: topic, partitionData: [{ index: i % partitions, records: batch }] }] },
    ),
  );
  const sockets = await Promise.all(Array.from({ length: CONNECTIONS }, () => open(host, port)));
  let next = 0;
  const started = performance.now();
  const take = () => (next < requests.length ? requests[next++] : undefined);
  await Promise.all(sockets.map((socket) => (acks === 0 ? driveWithoutResponses(socket, take) : drive(socket, take))));
  const seconds = (performance.now() - started) / 1000;
  for (const socket of sockets) socket.destroy();
  return { records: requestCount * BATCH_RECORDS, seconds };
}

function open(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, noDelay: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * acks=0: writes requests as fast as the socket takes them (waiting for 'drain' when its buffer
 * is full), then one ApiVersions request; the broker answers it only after every earlier request
 * of the connection is done, so its response marks the end.
 */
async function driveWithoutResponses(socket: Socket, take: () => Buffer | undefined): Promise<void> {
  for (let request = take(); request !== undefined; request = take()) {
    if (!socket.write(request)) await new Promise((resolve) => socket.once('drain', resolve));
  }
  const decoder = new FrameDecoder();
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      if (decoder.push(chunk).length > 0) resolve();
    });
    socket.once('error', reject);
  });
  socket.write(encodeRequest({ apiKey: ApiKey.ApiVersions, apiVersion: 0, correlationId: -1, clientId: 'raw-bench' }, {}));
  await done;
}

/** Keeps `IN_FLIGHT_PER_CONNECTION` requests outstanding on one connection until `take` runs dry. */
function drive(socket: Socket, take: () => Buffer | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const decoder = new FrameDecoder();
    let inFlight = 0;
    let exhausted = false;
    const fill = () => {
      while (!exhausted && inFlight < IN_FLIGHT_PER_CONNECTION) {
        const request = take();
        if (request === undefined) {
          exhausted = true;
          break;
        }
        inFlight++;
        socket.write(request);
      }
      if (exhausted && inFlight === 0) resolve();
    };
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const { body } = decodeResponse(frame, ApiKey.Produce, PRODUCE_VERSION) as { body: ProduceResponse };
        const errorCode = body.responses[0]?.partitionResponses[0]?.errorCode;
        if (errorCode !== 0) {
          reject(new Error(`produce failed with error code ${errorCode}`));
          return;
        }
        inFlight--;
      }
      fill();
    });
    socket.once('error', reject);
    fill();
  });
}
