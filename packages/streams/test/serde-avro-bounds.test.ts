import test from 'ava';
import type { ExecutionContext } from 'ava';
import avro from 'avsc';
import fc from 'fast-check';
import { SerdeError, Serdes, serializeAsync } from '../src/index.js';
import type { SerdeContext } from '../src/index.js';
import { ZERO_BYTE_ITEMS_MAX, findAvroBoundsProblem, needsAvroBoundsCheck } from '../src/serde/avro-bounds.js';
import { SchemaRegistryServer } from '../src/testing/index.js';

const context: SerdeContext = { topic: 'events', role: 'value' };

const eventSchema = {
  type: 'record',
  name: 'Event',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'counts', type: { type: 'map', values: 'int' } },
    {
      name: 'parts',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Part',
          fields: [
            { name: 'flag', type: 'boolean' },
            { name: 'score', type: 'double' },
            { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['A', 'B', 'C'] } },
            { name: 'code', type: { type: 'fixed', name: 'Code', size: 2 } },
            { name: 'note', type: ['null', 'string'] },
            { name: 'atMs', type: { type: 'long', logicalType: 'timestamp-millis' } },
          ],
        },
      },
    },
    { name: 'gaps', type: { type: 'array', items: 'null' } },
  ],
};
const eventType = avro.Type.forSchema(eventSchema as avro.Schema);

const parts = fc.record({
  flag: fc.boolean(),
  score: fc.double({ noNaN: true }),
  kind: fc.constantFrom('A', 'B', 'C'),
  code: fc.uint8Array({ minLength: 2, maxLength: 2 }).map((bytes) => Buffer.from(bytes)),
  note: fc.option(fc.string(), { nil: null }),
  // avsc has no built-in logical types: without `typeOptions.logicalTypes` this is a plain long.
  atMs: fc.integer({ min: 0, max: 2 ** 40 }),
});
const events = fc.record({
  id: fc.integer({ min: -(2 ** 52), max: 2 ** 52 }),
  tags: fc.array(fc.string(), { maxLength: 5 }),
  // avsc reads a map into a plain object, so a key "__proto__" does not survive (it sets the prototype).
  counts: fc.dictionary(fc.string().filter((key) => key !== '__proto__'), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxKeys: 4 }),
  parts: fc.array(parts, { maxLength: 4 }),
  gaps: fc.array(fc.constant(null), { maxLength: 5 }),
});

async function startRegistry(t: ExecutionContext): Promise<SchemaRegistryServer> {
  const registry = await SchemaRegistryServer.start();
  t.teardown(() => registry.close());
  return registry;
}

test('only schemas with an array or a map need the walk', (t) => {
  t.true(needsAvroBoundsCheck(eventType));
  t.true(needsAvroBoundsCheck(avro.Type.forSchema(['null', { type: 'map', values: 'int' }] as avro.Schema)));
  t.false(needsAvroBoundsCheck(avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }, { name: 'b', type: ['null', 'long'] }] } as avro.Schema)));
  const recursive = avro.Type.forSchema({ type: 'record', name: 'Node', fields: [{ name: 'next', type: ['null', 'Node'] }] } as avro.Schema);
  t.false(needsAvroBoundsCheck(recursive));
});

test('six hostile bytes (a block count of 2^31 - 1) are refused before avsc allocates', (t) => {
  const nulls = avro.Type.forSchema({ type: 'array', items: 'null' } as avro.Schema);
  const ints = avro.Type.forSchema({ type: 'array', items: 'int' } as avro.Schema);
  const map = avro.Type.forSchema({ type: 'map', values: 'null' } as avro.Schema);
  const hostile = Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00]);
  t.is(findAvroBoundsProblem(nulls, hostile, 0), `a block of 2147483647 items cannot fit in the 1 bytes left at byte 5`);
  t.is(findAvroBoundsProblem(ints, hostile, 0), `a block of 2147483647 items cannot fit in the 1 bytes left at byte 5`);
  t.is(findAvroBoundsProblem(map, hostile, 0), `a block of 2147483647 items cannot fit in the 1 bytes left at byte 5`);
  // A negative count (a block with its byte size) is bounded the same way.
  t.regex(findAvroBoundsProblem(ints, Buffer.from([0xfd, 0xff, 0xff, 0xff, 0x0f, 0x02, 0x00]), 0)!, /^a block of 2147483647 items/);
  // Zero-byte items are legal in numbers up to the cap.
  const zigZag = (count: number) => Buffer.from([((count * 2) & 0x7f) | 0x80, (count * 2) >> 7, 0x00]);
  t.is(findAvroBoundsProblem(nulls, zigZag(100), 0), undefined);
  t.is(ZERO_BYTE_ITEMS_MAX, 100_000);
});

