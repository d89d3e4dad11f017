import test from 'ava';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { ApiKey, encodeResponse } from '@defter/protocol';
import { ConnectionError, KafkaConnection, KafkaProtocolError, parseHostPort } from '../src/kafka-connection.js';
import { createProgress } from '../src/progress.js';
import { compileRecordFormat, type FormattableRecord } from '../src/record-format.js';
import { nearest, unknownTopicMessage } from '../src/suggest.js';

const record: FormattableRecord = {
  topic: 'orders',
  partition: 2,
  offset: 41n,
  timestamp: 1_700_000_000_123n,
  key: Buffer.from('alice'),
  value: Buffer.from('{"n":1}'),
  headers: [
    { key: 'a', value: Buffer.from('1') },
    { key: 'b', value: null },
  ],
};

test('--format placeholders, escapes and null fields', (t) => {
  t.is(compileRecordFormat('%s/%p@%o %t %k=%v [%h] %K %V 100%%')(record), 'orders/2@41 1700000000123 alice={"n":1} [a=1,b=] 5 7 100%');
  t.is(compileRecordFormat('%k\\t%v\\n')({ ...record, key: null, value: null }), '\t\n');
  t.is(compileRecordFormat('%V %K')({ ...record, key: null, value: null }), '-1 -1');
  t.is(compileRecordFormat('trailing %')(record), 'trailing %');
  t.throws(() => compileRecordFormat('%x'), { message: /unknown placeholder '%x'/ });
});

test('suggestions only for plausible typos', (t) => {
  t.is(nearest('ordres', ['orders', 'payments']), 'orders');
  t.is(nearest('zzzzzz', ['orders', 'payments']), undefined);
  t.is(nearest('x', []), undefined);
  t.is(unknownTopicMessage('zzz', ['orders']), "topic 'zzz' does not exist.");
  t.is(unknownTopicMessage('zzz', []), "topic 'zzz' does not exist (the broker has no topics yet).");
});

test('broker addresses', (t) => {
  t.deepEqual(parseHostPort('localhost:19092'), { host: 'localhost', port: 19092 });
  t.deepEqual(parseHostPort('broker'), { host: 'broker', port: 9092 });
  t.deepEqual(parseHostPort('[::1]:9000'), { host: '::1', port: 9000 });
  t.throws(() => parseHostPort('h:0'), { message: /the port must be in \[1, 65535\]/ });
  t.throws(() => parseHostPort('a:b:c'), { message: /not a broker address/ });
});

test('progress in a pipe is a plain line now and then, and nothing when quiet', async (t) => {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream;
  let written = '';
  (stream as unknown as PassThrough).on('data', (chunk: Buffer) => (written += chunk.toString()));
  const progress = createProgress({ verb: 'produced', total: 10, stream, lineIntervalMs: 20 });
  progress.update(4);
  await new Promise((resolve) => setTimeout(resolve, 70));
  progress.stop();
  t.regex(written, /^produced 4 of 10 records \(\d+ records\/s\)\n/);
  const quiet = createProgress({ verb: 'x', quiet: true, stream });
  const before = written;
  quiet.update(1);
  quiet.stop();
  t.is(written, before);
});

/** A one-connection server whose reply to each request frame the test decides. */
async function fakeBroker(t: { teardown: (fn: () => void) => void }, reply: (socket: Socket, frame: Buffer) => void): Promise<number> {
  const server = createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4 && buffered.length >= 4 + buffered.readInt32BE(0)) {
        const size = buffered.readInt32BE(0);
        reply(socket, buffered.subarray(4, 4 + size));
        buffered = buffered.subarray(4 + size);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return (server.address() as AddressInfo).port;
}

test('responses are matched by correlation id and pipelined requests resolve in order', async (t) => {
  const port = await fakeBroker(t, (socket, frame) => {
    const correlationId = frame.readInt32BE(4);
    socket.write(encodeResponse({ correlationId }, ApiKey.ApiVersions, 0, { errorCode: 0, apiKeys: [{ apiKey: 3, minVersion: 0, maxVersion: correlationId }] }));
  });
  const connection = await KafkaConnection.connect({ host: '127.0.0.1', port });
  t.teardown(() => connection.close());
  const answers = await Promise.all([1, 2, 3].map(() => connection.send(ApiKey.ApiVersions, 0, {})));
  t.deepEqual(answers.map((answer) => answer.apiKeys[0]!.maxVersion), [1, 2, 3]);
  await connection.negotiateVersions();
  t.is(connection.versionFor(3, 1, 12), 4);
  t.throws(() => connection.versionFor(1, 4, 12), { instanceOf: KafkaProtocolError, message: /does not serve API 1 in versions 4-12: UNSUPPORTED_VERSION/ });
});

test('a response to a correlation id never sent fails the connection with a ConnectionError', async (t) => {
  const port = await fakeBroker(t, (socket) => {
    socket.write(encodeResponse({ correlationId: 999 }, ApiKey.ApiVersions, 0, { errorCode: 0, apiKeys: [] }));
  });
  const connection = await KafkaConnection.connect({ host: '127.0.0.1', port });
  t.teardown(() => connection.close());
  await t.throwsAsync(connection.send(ApiKey.ApiVersions, 0, {}), { instanceOf: ConnectionError, message: /correlation id 999, which was never sent/ });
  await t.throwsAsync(connection.send(ApiKey.ApiVersions, 0, {}), { instanceOf: ConnectionError });
});

test('a broker that does not answer in time fails the request', async (t) => {
  const port = await fakeBroker(t, () => undefined);
  const connection = await KafkaConnection.connect({ host: '127.0.0.1', port, requestTimeoutMs: 50 });
  t.teardown(() => connection.close());
  await t.throwsAsync(connection.send(ApiKey.ApiVersions, 0, {}), { instanceOf: ConnectionError, message: /did not answer within 50 ms/ });
});

test('a refused connection is one sentence', async (t) => {
  await t.throwsAsync(KafkaConnection.connect({ host: '127.0.0.1', port: 1 }), {
    instanceOf: ConnectionError,
    message: 'cannot connect to a broker at 127.0.0.1:1 (connection refused: is the broker running?)',
  });
});
