import test from 'ava';
import fc from 'fast-check';
import { SerdeError, Serdes } from '../src/index.js';
import type { SerdeContext } from '../src/index.js';

const context: SerdeContext = { topic: 'counts', role: 'key', partition: 0, offset: 7n };

test('int32 is 4 big-endian bytes, like Kafka IntegerSerializer', (t) => {
  const serde = Serdes.int32();
  t.deepEqual(serde.serialize(1, context), Buffer.from([0, 0, 0, 1]));
  t.deepEqual(serde.serialize(-2, context), Buffer.from([0xff, 0xff, 0xff, 0xfe]));
  t.deepEqual(serde.serialize(0x01020304, context), Buffer.from([1, 2, 3, 4]));
  t.is(serde.deserialize(Buffer.from([0x80, 0, 0, 0]), context), -(2 ** 31));
});

test('int64 is 8 big-endian bytes as a bigint, like Kafka LongSerializer', (t) => {
  const serde = Serdes.int64();
  t.deepEqual(serde.serialize(258n, context), Buffer.from([0, 0, 0, 0, 0, 0, 1, 2]));
  t.deepEqual(serde.serialize(-1n, context), Buffer.alloc(8, 0xff));
  t.is(serde.deserialize(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), context), 2n ** 63n - 1n);
});

test('float64 is an 8-byte big-endian IEEE 754 double, like Kafka DoubleSerializer', (t) => {
  const serde = Serdes.float64();
  t.deepEqual(serde.serialize(1.5, context), Buffer.from([0x3f, 0xf8, 0, 0, 0, 0, 0, 0]));
  t.deepEqual(serde.serialize(-0, context), Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0]));
  t.true(Number.isNaN(serde.deserialize(serde.serialize(Number.NaN, context), context)));
});

test('every int32, int64 and double round-trips (property)', (t) => {
  const int32 = Serdes.int32();
  const int64 = Serdes.int64();
  const float64 = Serdes.float64();
  fc.assert(
    fc.property(fc.integer(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.double(), (a, b, c) => {
      return (
        int32.deserialize(int32.serialize(a, context), context) === a &&
        int64.deserialize(int64.serialize(b, context), context) === b &&
        Object.is(float64.deserialize(float64.serialize(c, context), context), c)
      );
    }),
  );
  t.pass();
});

test('null is a tombstone for every number serde', (t) => {
  for (const serde of [Serdes.int32(), Serdes.float64()]) {
    t.is(serde.serialize(null, context), null);
    t.is(serde.deserialize(null, context), null);
  }
  t.is(Serdes.int64().serialize(null, context), null);
  t.is(Serdes.int64().deserialize(null, context), null);
});

test('a payload of the wrong width is a SerdeError, like Kafka "Size of data received … is not 4"', (t) => {
  const error = t.throws(() => Serdes.int32().deserialize(Buffer.from([1, 2, 3]), context), { instanceOf: SerdeError });
  t.is(error.message, 'cannot deserialize the key of topic "counts" partition 0 offset 7: expected 4 bytes for int32, got 3');
  t.is(error.reason, 'malformed');
  t.throws(() => Serdes.int64().deserialize(Buffer.alloc(9), context), { instanceOf: SerdeError, message: /expected 8 bytes for int64, got 9/ });
  t.throws(() => Serdes.float64().deserialize(Buffer.alloc(0), context), { instanceOf: SerdeError, message: /expected 8 bytes for float64, got 0/ });
});

test('values out of range or of the wrong type are a SerdeError on serialize', (t) => {
  t.throws(() => Serdes.int32().serialize(2 ** 31, context), { instanceOf: SerdeError, message: /2147483648 is not a 32-bit signed integer/ });
  t.throws(() => Serdes.int32().serialize(1.5, context), { instanceOf: SerdeError, message: /1\.5 is not a 32-bit signed integer/ });
  t.throws(() => Serdes.int64().serialize(2n ** 63n, context), { instanceOf: SerdeError, message: /is not a 64-bit signed integer/ });
  t.throws(() => Serdes.int64().serialize(5 as unknown as bigint, context), { instanceOf: SerdeError, message: /5 is not a 64-bit signed integer as a bigint/ });
  t.throws(() => Serdes.float64().serialize('1' as unknown as number, context), { instanceOf: SerdeError, message: /expected a number, got string/ });
});
