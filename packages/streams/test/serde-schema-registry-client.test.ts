import test from 'ava';
import type { ExecutionContext } from 'ava';
import { SCHEMA_REGISTRY_CONTENT_TYPE, SchemaRegistryClient, SchemaRegistryError, SerdeError, Serdes, deserializeAsync } from '../src/index.js';
import type { FetchFunction } from '../src/index.js';
import { BoundedMap } from '../src/serde/bounded-map.js';
import { SchemaRegistryServer } from '../src/testing/index.js';

const pointV1 = JSON.stringify({ type: 'record', name: 'Point', fields: [{ name: 'x', type: 'int' }] });
const pointV2 = JSON.stringify({ type: 'record', name: 'Point', fields: [{ name: 'x', type: 'int' }, { name: 'y', type: 'int', default: 0 }] });
/** Adds a field without a default: v3 cannot read v1 data (not BACKWARD compatible). */
const pointV3 = JSON.stringify({ type: 'record', name: 'Point', fields: [{ name: 'x', type: 'int' }, { name: 'z', type: 'int' }] });

async function startRegistry(t: ExecutionContext, options?: Parameters<typeof SchemaRegistryServer.start>[0]): Promise<SchemaRegistryServer> {
  const registry = await SchemaRegistryServer.start(options);
  t.teardown(() => registry.close());
  return registry;
}

test('register assigns global ids; the same schema gets the same id; getSchemaById returns it', async (t) => {
  const registry = await startRegistry(t);
  const client = new SchemaRegistryClient({ url: `${registry.url}/` });
  t.is(client.url, registry.url);
  t.is(await client.register('points-value', pointV1), 1);
  t.is(await client.register('other-value', '"string"'), 2);
  t.is(await client.register('copies-value', pointV1), 1);
  t.is(await client.register('points-value', pointV2), 3);
  // A second client, so that nothing comes from the first one's cache.
  const fresh = new SchemaRegistryClient({ url: registry.url });
  t.deepEqual(await fresh.getSchemaById(3), { schema: pointV2, schemaType: 'AVRO' });
  t.deepEqual(await fresh.getLatest('points-value'), { subject: 'points-value', id: 3, version: 2, schema: pointV2, schemaType: 'AVRO' });
  t.deepEqual(await fresh.lookup('points-value', pointV1), { subject: 'points-value', id: 1, version: 1, schema: pointV1, schemaType: 'AVRO' });
  // Registering what the subject already holds adds no version.
  t.is(await fresh.register('points-value', pointV1), 1);
  t.is((await fresh.getLatest('points-value')).version, 2);
});

test('ids and registrations are cached; concurrent requests for one id share one HTTP request; latest is not cached', async (t) => {
  const registry = await startRegistry(t);
  await new SchemaRegistryClient({ url: registry.url }).register('points-value', pointV1);
  const client = new SchemaRegistryClient({ url: registry.url });
  await Promise.all([client.getSchemaById(1), client.getSchemaById(1), client.getSchemaById(1)]);
  await client.getSchemaById(1);
  t.is(registry.countRequests('GET', '/schemas/ids/1'), 1);
  await client.register('points-value', pointV2);
  await client.register('points-value', pointV2);
  t.is(registry.countRequests('POST', '/subjects/points-value/versions'), 2); // one from the first client, one here
  // The id learned from register answers getSchemaById without a request.
  await client.getSchemaById(2);
  t.is(registry.countRequests('GET', '/schemas/ids/2'), 0);
  await client.getLatest('points-value');
  await client.getLatest('points-value');
  t.is(registry.countRequests('GET', '/subjects/points-value/versions/latest'), 2);
});

