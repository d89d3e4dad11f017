import test from 'ava';
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';
import { AvroSerde, SchemaRegistryClient, SerdeError, Serdes, deserializeAsync, serializeAsync } from '../src/index.js';
import type { SerdeContext } from '../src/index.js';
import { SchemaRegistryServer } from '../src/testing/index.js';

const userV1 = {
  type: 'record',
  name: 'User',
  namespace: 'defter.test',
  fields: [
    { name: 'name', type: 'string' },
    { name: 'age', type: 'int' },
    { name: 'score', type: 'long' },
  ],
};

/** v2 adds a field with a default: it reads v1 data. */
const userV2 = {
  ...userV1,
  fields: [...userV1.fields, { name: 'email', type: ['null', 'string'], default: null }],
};

/** v3 removes `score`: it reads v1 data and ignores the field. */
const userV3 = { ...userV1, fields: userV1.fields.filter((field) => field.name !== 'score') };

/** Requires a field that v1 does not have and gives no default: it cannot read v1 data. */
const userIncompatible = { ...userV1, fields: [...userV1.fields, { name: 'country', type: 'string' }] };

interface UserV1 {
  name: string;
  age: number;
  score: number;
}

const context: SerdeContext = { topic: 'users', role: 'value' };

async function startRegistry(t: ExecutionContext): Promise<SchemaRegistryServer> {
  const registry = await SchemaRegistryServer.start();
  t.teardown(() => registry.close());
  return registry;
}

