/**
 * Hostile input on the wire: garbage, truncated and oversized frames, unknown API keys and versions.
 * After each, the broker must still answer a new connection and one opened before, and must have
 * logged why it closed a connection.
 */
import test from 'ava';
import fc from 'fast-check';
import { ApiKey, decodeResponse, encodeRequest, ErrorCode, Writer } from '@defter/protocol';
import { assertBrokerHealthy } from './helpers/health.js';
import { RawClient } from './helpers/raw-client.js';
import { startTestBroker } from './helpers/test-broker.js';

const CLOSE_WAIT_MS = 3_000;

/** A request header followed by `body`, framed; lets a test write API keys and versions no encoder would. */
function rawRequest(apiKey: number, apiVersion: number, correlationId: number, options: { flexibleHeader?: boolean; body?: Buffer } = {}): Buffer {
  const writer = new Writer();
  writer.int32(0).int16(apiKey).int16(apiVersion).int32(correlationId).nullableString('hostile');
  if (options.flexibleHeader === true) writer.unsignedVarint(0);
  if (options.body !== undefined) writer.raw(options.body);
  return writer.patchInt32(0, writer.position - 4).finish();
}

function sizePrefix(sizeBytes: number): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(sizeBytes >>> 0);
  return prefix;
}

test('random bytes on fresh connections never take the broker down', async (t) => {
  const broker = await startTestBroker(t);
  const bystander = await RawClient.connect(broker.port);
  t.teardown(() => bystander.close());
  const valid = encodeRequest({ apiKey: ApiKey.ApiVersions, apiVersion: 3, correlationId: 1, clientId: 'fuzz' }, { clientSoftwareName: 'a', clientSoftwareVersion: '1' });
  let closedByBroker = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        // Pure noise, of any shape.
        fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes)),
        // A well-formed size prefix around noise: the header and body decoders see garbage.
        fc.uint8Array({ minLength: 0, maxLength: 512 }).map((bytes) => Buffer.concat([sizePrefix(bytes.length), bytes])),
        // A valid request with a few bytes flipped.
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }).map((flips) => {
          const frame = Buffer.from(valid);
          for (const [at, xor] of flips) frame[4 + (at % (frame.length - 4))]! ^= xor;
          return frame;
        }),
      ),
      async (bytes) => {
        const client = await RawClient.connect(broker.port);
        await client.write(bytes);
        // The broker either answers, closes, or waits for the rest of a frame; then the client hangs up.
        if (await client.closesWithin(50)) closedByBroker += 1;
        client.close();
      },
    ),
    { numRuns: 60, seed: 20_240_301 },
  );
  t.log(`${closedByBroker} of 60 connections were closed by the broker`);
  t.true(closedByBroker > 0, 'garbage closes connections');
  await assertBrokerHealthy(t, broker, bystander);
});

test('a truncated frame followed by a hang-up leaves nothing behind', async (t) => {
  const broker = await startTestBroker(t);
  const bystander = await RawClient.connect(broker.port);
  t.teardown(() => bystander.close());
  const probe = await RawClient.connect(broker.port);
  const frame = probe.frame(ApiKey.ApiVersions, 3, { clientSoftwareName: 'truncated', clientSoftwareVersion: '1' });
  probe.close();
  for (const cut of [1, 3, 4, 5, 10, frame.length - 1]) {
    const client = await RawClient.connect(broker.port);
    await client.write(frame.subarray(0, cut));
    t.false(await client.closesWithin(100), `the broker waits for the rest of a frame cut at ${cut} bytes`);
    t.is(client.pendingFrames, 0, 'and does not answer half a request');
    client.close();
  }
  // The same cut completed later is answered: the broker kept the first part of the frame.
  const slow = await RawClient.connect(broker.port);
  for (let at = 0; at < frame.length; at += 1) await slow.write(frame.subarray(at, at + 1));
  const response = decodeResponse(await slow.nextFrame(), ApiKey.ApiVersions, 3);
  t.is(response.body.errorCode, ErrorCode.NONE, 'a frame sent one byte at a time is answered');
  slow.close();
  await assertBrokerHealthy(t, broker, bystander);
});

