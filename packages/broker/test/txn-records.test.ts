import test from 'ava';
import fc from 'fast-check';
import { DecodeError, Writer } from '@defter/protocol';
import {
  decodeTransactionLogKey,
  decodeTransactionLogValue,
  encodeTransactionLogKey,
  encodeTransactionLogValue,
  TRANSACTION_LOG_VALUE_VERSION,
} from '../src/txn/transaction-state-records.js';
import type { TransactionLogValue } from '../src/txn/transaction-state-records.js';
import { TRANSACTION_STATES, transactionStateFromId, transactionStateId } from '../src/txn/transaction-state.js';

const ongoing: TransactionLogValue = {
  producerId: 0n,
  previousProducerId: -1n,
  nextProducerId: -1n,
  producerEpoch: 0,
  transactionTimeoutMs: 60_000,
  state: 'Ongoing',
  partitions: [{ topic: 'txtest', partitions: [0] }],
  lastUpdateTimestampMs: 0x19e7b4b367a,
  startTimestampMs: 0x19e7b4b367a,
  clientTransactionVersion: 0,
};

test('state ids are Kafka status bytes 0..7', (t) => {
  t.deepEqual(
    TRANSACTION_STATES.map((state) => [state, transactionStateId(state)]),
    [
      ['Empty', 0],
      ['Ongoing', 1],
      ['PrepareCommit', 2],
      ['PrepareAbort', 3],
      ['CompleteCommit', 4],
      ['CompleteAbort', 5],
      ['Dead', 6],
      ['PrepareEpochFence', 7],
    ],
  );
  t.is(transactionStateFromId(8), undefined);
  t.is(transactionStateFromId(-1), undefined);
});

test('a key is int16 version 0 then the transactional id as a classic string', (t) => {
  const bytes = encodeTransactionLogKey('my-txn');
  t.deepEqual([...bytes], [0, 0, 0, 6, ...Buffer.from('my-txn')]);
  t.deepEqual(decodeTransactionLogKey(bytes), { type: 'transaction', version: 0, transactionalId: 'my-txn' });
});

test('keys of other versions are reported as unknown; negative versions and trailing bytes are errors', (t) => {
  t.deepEqual(decodeTransactionLogKey(new Writer().int16(3).string('x').finish()), { type: 'unknown', version: 3 });
  t.throws(() => decodeTransactionLogKey(new Writer().int16(-2).finish()), { instanceOf: DecodeError });
  t.throws(() => decodeTransactionLogKey(Buffer.from([0, 0, 0, 1, 0x61, 0x62])), { instanceOf: DecodeError });
});

test('a value is written as flexible version 1, byte for byte as Kafka 4 writes an Ongoing transaction', (t) => {
  const bytes = encodeTransactionLogValue(ongoing);
  // Kafka 4.0 (transaction.version 1): version, producer id, epoch, timeout, status, compact nullable
  // partitions array [compact topic, compact [int32], no tags], last update, start, no tags.
  const kafka = Buffer.from(
    '0001' + '0000000000000000' + '0000' + '0000ea60' + '01' + '02' + '07' + '747874657374' + '02' + '00000000' + '00' +
      '0000019e7b4b367a' + '0000019e7b4b367a' + '00',
    'hex',
  );
  t.is(TRANSACTION_LOG_VALUE_VERSION, 1);
  t.is(kafka.length, 48);
  t.deepEqual(bytes, kafka);
  t.deepEqual(decodeTransactionLogValue(bytes), ongoing);
});

test('tagged fields are written in tag order, only when not their default', (t) => {
  const value: TransactionLogValue = {
    ...ongoing,
    producerId: 12n,
    previousProducerId: 11n,
    nextProducerId: 10n,
    producerEpoch: 2,
    state: 'PrepareCommit',
    partitions: [
      { topic: 'a', partitions: [0, 1, 2] },
      { topic: 'b', partitions: [3] },
    ],
    lastUpdateTimestampMs: 123,
    startTimestampMs: 100,
    clientTransactionVersion: 2,
  };
  const expected = new Writer()
    .int16(1)
    .int64(12n)
    .int16(2)
    .int32(60_000)
    .int8(2)
    .compactArrayLength(2)
    .compactString('a')
    .compactArrayLength(3)
    .int32(0)
    .int32(1)
    .int32(2)
    .unsignedVarint(0)
    .compactString('b')
    .compactArrayLength(1)
    .int32(3)
    .unsignedVarint(0)
    .int64(123n)
    .int64(100n)
    .unsignedVarint(3)
    .unsignedVarint(0)
    .unsignedVarint(8)
    .int64(11n)
    .unsignedVarint(1)
    .unsignedVarint(8)
    .int64(10n)
    .unsignedVarint(2)
    .unsignedVarint(2)
    .int16(2)
    .finish();
  const bytes = encodeTransactionLogValue(value);
  t.deepEqual(bytes, expected);
  t.deepEqual(decodeTransactionLogValue(bytes), value);
});