/** Plain fields of an avsc record instance, for deepEqual. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

test('golden bytes: a record is 0x00, the 4-byte big-endian schema id, then its Avro binary encoding', async (t) => {
  const registry = await startRegistry(t);
  const client = new SchemaRegistryClient({ url: registry.url });
  // Take a few ids first, so the id bytes are not all zero but one.
  await client.register('other-a', '"string"');
  await client.register('other-b', '"int"');
  const serde = Serdes.avro<UserV1>({ registry: client, schema: userV1 });
  const bytes = await serializeAsync(serde, { name: 'Ada', age: 36, score: 300 }, context);
  const expected = Buffer.from([
    0x00, // magic byte
    0x00, 0x00, 0x00, 0x03, // schema id 3, big-endian
    0x06, 0x41, 0x64, 0x61, // string "Ada": zig-zag length 3 → 0x06, then UTF-8
    0x48, // int 36 → zig-zag 72
    0xd8, 0x04, // long 300 → zig-zag 600 → varint 0xd8 0x04
  ]);
  t.deepEqual(bytes, expected);
  t.is(registry.countRequests('POST', '/subjects/users-value/versions'), 1);
  t.deepEqual(plain(await deserializeAsync(serde, expected, context)), { name: 'Ada', age: 36, score: 300 });
});

test('records round-trip through the registry over HTTP (property)', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1 });
  await serde.prepareSerialize(context);
  const users = fc.record({
    name: fc.string({ unit: 'binary' }),
    age: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    // avsc's default long is exact only within ±2^52 (its zig-zag step doubles the magnitude in a double).
    score: fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(users, { maxLength: 20 }), async (batch) => {
      const payloads = batch.map((user) => serde.serialize(user, context));
      // A fresh serde, as a consumer would have: it must fetch the writer schema by id.
      const reader = Serdes.avro<UserV1>({ registry: registry.url });
      await reader.prepareDeserialize(payloads, context);
      t.deepEqual(payloads.map((payload) => plain(reader.deserialize(payload, context))), batch);
    }),
    { numRuns: 30 },
  );
});

test('the same schema registers once per serde, and gets the same id under another subject', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1 });
  const first = await serializeAsync(serde, { name: 'a', age: 1, score: 1 }, context);
  for (let index = 0; index < 10; index++) await serializeAsync(serde, { name: 'b', age: index, score: index }, context);
  t.is(registry.countRequests('POST', '/subjects/users-value/versions'), 1);
  const otherTopic = await serializeAsync(serde, { name: 'c', age: 2, score: 2 }, { topic: 'admins', role: 'value' });
  t.is(registry.countRequests('POST', '/subjects/admins-value/versions'), 1);
  t.is(first!.readInt32BE(1), otherTopic!.readInt32BE(1));
  // Another serde with the schema written differently (whitespace, key order) still finds the same id.
  const reformatted = JSON.stringify({ fields: userV1.fields, namespace: 'defter.test', name: 'User', type: 'record' }, null, 2);
  const again = await serializeAsync(Serdes.avro<UserV1>({ registry: registry.url, schema: reformatted }), { name: 'd', age: 3, score: 3 }, context);
  t.is(again!.readInt32BE(1), first!.readInt32BE(1));
});

test('keys use the <topic>-key subject; a primitive schema works as a key', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<string>({ registry: registry.url, schema: 'string' });
  const keyContext: SerdeContext = { topic: 'users', role: 'key' };
  const bytes = await serializeAsync(serde, 'user-1', keyContext);
  t.deepEqual(bytes, Buffer.from([0, 0, 0, 0, 1, 0x0c, ...Buffer.from('user-1')]));
  t.is(registry.countRequests('POST', '/subjects/users-key/versions'), 1);
  t.is(await deserializeAsync(serde, bytes, keyContext), 'user-1');
});

test('evolution: v1 data read with a v2 reader gets the added field\'s default', async (t) => {
  const registry = await startRegistry(t);
  const writer = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1 });
  const bytes = await serializeAsync(writer, { name: 'Lin', age: 40, score: 7 }, context);
  const reader = Serdes.avro<unknown>({ registry: registry.url, schema: userV2 });
  t.deepEqual(plain(await deserializeAsync(reader, bytes, context)), { name: 'Lin', age: 40, score: 7, email: null });
});

test('evolution: v1 data read with a reader that removed a field drops it', async (t) => {
  const registry = await startRegistry(t);
  const writer = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1 });
  const bytes = await serializeAsync(writer, { name: 'Lin', age: 40, score: 7 }, context);
  const reader = Serdes.avro<unknown>({ registry: registry.url, schema: userV3 });
  t.deepEqual(plain(await deserializeAsync(reader, bytes, context)), { name: 'Lin', age: 40 });
});

test('a reader schema that cannot read the writer\'s is a SerdeError with reason incompatible-schema', async (t) => {
  const registry = await startRegistry(t);
  const bytes = await serializeAsync(Serdes.avro<UserV1>({ registry: registry.url, schema: userV1 }), { name: 'x', age: 1, score: 1 }, context);
  const reader = Serdes.avro<unknown>({ registry: registry.url, schema: userIncompatible });
  const error = await t.throwsAsync(deserializeAsync(reader, bytes, context), { instanceOf: SerdeError });
  t.is(error.reason, 'incompatible-schema');
  t.regex(error.message, /^cannot deserialize the value of topic "users": schema id 1 cannot be read with the reader schema \(.+\)$/);
});

test('an unknown schema id fails that record alone, with the registry URL in the message', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1 });
  const good = await serializeAsync(serde, { name: 'ok', age: 1, score: 2 }, context);
  const unknown = Buffer.from(good!);
  unknown.writeInt32BE(999, 1);
  const reader = Serdes.avro<UserV1>({ registry: registry.url });
  await reader.prepareDeserialize([good, unknown, null], context);
  t.deepEqual(plain(reader.deserialize(good, { ...context, partition: 0, offset: 0n })), { name: 'ok', age: 1, score: 2 });
  const error = t.throws(() => reader.deserialize(unknown, { ...context, partition: 0, offset: 1n }), { instanceOf: SerdeError });
  t.is(error.message, `cannot deserialize the value of topic "users" partition 0 offset 1: schema id 999 is not in the registry at ${registry.url}`);
  t.is(error.reason, 'unknown-schema');
  // The unknown id is remembered: a second batch does not ask the registry again.
  const lookupsBefore = registry.countRequests('GET', '/schemas/ids/999');
  await reader.prepareDeserialize([unknown], context);
  t.is(registry.countRequests('GET', '/schemas/ids/999'), lookupsBefore);
  t.is(lookupsBefore, 1);
});

test('a bad magic byte or a payload shorter than the header is a SerdeError with reason malformed', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1 });
  const badMagic = Buffer.from([0x01, 0, 0, 0, 1, 0x06, 0x41, 0x64, 0x61, 0x48, 0x02]);
  await serde.prepareDeserialize([badMagic], context);
  const error = t.throws(() => serde.deserialize(badMagic, context), { instanceOf: SerdeError });
  t.is(error.message, 'cannot deserialize the value of topic "users": unknown magic byte 0x01 (the Confluent wire format starts with 0x00)');
  t.is(error.reason, 'malformed');
  t.throws(() => serde.deserialize(Buffer.from([0, 0, 0]), context), {
    instanceOf: SerdeError,
    message: /3 bytes are shorter than the 5-byte Confluent header/,
  });
  t.is(registry.countRequests('GET', '/schemas/ids/'), 0);
});

test('a truncated body, trailing bytes, and random bodies are SerdeErrors, never a crash (property)', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1 });
  const good = (await serializeAsync(serde, { name: 'Ada', age: 36, score: 300 }, context))!;
  t.throws(() => serde.deserialize(good.subarray(0, good.length - 1), context), { instanceOf: SerdeError, message: /the Avro body is truncated for schema id 1/ });
  t.throws(() => serde.deserialize(Buffer.concat([good, Buffer.from([0])]), context), { instanceOf: SerdeError, message: /1 bytes follow the Avro body of schema id 1/ });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (body) => {
      const payload = Buffer.concat([good.subarray(0, 5), body]);
      try {
        serde.deserialize(payload, context);
        return true;
      } catch (error) {
        return error instanceof SerdeError && error.reason === 'malformed';
      }
    }),
  );
});

test('a value that does not match the schema is a SerdeError naming the field', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1 });
  await serde.prepareSerialize(context);
  const error = t.throws(() => serde.serialize({ name: 'x', age: 'old' } as unknown as UserV1, context), { instanceOf: SerdeError });
  t.is(error.reason, 'invalid-value');
  t.regex(error.message, /^cannot serialize the value of topic "users": the value does not match the Avro schema at age, score \(.+\)$/);
});

test('a large value grows the scratch buffer and still round-trips', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1 });
  const user = { name: 'x'.repeat(100_000), age: 1, score: 2 };
  const bytes = await serializeAsync(serde, user, context);
  t.is(bytes!.length, 5 + 3 + 100_000 + 2);
  t.deepEqual(plain(await deserializeAsync(serde, bytes, context)), user);
  t.deepEqual(plain(await deserializeAsync(serde, await serializeAsync(serde, { name: 'y', age: 2, score: 3 }, context), context)), { name: 'y', age: 2, score: 3 });
});

test('null is a tombstone both ways, without asking the registry', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1 });
  t.is(await serializeAsync(serde, null, context), null);
  t.is(await deserializeAsync(serde, null, context), null);
  t.is(registry.requests.length, 0);
});

test('the synchronous calls refuse, with reason not-prepared, what prepare has not fetched', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1 });
  const error = t.throws(() => serde.serialize({ name: 'x', age: 1, score: 1 }, context), { instanceOf: SerdeError });
  t.is(error.reason, 'not-prepared');
  t.regex(error.message, /no schema id for subject "users-value" yet: call prepareSerialize first/);
  const bytes = await serializeAsync(serde, { name: 'x', age: 1, score: 1 }, context);
  const reader = Serdes.avro<UserV1>({ registry: registry.url });
  t.throws(() => reader.deserialize(bytes, context), { instanceOf: SerdeError, message: /schema id 1 has not been fetched: call prepareDeserialize first/ });
});

test('without a schema, serialize writes with the subject\'s latest version', async (t) => {
  const registry = await startRegistry(t);
  const client = new SchemaRegistryClient({ url: registry.url });
  await client.register('users-value', JSON.stringify(userV1));
  const latestId = await client.register('users-value', JSON.stringify(userV2));
  const serde = new AvroSerde<unknown>({ registry: client });
  const bytes = await serializeAsync(serde, { name: 'n', age: 1, score: 2, email: 'n@example.com' }, context);
  t.is(bytes!.readInt32BE(1), latestId);
  t.deepEqual(plain(await deserializeAsync(serde, bytes, context)), { name: 'n', age: 1, score: 2, email: 'n@example.com' });
});

test('autoRegister: false looks the schema up and fails clearly when the subject does not hold it', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1, autoRegister: false });
  const error = await t.throwsAsync(serde.prepareSerialize(context), { instanceOf: SerdeError });
  t.is(error.reason, 'unknown-schema');
  t.regex(error.message, /could not resolve subject "users-value": POST .*\/subjects\/users-value failed with HTTP 404, error_code 40401/);
  const id = await new SchemaRegistryClient({ url: registry.url }).register('users-value', JSON.stringify(userV1));
  const bytes = await serializeAsync(serde, { name: 'x', age: 1, score: 1 }, context);
  t.is(bytes!.readInt32BE(1), id);
  t.is(registry.countRequests('POST', '/subjects/users-value/versions'), 1);
});

test('a fixed subject overrides TopicNameStrategy', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<UserV1>({ registry: registry.url, schema: userV1, subject: 'defter.test.User' });
  await serializeAsync(serde, { name: 'x', age: 1, score: 1 }, context);
  t.is(registry.countRequests('POST', '/subjects/defter.test.User/versions'), 1);
});

test('the registry down: prepare fails the batch with reason registry and says so; nothing is remembered', async (t) => {
  const registry = await SchemaRegistryServer.start();
  const url = registry.url;
  const writer = Serdes.avro<UserV1>({ registry: url, schema: userV1 });
  const bytes = await serializeAsync(writer, { name: 'x', age: 1, score: 1 }, context);
  await registry.close();
  const reader = Serdes.avro<UserV1>({ registry: url });
  const error = await t.throwsAsync(reader.prepareDeserialize([bytes], context), { instanceOf: SerdeError });
  t.is(error.reason, 'registry');
  t.is(error.message, `cannot deserialize the value of topic "users": the schema registry at ${url} could not resolve schema id 1: the schema registry at ${url} is unreachable (ECONNREFUSED)`);
  const serializeError = await t.throwsAsync(Serdes.avro<UserV1>({ registry: url, schema: userV1 }).prepareSerialize(context), { instanceOf: SerdeError });
  t.is(serializeError.reason, 'registry');
  t.regex(serializeError.message, /unreachable \(ECONNREFUSED\)/);
  t.throws(() => reader.deserialize(bytes, context), { instanceOf: SerdeError, message: /has not been fetched/ });
});
