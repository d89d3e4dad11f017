import test from 'ava';
import fc from 'fast-check';
import {
  ApiKey,
  DecodeError,
  FrameDecoder,
  FrameSizeError,
  Reader,
  UnknownApiKeyError,
  UnsupportedVersionError,
  Writer,
  decodeRequest,
  decodeRequestHeader,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  requestHeaderVersion,
  responseHeaderVersion,
} from '@defter/protocol';

function sizePrefixed(payload: Buffer): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeInt32BE(payload.length);
  return Buffer.concat([prefix, payload]);
}

const payloads = fc.array(
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  { maxLength: 12 },
);

test('frames fed one byte at a time come out whole and in order', (t) => {
  fc.assert(
    fc.property(payloads, (frames) => {
      const stream = Buffer.concat(frames.map(sizePrefixed));
      const decoder = new FrameDecoder({ frameBytesMax: 1000 });
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i++) out.push(...decoder.push(stream.subarray(i, i + 1)));
      t.deepEqual(out, frames);
      t.is(decoder.bufferedBytes, 0);
    }),
    { numRuns: 100 },
  );
});

test('frames fed in random chunk sizes come out the same', (t) => {
  fc.assert(
    fc.property(payloads, fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 50 }), (frames, sizes) => {
      const stream = Buffer.concat(frames.map(sizePrefixed));
      const decoder = new FrameDecoder({ frameBytesMax: 1000 });
      const out: Buffer[] = [];
      let at = 0;
      for (let i = 0; at < stream.length; i++) {
        const size = sizes[i % sizes.length]!;
        out.push(...decoder.push(stream.subarray(at, at + size)));
        at += size;
      }
      t.deepEqual(out, frames);
      t.is(decoder.bufferedBytes, 0);
    }),
    { numRuns: 200 },
  );
});

test('an incomplete frame stays buffered until its last byte arrives', (t) => {
  const decoder = new FrameDecoder();
  const stream = sizePrefixed(Buffer.from('hello'));
  t.deepEqual(decoder.push(stream.subarray(0, 6)), []);
  t.is(decoder.bufferedBytes, 2);
  t.deepEqual(decoder.push(stream.subarray(6)), [Buffer.from('hello')]);
});

test('an oversize frame is rejected as soon as its size is read, and the decoder stays failed', (t) => {
  const decoder = new FrameDecoder({ frameBytesMax: 100 });
  t.deepEqual(decoder.push(sizePrefixed(Buffer.alloc(100))), [Buffer.alloc(100)]);
  const header = Buffer.alloc(4);
  header.writeInt32BE(101);
  const error = t.throws(() => decoder.push(header), { instanceOf: FrameSizeError });
  t.is(error.sizeBytes, 101);
  t.is(error.frameBytesMax, 100);
  t.is(error.offset, 104);
  t.true(error instanceof DecodeError);
  t.is(decoder.bufferedBytes, 0);
  t.throws(() => decoder.push(Buffer.alloc(1)), { instanceOf: FrameSizeError });
  const negative = Buffer.alloc(4);
  negative.writeInt32BE(-5);
  t.is(t.throws(() => new FrameDecoder().push(negative), { instanceOf: FrameSizeError }).sizeBytes, -5);
});

test('header versions for known cases', (t) => {
  t.is(requestHeaderVersion(ApiKey.ApiVersions, 3), 2);
  t.is(responseHeaderVersion(ApiKey.ApiVersions, 3), 0);
  t.is(requestHeaderVersion(ApiKey.ApiVersions, 2), 1);
  t.is(requestHeaderVersion(ApiKey.Metadata, 9), 2);
  t.is(responseHeaderVersion(ApiKey.Metadata, 9), 1);
  t.is(requestHeaderVersion(ApiKey.Metadata, 8), 1);
  t.is(responseHeaderVersion(ApiKey.Metadata, 8), 0);
  t.is(requestHeaderVersion(ApiKey.Produce, 7), 1);
  t.is(responseHeaderVersion(ApiKey.Produce, 7), 0);
  t.is(requestHeaderVersion(ApiKey.ControlledShutdown, 0), 0);
  t.is(requestHeaderVersion(ApiKey.ControlledShutdown, 1), 1);
  // A version newer than any we know follows the open flexible range.
  t.is(requestHeaderVersion(ApiKey.ApiVersions, 99), 2);
  t.is(responseHeaderVersion(ApiKey.ApiVersions, 99), 0);
});

