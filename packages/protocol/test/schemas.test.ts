import test from 'ava';
import fc from 'fast-check';
import {
  ApiKey,
  ApiVersionsResponseSchema,
  DecodeError,
  EncodeError,
  FetchRequestSchema,
  ProduceRequestSchema,
  Reader,
  Writer,
  apiKeys,
  decodeMessage,
  encodeMessage,
  isVersionSupported,
  parseVersionRange,
  requestSchemas,
  responseSchemas,
  versionInRange,
} from '@defter/protocol';
import type { FetchRequest, FieldSchema, MessageSchema, PrimitiveType, StructSchema } from '@defter/protocol';

/**
 * Every API, every valid version, request and response: arbitrary data built from the schema
 * (independently of the codec's compiled plans) must round-trip, consume exactly the bytes written,
 * and fail only with DecodeError when truncated or replaced by random bytes.
 */

const RUNS_PER_VERSION = 12;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const ZERO_UUID = 'AAAAAAAAAAAAAAAAAAAAAA';

type Data = Record<string, unknown>;

function versionsOf(schema: MessageSchema<unknown>): number[] {
  const bounds = parseVersionRange(schema.validVersions);
  const versions: number[] = [];
  for (let version = bounds.min; version <= bounds.max; version++) versions.push(version);
  return versions;
}

function primitiveArbitrary(type: PrimitiveType): fc.Arbitrary<unknown> {
  switch (type) {
    case 'bool':
      return fc.boolean();
    case 'int8':
      return fc.integer({ min: -128, max: 127 });
    case 'int16':
      return fc.integer({ min: -32768, max: 32767 });
    case 'uint16':
      return fc.integer({ min: 0, max: 65535 });
    case 'int32':
      return fc.integer();
    case 'int64':
      return fc.bigInt({ min: INT64_MIN, max: INT64_MAX });
    case 'float64':
      return fc.double();
    case 'string':
      return fc.string({ unit: 'grapheme', maxLength: 8 });
    case 'bytes':
    case 'records':
      return fc.uint8Array({ maxLength: 12 }).map((bytes) => Buffer.from(bytes));
    case 'uuid':
      return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => Buffer.from(bytes).toString('base64url'));
  }
}

function primitiveZero(type: PrimitiveType): unknown {
  switch (type) {
    case 'bool':
      return false;
    case 'int64':
      return 0n;
    case 'string':
      return '';
    case 'uuid':
      return ZERO_UUID;
    case 'bytes':
    case 'records':
      return Buffer.alloc(0);
    default:
      return 0;
  }
}

/** What a decoder yields for a field absent from `version`: the spec default, or the type's zero. */
function absentValue(field: FieldSchema, version: number): unknown {
  if (field.default === null) return null;
  switch (field.kind) {
    case 'primitive':
      return field.default ?? primitiveZero(field.type);
    case 'primitiveArray':
    case 'structArray':
      return [];
    case 'struct':
      return absentStruct(field.struct, version);
  }
}

function absentStruct(struct: StructSchema, version: number): Data {
  const out: Data = {};
  for (const field of struct.fields) out[field.key] = absentValue(field, version);
  return out;
}

function fieldArbitrary(field: FieldSchema, version: number, depth: number): fc.Arbitrary<unknown> {
  if (!versionInRange(field.versions, version)) return fc.constant(absentValue(field, version));
  let value: fc.Arbitrary<unknown>;
  switch (field.kind) {
    case 'primitive':
      value = primitiveArbitrary(field.type);
      break;
    case 'primitiveArray':
      value = fc.array(primitiveArbitrary(field.type), { maxLength: 3 });
      break;
    case 'struct':
      value = structArbitrary(field.struct, version, depth + 1);
      break;
    case 'structArray':
      value = fc.array(structArbitrary(field.struct, version, depth + 1), { maxLength: depth > 2 ? 1 : 2 });
      break;
  }
  return versionInRange(field.nullableVersions, version) ? fc.option(value, { nil: null, freq: 4 }) : value;
}

function structArbitrary(struct: StructSchema, version: number, depth = 0): fc.Arbitrary<Data> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of struct.fields) model[field.key] = fieldArbitrary(field, version, depth);
  return fc.record(model);
}

function decodesOnlyWithDecodeError(schema: MessageSchema<unknown>, version: number, input: Buffer): boolean {
  try {
    decodeMessage(schema, version, new Reader(input));
    return false;
  } catch (error) {
    if (error instanceof DecodeError) return true;
    throw error;
  }
}

const allSchemas = [...Object.values(requestSchemas), ...Object.values(responseSchemas)];

test('every API has a request and a response schema, with the same versions', (t) => {
  t.is(Object.keys(requestSchemas).length, 88);
  t.is(Object.keys(responseSchemas).length, 88);
  for (const [key, request] of Object.entries(requestSchemas)) {
    const response = responseSchemas[Number(key)]!;
    t.is(request.apiKey, Number(key));
    t.is(request.type, 'request');
    t.is(response.type, 'response');
    t.is(request.validVersions, response.validVersions);
  }
});