test('a frame claiming 2 GiB closes the connection without buffering it', async (t) => {
  const broker = await startTestBroker(t);
  const bystander = await RawClient.connect(broker.port);
  t.teardown(() => bystander.close());
  for (const claimedBytes of [0x7fff_ffff, 0x8000_0000]) {
    const before = process.memoryUsage();
    const client = await RawClient.connect(broker.port);
    await client.write(sizePrefix(claimedBytes));
    // Keep sending payload: none of it may be kept.
    const junk = Buffer.alloc(1024 * 1024, 0x5a);
    for (let i = 0; i < 16 && !client.isClosed; i += 1) await client.write(junk);
    t.true(await client.closesWithin(CLOSE_WAIT_MS), `a frame of ${claimedBytes} bytes closes the connection`);
    const after = process.memoryUsage();
    const grownBytes = after.arrayBuffers + after.heapUsed - (before.arrayBuffers + before.heapUsed);
    t.true(grownBytes < 32 * 1024 * 1024, `memory grew by ${grownBytes} bytes`);
  }
  const lines = broker.logs.matching('closing connection');
  t.true(lines.some((line) => /2147483647 bytes exceeds the maximum/.test(String(line['reason']))), 'the oversized frame is logged');
  t.true(lines.some((line) => /negative frame size/.test(String(line['reason']))), 'a size of 2^31 reads as negative and is logged');
  await assertBrokerHealthy(t, broker, bystander);
});

test('a frame just above socket.request.max.bytes is refused, one at the limit is read', async (t) => {
  const frameBytesMax = 64 * 1024;
  const broker = await startTestBroker(t, { socketRequestMaxBytes: frameBytesMax });
  const bystander = await RawClient.connect(broker.port);
  t.teardown(() => bystander.close());
  const over = await RawClient.connect(broker.port);
  await over.write(sizePrefix(frameBytesMax + 1));
  t.true(await over.closesWithin(CLOSE_WAIT_MS));
  // A frame of exactly the maximum: ApiVersions v3 with a long (valid) client software name.
  const atLimit = await RawClient.connect(broker.port);
  const frameOfName = (nameBytes: number) =>
    encodeRequest({ apiKey: ApiKey.ApiVersions, apiVersion: 3, correlationId: 9, clientId: null }, { clientSoftwareName: 'x'.repeat(nameBytes), clientSoftwareVersion: '1' });
  const firstTry = frameOfName(frameBytesMax);
  const frame = frameOfName(frameBytesMax - (firstTry.length - 4 - frameBytesMax));
  t.is(frame.length - 4, frameBytesMax, 'the frame is exactly socket.request.max.bytes');
  await atLimit.write(frame);
  const response = decodeResponse(await atLimit.nextFrame(), ApiKey.ApiVersions, 3);
  t.is(response.header.correlationId, 9);
  t.is(response.body.errorCode, ErrorCode.NONE);
  atLimit.close();
  t.true(broker.logs.matching('closing connection', new RegExp(`${frameBytesMax + 1} bytes exceeds`)).length === 1);
  await assertBrokerHealthy(t, broker, bystander);
});

test('a zero-size frame closes the connection with a log line', async (t) => {
  const broker = await startTestBroker(t);
  const bystander = await RawClient.connect(broker.port);
  t.teardown(() => bystander.close());
  const client = await RawClient.connect(broker.port);
  await client.write(sizePrefix(0));
  t.true(await client.closesWithin(CLOSE_WAIT_MS));
  t.is(client.pendingFrames, 0);
  const line = await broker.logs.waitFor((l) => l.msg === 'closing connection');
  t.regex(String(line['reason']), /malformed request header/);
  await assertBrokerHealthy(t, broker, bystander);
});

test('unknown API keys close the connection with a log line naming the key', async (t) => {
  const broker = await startTestBroker(t);
  const bystander = await RawClient.connect(broker.port);
  t.teardown(() => bystander.close());
  for (const apiKey of [999, -1, 32_767]) {
    const client = await RawClient.connect(broker.port);
    await client.write(rawRequest(apiKey, 0, 77));
    t.true(await client.closesWithin(CLOSE_WAIT_MS), `API key ${apiKey} closes the connection`);
    t.is(client.pendingFrames, 0, 'without a response');
    await broker.logs.waitFor((line) => line.msg === 'closing connection' && String(line['reason']) === `unknown API key ${apiKey}`);
  }
  await assertBrokerHealthy(t, broker, bystander);
});

