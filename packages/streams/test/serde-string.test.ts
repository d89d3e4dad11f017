import test from 'ava';
import fc from 'fast-check';
import { SerdeError, Serdes } from '../src/index.js';
import type { SerdeContext } from '../src/index.js';

const context: SerdeContext = { topic: 'greetings', role: 'value', partition: 2, offset: 41n };

test('a string round-trips as UTF-8, byte for byte what Kafka StringSerializer writes', (t) => {
  const serde = Serdes.string();
  t.deepEqual(serde.serialize('héllo €', context), Buffer.from([0x68, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f, 0x20, 0xe2, 0x82, 0xac]));
  t.is(serde.deserialize(Buffer.from('héllo €'), context), 'héllo €');
  t.deepEqual(serde.serialize('', context), Buffer.alloc(0));
  t.is(serde.deserialize(Buffer.alloc(0), context), '');
});

test('any well-formed string round-trips (property)', (t) => {
  const serde = Serdes.string();
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (text) => {
      const bytes = serde.serialize(text, context);
      return bytes !== null && serde.deserialize(bytes, context) === text;
    }),
  );
  t.pass();
});

test('null is a tombstone both ways', (t) => {
  const serde = Serdes.string();
  t.is(serde.serialize(null, context), null);
  t.is(serde.deserialize(null, context), null);
});

test('bytes that are not UTF-8 are a SerdeError that says where; replace mode decodes them like Kafka', (t) => {
  const garbage = Buffer.from([0x61, 0xff, 0xfe, 0x62]);
  const error = t.throws(() => Serdes.string().deserialize(garbage, context), { instanceOf: SerdeError });
  t.is(error.message, 'cannot deserialize the value of topic "greetings" partition 2 offset 41: 4 bytes are not valid UTF-8');
  t.is(error.reason, 'malformed');
  t.is(error.operation, 'deserialize');
  t.is(error.topic, 'greetings');
  t.is(error.role, 'value');
  t.is(error.partition, 2);
  t.is(error.offset, 41n);
  t.is(Serdes.string({ invalidUtf8: 'replace' }).deserialize(garbage, context), 'a\ufffd\ufffdb');
});

test('a non-string value is a SerdeError on serialize', (t) => {
  const error = t.throws(() => Serdes.string().serialize(42 as unknown as string, { topic: 't', role: 'key' }), { instanceOf: SerdeError });
  t.is(error.message, 'cannot serialize the key of topic "t": expected a string, got number');
  t.is(error.reason, 'invalid-value');
});

test('random bytes either decode or throw SerdeError, never anything else (property)', (t) => {
  const serde = Serdes.string();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
      try {
        return typeof serde.deserialize(Buffer.from(raw), context) === 'string';
      } catch (error) {
        return error instanceof SerdeError && error.reason === 'malformed';
      }
    }),
  );
  t.pass();
});