for (const schema of allSchemas) {
  test(`${schema.name}: every version round-trips; truncations and random bytes give only DecodeError`, (t) => {
    for (const version of versionsOf(schema)) {
      const arbitrary = structArbitrary({ name: schema.name, fields: schema.fields }, version);
      fc.assert(
        fc.property(arbitrary, fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (value, cut) => {
          const encoded = Buffer.from(encodeMessage(schema, version, value));
          const reader = new Reader(encoded);
          const decoded = decodeMessage(schema, version, reader);
          t.deepEqual(decoded, value, `${schema.name} v${version}`);
          t.is(reader.position, encoded.length, `${schema.name} v${version}: size == bytes consumed`);
          if (encoded.length > 0) {
            const length = Math.floor(cut * encoded.length);
            t.true(decodesOnlyWithDecodeError(schema, version, encoded.subarray(0, length)), `truncated at ${length}`);
          }
        }),
        { numRuns: RUNS_PER_VERSION },
      );
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 48 }), (input) => {
          const reader = new Reader(Buffer.from(input));
          try {
            decodeMessage(schema, version, reader);
            t.true(reader.position <= input.length);
          } catch (error) {
            t.true(error instanceof DecodeError, String(error));
          }
        }),
        { numRuns: RUNS_PER_VERSION },
      );
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Specific behaviours

const fetchV12: FetchRequest = {
  maxWaitMs: 500,
  minBytes: 1,
  topics: [{ topic: 'orders', partitions: [{ partition: 3, fetchOffset: 42n, partitionMaxBytes: 1024 }] }],
  forgottenTopicsData: [],
};

test('a tagged field is written only when it differs from its default', (t) => {
  const plain = encodeMessage(FetchRequestSchema, 12, fetchV12);
  const withClusterId = encodeMessage(FetchRequestSchema, 12, { ...fetchV12, clusterId: 'c1' });
  // Tagged section at the end: one field, tag 0, size 3, compact string "c1".
  t.deepEqual([...withClusterId.subarray(-6)], [0x01, 0x00, 0x03, 0x03, 0x63, 0x31]);
  t.is(withClusterId.length - plain.length, 5);
  t.is(plain[plain.length - 1], 0x00);
  t.is(decodeMessage(FetchRequestSchema, 12, new Reader(withClusterId)).clusterId, 'c1');
  t.is(decodeMessage(FetchRequestSchema, 12, new Reader(plain)).clusterId, null);
});

test('unknown tags are skipped; a known tag whose size disagrees with its value is a DecodeError', (t) => {
  const plain = Buffer.from(encodeMessage(FetchRequestSchema, 12, fetchV12));
  const body = plain.subarray(0, -1);
  const unknownTag = Buffer.concat([body, Buffer.from([0x01, 0x09, 0x02, 0xaa, 0xbb])]);
  t.deepEqual(decodeMessage(FetchRequestSchema, 12, new Reader(unknownTag)), decodeMessage(FetchRequestSchema, 12, new Reader(plain)));
  const wrongSize = Buffer.concat([body, Buffer.from([0x01, 0x00, 0x04, 0x03, 0x63, 0x31, 0x00])]);
  const error = t.throws(() => decodeMessage(FetchRequestSchema, 12, new Reader(wrongSize)));
  t.true(error instanceof DecodeError);
  t.is((error as DecodeError).field, 'FetchRequest.clusterId');
  const hugeCount = Buffer.concat([body, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])]);
  t.true(decodesOnlyWithDecodeError(FetchRequestSchema, 12, hugeCount));
});

test('fields absent in a version decode as their defaults', (t) => {
  const decoded = decodeMessage(FetchRequestSchema, 3, new Reader(encodeMessage(FetchRequestSchema, 3, fetchV12)));
  t.is(decoded.isolationLevel, 0);
  t.is(decoded.sessionEpoch, -1);
  t.is(decoded.clusterId, null);
  t.is(decoded.rackId, '');
  t.is(decoded.topics[0]!.partitions[0]!.currentLeaderEpoch, -1);
  t.is(decoded.topics[0]!.partitions[0]!.logStartOffset, -1n);
  t.is(decoded.topics[0]!.topicId, ZERO_UUID);
});

test('a non-default value for a non-ignorable field the version lacks is an EncodeError with its path', (t) => {
  const data: FetchRequest = {
    ...fetchV12,
    topics: [{ topic: 'orders', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1, lastFetchedEpoch: 7 }] }],
  };
  const error = t.throws(() => encodeMessage(FetchRequestSchema, 11, data), { instanceOf: EncodeError });
  t.is(error.field, 'FetchRequest.topics[0].partitions[0].lastFetchedEpoch');
  // An ignorable one is dropped silently, and the default value is always fine.
  t.notThrows(() => encodeMessage(FetchRequestSchema, 2, { ...fetchV12, isolationLevel: 1 }));
  t.notThrows(() => encodeMessage(FetchRequestSchema, 11, { ...fetchV12, topics: [{ topic: 'a', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1, lastFetchedEpoch: -1 }] }] }));
});

