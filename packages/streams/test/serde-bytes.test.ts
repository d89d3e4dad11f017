import test from 'ava';
import fc from 'fast-check';
import { SerdeError, Serdes } from '../src/index.js';
import type { SerdeContext } from '../src/index.js';

const context: SerdeContext = { topic: 'blobs', role: 'value' };

test('bytes round-trip unchanged (property)', (t) => {
  const serde = Serdes.bytes();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 256 }), (raw) => {
      const bytes = serde.serialize(Buffer.from(raw), context);
      return bytes !== null && Buffer.from(raw).equals(bytes) && Buffer.from(raw).equals(serde.deserialize(bytes, context)!);
    }),
  );
  t.pass();
});

test('deserialize copies by default, so a reused fetch buffer cannot change a value; copy: false is a view', (t) => {
  const fetched = Buffer.from([1, 2, 3]);
  const copied = Serdes.bytes().deserialize(fetched, context)!;
  const view = Serdes.bytes({ copy: false }).deserialize(fetched, context)!;
  fetched[0] = 9;
  t.deepEqual([...copied], [1, 2, 3]);
  t.deepEqual([...view], [9, 2, 3]);
});

test('a Uint8Array serializes as a view; null is a tombstone; anything else is a SerdeError', (t) => {
  const serde = Serdes.bytes();
  const array = new Uint8Array([5, 6, 7]).subarray(1);
  t.deepEqual(serde.serialize(array as Buffer, context), Buffer.from([6, 7]));
  t.is(serde.serialize(null, context), null);
  t.is(serde.deserialize(null, context), null);
  const error = t.throws(() => serde.serialize('text' as unknown as Buffer, context), { instanceOf: SerdeError });
  t.is(error.message, 'cannot serialize the value of topic "blobs": expected a Buffer, got string');
});