test('a 404 carries the registry\'s error_code and message, and is not cached', async (t) => {
  const registry = await startRegistry(t);
  const client = new SchemaRegistryClient({ url: registry.url });
  const error = await t.throwsAsync(client.getSchemaById(1), { instanceOf: SchemaRegistryError });
  t.is(error.message, `GET ${registry.url}/schemas/ids/1 failed with HTTP 404, error_code 40403: Schema not found`);
  t.is(error.kind, 'not-found');
  t.is(error.status, 404);
  t.is(error.errorCode, 40403);
  t.is(error.request, `GET ${registry.url}/schemas/ids/1`);
  const subjectError = await t.throwsAsync(client.getLatest('nothing-value'), { instanceOf: SchemaRegistryError });
  t.is(subjectError.errorCode, 40401);
  t.is(subjectError.kind, 'not-found');
  await new SchemaRegistryClient({ url: registry.url }).register('points-value', pointV1);
  t.deepEqual(await client.getSchemaById(1), { schema: pointV1, schemaType: 'AVRO' });
});

test('an invalid schema is rejected with 422 / 42201', async (t) => {
  const registry = await startRegistry(t);
  const client = new SchemaRegistryClient({ url: registry.url });
  const error = await t.throwsAsync(client.register('bad-value', '{"type":"record","name":"R"}'), { instanceOf: SchemaRegistryError });
  t.is(error.kind, 'rejected');
  t.is(error.status, 422);
  t.is(error.errorCode, 42201);
  t.regex(error.message, /^POST .*\/subjects\/bad-value\/versions failed with HTTP 422, error_code 42201: Invalid schema: /);
});

test('with BACKWARD compatibility the registry refuses a schema that cannot read the previous one (409)', async (t) => {
  const registry = await startRegistry(t, { compatibility: 'BACKWARD' });
  const client = new SchemaRegistryClient({ url: registry.url });
  await client.register('points-value', pointV1);
  const error = await t.throwsAsync(client.register('points-value', pointV3), { instanceOf: SchemaRegistryError });
  t.is(error.status, 409);
  t.is(error.errorCode, 409);
  t.is(await client.register('points-value', pointV2), 2);
  registry.compatibility = 'NONE';
  t.is(await client.register('points-value', pointV3), 3);
});

test('requests carry the Confluent content type, the caller\'s headers, and URL-encoded subjects', async (t) => {
  const registry = await startRegistry(t);
  const seen: Array<{ url: string; headers: Record<string, string> }> = [];
  const recordingFetch: FetchFunction = (input, init) => {
    seen.push({ url: input, headers: init.headers as Record<string, string> });
    return fetch(input, init);
  };
  const client = new SchemaRegistryClient({ url: registry.url, fetch: recordingFetch, headers: { Authorization: 'Basic dXNlcjpwYXNz' } });
  await client.register('team/a value', pointV1);
  await client.getSchemaById(1);
  t.is(seen[0]!.url, `${registry.url}/subjects/team%2Fa%20value/versions`);
  t.deepEqual(seen[0]!.headers, { Accept: SCHEMA_REGISTRY_CONTENT_TYPE, Authorization: 'Basic dXNlcjpwYXNz', 'Content-Type': SCHEMA_REGISTRY_CONTENT_TYPE });
  t.is(seen.length, 1); // the id came back with the registration
  t.deepEqual((await client.getLatest('team/a value')).subject, 'team/a value');
});

test('a registry that does not answer in time is a timeout error', async (t) => {
  const registry = await startRegistry(t);
  registry.responseDelayMs = 400;
  const client = new SchemaRegistryClient({ url: registry.url, requestTimeoutMs: 50 });
  const error = await t.throwsAsync(client.getSchemaById(1), { instanceOf: SchemaRegistryError });
  t.is(error.kind, 'timeout');
  t.is(error.message, `the schema registry did not answer GET ${registry.url}/schemas/ids/1 within 50 ms`);
});

test('a registry that is down is an unreachable error naming the URL and the cause', async (t) => {
  const registry = await SchemaRegistryServer.start();
  await registry.close();
  const client = new SchemaRegistryClient({ url: registry.url });
  const error = await t.throwsAsync(client.register('points-value', pointV1), { instanceOf: SchemaRegistryError });
  t.is(error.kind, 'unreachable');
  t.is(error.message, `the schema registry at ${registry.url} is unreachable (ECONNREFUSED)`);
  t.is(error.status, undefined);
});