test('ApiVersions of an unknown version is answered in the v0 layout with error 35 and the full list', async (t) => {
  const broker = await startTestBroker(t);
  const bystander = await RawClient.connect(broker.port);
  t.teardown(() => bystander.close());
  const served = (await bystander.apiVersions(3)).apiKeys;
  for (const version of [5, 99, 32_767]) {
    const client = await RawClient.connect(broker.port);
    // A newer client's body is unknown to us: junk after the flexible header must not matter.
    await client.write(rawRequest(ApiKey.ApiVersions, version, 4242 + version, { flexibleHeader: true, body: Buffer.from([3, 0x41, 0x42, 2, 0x31, 0, 9, 9]) }));
    const response = decodeResponse(await client.nextFrame(), ApiKey.ApiVersions, 0);
    t.is(response.header.correlationId, 4242 + version);
    t.is(response.body.errorCode, ErrorCode.UNSUPPORTED_VERSION);
    t.deepEqual(response.body.apiKeys, served, 'the full list, as v3 gives it');
    // The client may go on with a version it shares, on the same connection.
    t.is((await client.apiVersions(2)).errorCode, ErrorCode.NONE);
    client.close();
  }
  await assertBrokerHealthy(t, broker, bystander);
});

test('other APIs at unknown versions get error 35 or a closed connection, never a hang', async (t) => {
  const broker = await startTestBroker(t);
  const bystander = await RawClient.connect(broker.port);
  t.teardown(() => bystander.close());
  const cases = [
    { apiKey: ApiKey.Metadata, version: 99 },
    { apiKey: ApiKey.Produce, version: 99 },
    { apiKey: ApiKey.Fetch, version: 1000 },
    // Known to Kafka, never served by a single broker.
    { apiKey: ApiKey.LeaderAndIsr, version: 0 },
    { apiKey: ApiKey.StopReplica, version: 0 },
  ];
  for (const { apiKey, version } of cases) {
    const client = await RawClient.connect(broker.port);
    await client.write(rawRequest(apiKey, version, 31_337, { flexibleHeader: version >= 9 }));
    const outcome = await client.nextFrameOrClose(3_000);
    if (outcome === 'closed') {
      await broker.logs.waitFor((line) => line.msg === 'closing connection' && /is not served/.test(String(line['reason'])));
      t.pass(`key ${apiKey} v${version}: closed with a log line`);
    } else {
      t.is(outcome.readInt32BE(0), 31_337, `key ${apiKey} v${version}: the response echoes the correlation id`);
      t.true(outcome.includes(Buffer.from([0, ErrorCode.UNSUPPORTED_VERSION]), 4), `key ${apiKey} v${version}: error 35`);
    }
    client.close();
  }
  await assertBrokerHealthy(t, broker, bystander);
});

test('a request whose body does not parse closes only its own connection', async (t) => {
  const broker = await startTestBroker(t);
  const bystander = await RawClient.connect(broker.port);
  t.teardown(() => bystander.close());
  const client = await RawClient.connect(broker.port);
  // ApiVersions v3 whose compact string claims 100 bytes where 2 follow.
  await client.write(rawRequest(ApiKey.ApiVersions, 3, 5, { flexibleHeader: true, body: Buffer.from([101, 0x41, 0x42]) }));
  t.true(await client.closesWithin(CLOSE_WAIT_MS));
  const line = await broker.logs.waitFor((l) => l.msg === 'closing connection');
  t.regex(String(line['reason']), /malformed ApiVersionsRequest v3/);
  // Trailing bytes after a complete body are malformed too.
  const trailing = await RawClient.connect(broker.port);
  await trailing.write(rawRequest(ApiKey.ApiVersions, 0, 6, { body: Buffer.from([1, 2, 3]) }));
  t.true(await trailing.closesWithin(CLOSE_WAIT_MS));
  await assertBrokerHealthy(t, broker, bystander);
});