test('null where the version does not allow it, a wrong type, or an unknown version is an EncodeError', (t) => {
  const nullTopic = { ...fetchV12, topics: [{ topic: null, partitions: [] }] } as unknown as FetchRequest;
  t.is(t.throws(() => encodeMessage(FetchRequestSchema, 4, nullTopic), { instanceOf: EncodeError }).field, 'FetchRequest.topics[0].topic');
  const wrongType = { ...fetchV12, maxWaitMs: 5n } as unknown as FetchRequest;
  t.is(t.throws(() => encodeMessage(FetchRequestSchema, 4, wrongType), { instanceOf: EncodeError }).field, 'FetchRequest.maxWaitMs');
  t.throws(() => encodeMessage(FetchRequestSchema, 99, fetchV12), { instanceOf: EncodeError });
  t.false(isVersionSupported(FetchRequestSchema, 99));
  t.true(isVersionSupported(FetchRequestSchema, 17));
});

test('a DecodeError names the field path and the byte offset', (t) => {
  const data: FetchRequest = { ...fetchV12, topics: [{ topic: 'orders-and-more-orders', partitions: [] }] };
  const encoded = Buffer.from(encodeMessage(FetchRequestSchema, 4, data));
  // v4: replicaId, maxWaitMs, minBytes, maxBytes (4 bytes each), isolationLevel (1), topics count (4),
  // then the topic name's int16 length: its bytes start at 23. Cut ten bytes into them.
  const error = t.throws(() => decodeMessage(FetchRequestSchema, 4, new Reader(encoded.subarray(0, 33))), { instanceOf: DecodeError });
  t.is(error.field, 'FetchRequest.topics[0].topic');
  t.is(error.offset, 23);
  t.regex(error.message, /truncated input: string needs 22 bytes, 10 remain/);
  t.throws(() => decodeMessage(FetchRequestSchema, 18, new Reader(encoded)), { instanceOf: DecodeError });
});

test('a hostile array length is rejected by the bytes that remain, without allocating', (t) => {
  // FetchRequest v4: replica, maxWait, minBytes, maxBytes, isolation, then a topics count of 2^31-1.
  const writer = new Writer().int32(-1).int32(0).int32(0).int32(0).int8(0).int32(0x7fffffff);
  const error = t.throws(() => decodeMessage(FetchRequestSchema, 4, new Reader(writer.finish())), { instanceOf: DecodeError });
  t.is(error.field, 'FetchRequest.topics');
});

test('records are views of the input buffer, not copies', (t) => {
  const records = Buffer.from('a record batch, opaque here');
  const encoded = Buffer.from(
    encodeMessage(ProduceRequestSchema, 9, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 1000,
      topicData: [{ name: 't', partitionData: [{ index: 0, records }] }],
    }),
  );
  const decoded = decodeMessage(ProduceRequestSchema, 9, new Reader(encoded));
  const view = decoded.topicData[0]!.partitionData[0]!.records!;
  t.deepEqual(view, records);
  t.is(view.buffer, encoded.buffer);
});

test('ApiVersions v3 response: a tagged array and tagged int64 round-trip, known bytes', (t) => {
  const encoded = encodeMessage(ApiVersionsResponseSchema, 3, {
    errorCode: 0,
    apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }],
    throttleTimeMs: 0,
    finalizedFeaturesEpoch: 5n,
  });
  t.is(
    encoded.toString('hex'),
    '0000' + '02' + '0012' + '0000' + '0003' + '00' + '00000000' + '01' + '01' + '08' + '0000000000000005',
  );
});

test('the apiKeys table: header versions, names, flexible versions', (t) => {
  t.is(Object.keys(apiKeys).length, 88);
  t.is(apiKeys[ApiKey.Produce]!.name, 'Produce');
  t.is(apiKeys[ApiKey.Fetch]!.flexibleVersions, '12+');
  t.deepEqual(apiKeys[ApiKey.ApiVersions]!.responseHeaderVersions, [0, 0, 0, 0, 0]);
  t.deepEqual(apiKeys[ApiKey.ApiVersions]!.requestHeaderVersions, [1, 1, 1, 2, 2]);
  t.is(apiKeys[ApiKey.ControlledShutdown]!.requestHeaderVersions[0], 0);
  t.is(apiKeys[ApiKey.Metadata]!.requestHeaderVersions[9], 2);
  t.is(apiKeys[ApiKey.Metadata]!.responseHeaderVersions[9], 1);
  t.is(apiKeys[ApiKey.Produce]!.requestHeaderVersions[7], 1);
  t.is(apiKeys[ApiKey.Produce]!.responseHeaderVersions[7], 0);
  for (const info of Object.values(apiKeys)) {
    t.is(info.requestHeaderVersions.length, parseVersionRange(info.validVersions).max + 1, info.name);
  }
});