test('an answer that is not what the API promises is an invalid-response error', async (t) => {
  const notJson: FetchFunction = () => Promise.resolve(new Response('<html>proxy</html>', { status: 200 }));
  const error = await t.throwsAsync(new SchemaRegistryClient({ url: 'http://registry.invalid', fetch: notJson }).getSchemaById(1), { instanceOf: SchemaRegistryError });
  t.is(error.kind, 'invalid-response');
  t.is(error.message, 'GET http://registry.invalid/schemas/ids/1 answered with a body that is not JSON');
  const noId: FetchFunction = () => Promise.resolve(new Response('{"identifier":1}', { status: 200 }));
  const missing = await t.throwsAsync(new SchemaRegistryClient({ url: 'http://registry.invalid', fetch: noId }).register('s', '"int"'), { instanceOf: SchemaRegistryError });
  t.is(missing.message, 'POST http://registry.invalid/subjects/s/versions answered without a number "id"');
  const htmlError: FetchFunction = () => Promise.resolve(new Response('Bad Gateway', { status: 502, statusText: 'Bad Gateway' }));
  const gateway = await t.throwsAsync(new SchemaRegistryClient({ url: 'http://registry.invalid', fetch: htmlError }).getSchemaById(1), { instanceOf: SchemaRegistryError });
  t.is(gateway.kind, 'rejected');
  t.is(gateway.message, 'GET http://registry.invalid/schemas/ids/1 failed with HTTP 502: Bad Gateway');
});

test('the caches are bounded: past cacheEntriesMax the least recently used id is fetched again', async (t) => {
  const registry = await startRegistry(t);
  const writer = new SchemaRegistryClient({ url: registry.url });
  for (const schema of ['"int"', '"long"', '"string"']) await writer.register(`${schema}-value`, schema);
  const client = new SchemaRegistryClient({ url: registry.url, cacheEntriesMax: 2 });
  await client.getSchemaById(1);
  await client.getSchemaById(2);
  await client.getSchemaById(1); // 1 is now the most recent
  await client.getSchemaById(3); // evicts 2
  await client.getSchemaById(1);
  await client.getSchemaById(2);
  t.is(registry.countRequests('GET', '/schemas/ids/1'), 1);
  t.is(registry.countRequests('GET', '/schemas/ids/2'), 2);
});

test('BoundedMap keeps the most recently used entries', (t) => {
  const map = new BoundedMap<string, number>(2);
  map.set('a', 1);
  map.set('b', 2);
  t.is(map.get('a'), 1);
  map.set('c', 3);
  t.is(map.size, 2);
  t.false(map.has('b'));
  t.is(map.get('a'), 1);
  t.is(map.get('c'), 3);
  t.throws(() => new BoundedMap(0), { instanceOf: RangeError });
});

test('a schema of another type passes through the registry, and the Avro serde refuses it clearly', async (t) => {
  const registry = await startRegistry(t);
  const client = new SchemaRegistryClient({ url: registry.url });
  const id = await client.register('events-value', '{"type":"object"}', 'JSON');
  t.deepEqual(await new SchemaRegistryClient({ url: registry.url }).getSchemaById(id), { schema: '{"type":"object"}', schemaType: 'JSON' });
  const payload = Buffer.from([0, 0, 0, 0, id, 0x02]);
  const error = await t.throwsAsync(deserializeAsync(Serdes.avro({ registry: client }), payload, { topic: 'events', role: 'value' }), { instanceOf: SerdeError });
  t.is(error.reason, 'incompatible-schema');
  t.is(error.message, `cannot deserialize the value of topic "events": schema id ${id} is a JSON schema, not Avro`);
});

test('the test registry refuses bodies above its limit with 413', async (t) => {
  const registry = await startRegistry(t, { requestBytesMax: 64 });
  const client = new SchemaRegistryClient({ url: registry.url });
  const error = await t.throwsAsync(client.register('big-value', JSON.stringify({ type: 'enum', name: 'E', symbols: Array.from({ length: 50 }, (_, index) => `S${index}`) })), {
    instanceOf: SchemaRegistryError,
  });
  t.is(error.status, 413);
});