test('state Empty is written with a null partitions array and read with none', (t) => {
  const empty: TransactionLogValue = { ...ongoing, state: 'Empty', partitions: [], startTimestampMs: -1, producerEpoch: 3 };
  const bytes = encodeTransactionLogValue(empty);
  const expected = new Writer().int16(1).int64(0n).int16(3).int32(60_000).int8(0).compactArrayLength(null).int64(0x19e7b4b367an).int64(-1n).unsignedVarint(0).finish();
  t.deepEqual(bytes, expected);
  t.deepEqual(decodeTransactionLogValue(bytes), empty);
  t.throws(() => encodeTransactionLogValue({ ...empty, partitions: [{ topic: 'x', partitions: [1] }] }), { instanceOf: RangeError });
  // Kafka ignores partitions listed in an Empty value; so does defter.
  const listed = new Writer().int16(1).int64(0n).int16(3).int32(60_000).int8(0).compactArrayLength(1).compactString('x').compactArrayLength(1).int32(1).unsignedVarint(0).int64(5n).int64(-1n).unsignedVarint(0).finish();
  t.deepEqual(decodeTransactionLogValue(listed).partitions, []);
});

test('version 0 values (classic strings and arrays, no tags) are written on request and read', (t) => {
  const bytes = encodeTransactionLogValue({ ...ongoing, previousProducerId: 9n, clientTransactionVersion: 2 }, 0);
  const expected = new Writer().int16(0).int64(0n).int16(0).int32(60_000).int8(1).arrayLength(1).string('txtest').arrayLength(1).int32(0).int64(0x19e7b4b367an).int64(0x19e7b4b367an).finish();
  t.deepEqual(bytes, expected);
  // Fields v0 lacks come back as their defaults.
  t.deepEqual(decodeTransactionLogValue(bytes), ongoing);
  const nullPartitions = new Writer().int16(0).int64(7n).int16(1).int32(1000).int8(4).arrayLength(null).int64(10n).int64(9n).finish();
  t.deepEqual(decodeTransactionLogValue(nullPartitions), {
    producerId: 7n,
    previousProducerId: -1n,
    nextProducerId: -1n,
    producerEpoch: 1,
    transactionTimeoutMs: 1000,
    state: 'CompleteCommit',
    partitions: [],
    lastUpdateTimestampMs: 10,
    startTimestampMs: 9,
    clientTransactionVersion: 0,
  });
});

test('unknown value versions, unknown statuses and trailing bytes are DecodeErrors', (t) => {
  const v2 = Buffer.from(encodeTransactionLogValue(ongoing));
  v2.writeInt16BE(2, 0);
  t.throws(() => decodeTransactionLogValue(v2), { instanceOf: DecodeError, message: /unknown value version 2/ });
  const badStatus = Buffer.from(encodeTransactionLogValue(ongoing));
  badStatus.writeInt8(9, 16);
  t.throws(() => decodeTransactionLogValue(badStatus), { instanceOf: DecodeError, message: /unknown transaction status 9/ });
  t.throws(() => decodeTransactionLogValue(Buffer.concat([encodeTransactionLogValue(ongoing), Buffer.from([0])])), { instanceOf: DecodeError });
  t.throws(() => decodeTransactionLogValue(encodeTransactionLogValue(ongoing).subarray(0, 30)), { instanceOf: DecodeError });
});

const int64 = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n });
const timestamp = fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER });
const partitionsArb = fc.uniqueArray(
  fc.record({ topic: fc.string({ minLength: 1, maxLength: 20 }), partitions: fc.uniqueArray(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { minLength: 1, maxLength: 5 }) }),
  { selector: (entry) => entry.topic, maxLength: 4 },
);

test('values round-trip for any content (property)', (t) => {
  fc.assert(
    fc.property(
      int64,
      fc.oneof(fc.constant(-1n), int64),
      fc.oneof(fc.constant(-1n), int64),
      fc.integer({ min: 0, max: 0x7fff }),
      fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      fc.constantFrom(...TRANSACTION_STATES),
      partitionsArb,
      timestamp,
      timestamp,
      fc.constantFrom(0, 1, 2),
      (producerId, previousProducerId, nextProducerId, producerEpoch, transactionTimeoutMs, state, partitions, lastUpdateTimestampMs, startTimestampMs, clientTransactionVersion) => {
        const value: TransactionLogValue = {
          producerId,
          previousProducerId,
          nextProducerId,
          producerEpoch,
          transactionTimeoutMs,
          state,
          partitions: state === 'Empty' ? [] : partitions,
          lastUpdateTimestampMs,
          startTimestampMs,
          clientTransactionVersion,
        };
        t.deepEqual(decodeTransactionLogValue(encodeTransactionLogValue(value)), value);
        const key = `txn-${producerId}`;
        const decodedKey = decodeTransactionLogKey(encodeTransactionLogKey(key));
        return decodedKey.type === 'transaction' && decodedKey.transactionalId === key;
      },
    ),
  );
});

test('hostile bytes only ever throw DecodeError (property)', (t) => {
  const seed = encodeTransactionLogValue({ ...ongoing, previousProducerId: 3n, clientTransactionVersion: 2 });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 80 }),
        // Mutations of a valid value reach deeper than random bytes.
        fc.tuple(fc.integer({ min: 0, max: seed.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
          const copy = Buffer.from(seed);
          copy[at] = byte;
          return copy;
        }),
      ),
      (raw) => {
        const bytes = Buffer.from(raw);
        for (const decode of [decodeTransactionLogKey, decodeTransactionLogValue]) {
          try {
            decode(bytes);
          } catch (error) {
            if (!(error instanceof DecodeError)) return false;
          }
        }
        return true;
      },
    ),
  );
  t.pass();
});