test('other impossible lengths are named too', (t) => {
  const strings = avro.Type.forSchema({ type: 'array', items: 'string' } as avro.Schema);
  t.is(findAvroBoundsProblem(strings, Buffer.from([0x02, 0x0a, 0x61, 0x00]), 0), 'the body needs 3 more bytes');
  t.is(findAvroBoundsProblem(strings, Buffer.from([0x02, 0x01, 0x00]), 0), 'a negative length -1 at byte 2');
  t.is(findAvroBoundsProblem(strings, Buffer.from([0x02, 0x80]), 0), 'the body ends inside a varint');
  t.is(findAvroBoundsProblem(strings, Buffer.alloc(11, 0xff), 0), 'a varint longer than 10 bytes at byte 10');
  const union = avro.Type.forSchema({ type: 'array', items: ['null', 'int'] } as avro.Schema);
  t.is(findAvroBoundsProblem(union, Buffer.from([0x02, 0x04, 0x00]), 0), 'union branch 2 of 2 at byte 2');
});

test('valid bodies always pass the walk, and round-trip through the serde (property)', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<unknown>({ registry: registry.url, schema: eventSchema });
  await serde.prepareSerialize(context);
  fc.assert(
    fc.property(events, (event) => {
      const payload = serde.serialize(event, context)!;
      t.is(findAvroBoundsProblem(eventType, payload, 5), undefined);
      t.deepEqual(eventType.toBuffer(serde.deserialize(payload, context)), payload.subarray(5));
    }),
    { numRuns: 200 },
  );
});

test('random and truncated bodies of a schema with collections fail as SerdeErrors, promptly (property)', async (t) => {
  const registry = await startRegistry(t);
  const serde = Serdes.avro<unknown>({ registry: registry.url, schema: eventSchema });
  const header = (await serializeAsync(serde, { id: 1, tags: [], counts: {}, parts: [], gaps: [] }, context))!.subarray(0, 5);
  const isMalformed = (payload: Buffer): boolean => {
    try {
      serde.deserialize(payload, context);
      return true;
    } catch (error) {
      return error instanceof SerdeError && error.reason === 'malformed';
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (body) => isMalformed(Buffer.concat([header, body]))), { numRuns: 2000 });
  fc.assert(
    fc.property(events, fc.nat(), (event, cut) => {
      const payload = serde.serialize(event, context)!;
      return isMalformed(payload.subarray(0, 5 + (cut % (payload.length - 5))));
    }),
  );
  const hostile = Buffer.concat([header, Buffer.from([0x00, 0x00, 0x00, 0x00, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00])]);
  const error = t.throws(() => serde.deserialize(hostile, context), { instanceOf: SerdeError });
  t.is(error.message, 'cannot deserialize the value of topic "events": the Avro body does not fit schema id 1: a block of 2147483647 items cannot fit in the 1 bytes left at byte 14');
});

test('logical types are walked through their underlying type', (t) => {
  /** A set of strings stored as an Avro array. */
  class StringSetType extends avro.types.LogicalType {
    override _fromValue(value: unknown): unknown {
      return new Set(value as string[]);
    }
    override _toValue(value: unknown): unknown {
      return value instanceof Set ? [...(value as Set<string>)] : undefined;
    }
  }
  const type = avro.Type.forSchema({ type: 'array', items: 'string', logicalType: 'string-set' } as avro.Schema, { logicalTypes: { 'string-set': StringSetType } });
  t.is(type.typeName, 'logical:string-set');
  t.true(needsAvroBoundsCheck(type));
  const valid = type.toBuffer(new Set(['a', 'b']));
  t.is(findAvroBoundsProblem(type, valid, 0), undefined);
  t.is(findAvroBoundsProblem(type, Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00]), 0), 'a block of 2147483647 items cannot fit in the 1 bytes left at byte 5');
});