test('request header v0, v1 and v2 layouts', (t) => {
  const v0 = encodeRequest({ apiKey: ApiKey.ControlledShutdown, apiVersion: 0, correlationId: 7, clientId: 'ignored' }, { brokerId: 1 });
  t.is(v0.toString('hex'), '0000000c' + '0007' + '0000' + '00000007' + '00000001');
  const v1 = encodeRequest({ apiKey: ApiKey.ApiVersions, apiVersion: 2, correlationId: 1, clientId: 'ab' }, {});
  t.is(v1.toString('hex'), '0000000c' + '0012' + '0002' + '00000001' + '0002' + '6162');
  const v2 = encodeRequest(
    { apiKey: ApiKey.ApiVersions, apiVersion: 3, correlationId: 1, clientId: null },
    { clientSoftwareName: 'x', clientSoftwareVersion: '1' },
  );
  t.is(v2.toString('hex'), '00000010' + '0012' + '0003' + '00000001' + 'ffff' + '00' + '0278' + '0231' + '00');
  const decoded = decodeRequest(v2.subarray(4));
  t.deepEqual(decoded.header, { apiKey: 18, apiVersion: 3, correlationId: 1, clientId: null });
  if (decoded.apiKey !== ApiKey.ApiVersions) return t.fail('wrong api key');
  t.deepEqual(decoded.body, { clientSoftwareName: 'x', clientSoftwareVersion: '1' });
});

test('response headers: ApiVersions v3 uses v0; Metadata v9 uses v1 with tagged fields', (t) => {
  const apiVersions = encodeResponse({ correlationId: 9 }, ApiKey.ApiVersions, 3, { errorCode: 0, apiKeys: [], throttleTimeMs: 0 });
  t.is(apiVersions.toString('hex').slice(0, 16), '0000000c' + '00000009');
  t.is(apiVersions.readInt32BE(8), 0x00000100); // errorCode 0, then the compact array (01 = empty): no tagged byte before it
  const metadata = encodeResponse({ correlationId: 9 }, ApiKey.Metadata, 9, {
    throttleTimeMs: 0,
    brokers: [],
    clusterId: null,
    controllerId: -1,
    topics: [],
  });
  t.is(metadata.toString('hex').slice(0, 18), '00000015' + '00000009' + '00');
  const decoded = decodeResponse(metadata.subarray(4), ApiKey.Metadata, 9);
  t.is(decoded.header.correlationId, 9);
  t.is(decoded.body.controllerId, -1);
});

test('the header of an unsupported version is still read, and reported with the error', (t) => {
  const writer = new Writer().int16(ApiKey.ApiVersions).int16(7).int32(42).nullableString('kcat').unsignedVarint(0).raw(Buffer.from([1, 2, 3]));
  const frame = writer.finish();
  t.deepEqual(decodeRequestHeader(new Reader(frame)), { apiKey: 18, apiVersion: 7, correlationId: 42, clientId: 'kcat' });
  const error = t.throws(() => decodeRequest(frame), { instanceOf: UnsupportedVersionError });
  t.is(error.header.correlationId, 42);
  t.true(error instanceof DecodeError);
});

test('an unknown API key, a truncated header or trailing bytes are DecodeErrors', (t) => {
  const unknown = new Writer().int16(999).int16(0).int32(5).finish();
  const error = t.throws(() => decodeRequest(unknown), { instanceOf: UnknownApiKeyError });
  t.is(error.correlationId, 5);
  t.throws(() => decodeRequest(Buffer.from([0, 18, 0])), { instanceOf: DecodeError });
  const request = encodeRequest({ apiKey: ApiKey.ApiVersions, apiVersion: 0, correlationId: 1, clientId: 'c' }, {});
  t.throws(() => decodeRequest(Buffer.concat([request.subarray(4), Buffer.from([0])])), { instanceOf: DecodeError });
});

test('random frames give a request or a DecodeError, never another exception', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 90 }), fc.integer({ min: 0, max: 20 }), fc.uint8Array({ maxLength: 64 }), (apiKey, apiVersion, body) => {
      const frame = Buffer.concat([new Writer().int16(apiKey).int16(apiVersion).int32(1).finish(), Buffer.from(body)]);
      try {
        decodeRequest(frame);
        t.pass();
      } catch (error) {
        t.true(error instanceof DecodeError, String(error));
      }
    }),
    { numRuns: 2000 },
  );
});
