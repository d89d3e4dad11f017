import test from 'ava';
import fc from 'fast-check';
import { SerdeError, Serdes } from '../src/index.js';
import type { SerdeContext } from '../src/index.js';

const context: SerdeContext = { topic: 'orders', role: 'value', partition: 1, offset: 100n };

interface Order {
  id: string;
  amountCents: number;
}

function isOrder(value: unknown): value is Order {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return typeof candidate['id'] === 'string' && typeof candidate['amountCents'] === 'number';
}

test('a value serializes to its JSON text in UTF-8 and back', (t) => {
  const serde = Serdes.json<Order>();
  const bytes = serde.serialize({ id: 'o-1', amountCents: 250 }, context);
  t.is(bytes?.toString('utf8'), '{"id":"o-1","amountCents":250}');
  t.deepEqual(serde.deserialize(Buffer.from('{"id":"o-2","amountCents":5}'), context), { id: 'o-2', amountCents: 5 });
});

test('any JSON value round-trips (property)', (t) => {
  const serde = Serdes.json<unknown>();
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      if (value === null) return true; // null is the tombstone, checked below
      const expected: unknown = JSON.parse(JSON.stringify(value));
      t.deepEqual(serde.deserialize(serde.serialize(value, context), context), expected);
    }),
  );
});

test('null is a tombstone, not the JSON text "null"', (t) => {
  const serde = Serdes.json<Order>();
  t.is(serde.serialize(null, context), null);
  t.is(serde.deserialize(null, context), null);
});

test('bytes that are not JSON are a SerdeError carrying the parser error', (t) => {
  const error = t.throws(() => Serdes.json().deserialize(Buffer.from('{"id": '), context), { instanceOf: SerdeError });
  t.regex(error.message, /^cannot deserialize the value of topic "orders" partition 1 offset 100: not valid JSON \(.+\)$/);
  t.is(error.reason, 'malformed');
  t.true(error.cause instanceof SyntaxError);
  t.throws(() => Serdes.json().deserialize(Buffer.from([0x22, 0xff, 0x22]), context), { instanceOf: SerdeError, message: /3 bytes are not valid UTF-8/ });
});

test('a type guard that returns false rejects the value with reason validation', (t) => {
  const serde = Serdes.json<Order>({ validate: isOrder });
  t.deepEqual(serde.deserialize(Buffer.from('{"id":"a","amountCents":1}'), context), { id: 'a', amountCents: 1 });
  const error = t.throws(() => serde.deserialize(Buffer.from('{"id":7}'), context), { instanceOf: SerdeError });
  t.is(error.message, 'cannot deserialize the value of topic "orders" partition 1 offset 100: failed validation');
  t.is(error.reason, 'validation');
});

test('an assertion that throws rejects the value, and its message is kept', (t) => {
  const serde = Serdes.json<Order>({
    validate: (value: unknown) => {
      if (!isOrder(value)) throw new Error('amountCents must be a number');
    },
  });
  const error = t.throws(() => serde.deserialize(Buffer.from('{"id":"a","amountCents":"1"}'), context), { instanceOf: SerdeError });
  t.is(error.message, 'cannot deserialize the value of topic "orders" partition 1 offset 100: failed validation (amountCents must be a number)');
  t.is((error.cause as Error).message, 'amountCents must be a number');
});

test('values JSON cannot write are a SerdeError on serialize', (t) => {
  const serde = Serdes.json<unknown>();
  t.throws(() => serde.serialize(10n, context), { instanceOf: SerdeError, message: /not JSON-serializable \(.*BigInt.*\)/ });
  t.throws(() => serde.serialize(undefined, context), { instanceOf: SerdeError, message: /a undefined is not JSON-serializable/ });
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  t.throws(() => serde.serialize(cyclic, context), { instanceOf: SerdeError, message: /not JSON-serializable/ });
});

test('random bytes either parse or throw SerdeError (property)', (t) => {
  const serde = Serdes.json<unknown>({ validate: isOrder });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
      try {
        serde.deserialize(Buffer.from(raw), context);
        return true;
      } catch (error) {
        return error instanceof SerdeError;
      }
    }),
  );
  t.pass();
});
