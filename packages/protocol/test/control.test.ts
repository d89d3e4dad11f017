import test from 'ava';
import fc from 'fast-check';
import { DecodeError, decodeControlRecord, decodeRecordBatch, encodeControlBatch, isControl, isTransactional, readBatchHeader, verifyBatchCrc } from '@defter/protocol';
import { kafkajsDecodeBatch } from './interop-helpers.js';

test('exact bytes of a commit marker batch', (t) => {
  const batch = encodeControlBatch({ producerId: 5n, producerEpoch: 1, type: 'commit', coordinatorEpoch: 7, timestamp: 99n, baseOffset: 42n });
  const hex = batch.toString('hex');
  t.is(
    hex,
    '000000000000002a' + // baseOffset 42
      '00000042' + // batchLength 66: 49 after the length field + 17 of record
      'ffffffff' + // partitionLeaderEpoch -1
      '02' + // magic
      hex.slice(34, 42) + // crc (verified below)
      '0030' + // attributes: transactional (0x10) + control (0x20), no compression
      '00000000' + // lastOffsetDelta
      '0000000000000063' + // baseTimestamp 99
      '0000000000000063' + // maxTimestamp 99
      '0000000000000005' + // producerId
      '0001' + // producerEpoch
      'ffffffff' + // baseSequence -1
      '00000001' + // one record
      '20' + // record length 16
      '00' + // attributes
      '00' + // timestampDelta 0
      '00' + // offsetDelta 0
      '08' + '00000001' + // key: 4 bytes, version 0, type 1 (commit)
      '0c' + '0000' + '00000007' + // value: 6 bytes, version 0, coordinatorEpoch 7
      '00', // no headers
  );
  t.true(verifyBatchCrc(batch));
  t.is(batch.readUInt32BE(17), 0x645b5b8f);
});

test('control batches round trip for both marker types', (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom('commit' as const, 'abort' as const),
      fc.bigInt({ min: 0n, max: 2n ** 62n }),
      fc.integer({ min: 0, max: 32767 }),
      fc.integer({ min: -1, max: 2 ** 31 - 1 }),
      fc.bigInt({ min: 0n, max: 2n ** 50n }),
      (type, producerId, producerEpoch, coordinatorEpoch, timestamp) => {
        const encoded = encodeControlBatch({ producerId, producerEpoch, type, coordinatorEpoch, timestamp });
        const header = readBatchHeader(encoded);
        t.true(isControl(header.attributes));
        t.true(isTransactional(header.attributes));
        t.is(header.baseSequence, -1);
        t.is(header.recordsCount, 1);
        const batch = decodeRecordBatch(encoded);
        t.is(batch.producerId, producerId);
        t.is(batch.producerEpoch, producerEpoch);
        t.is(batch.baseTimestamp, timestamp);
        t.deepEqual(decodeControlRecord(batch.records[0]!), { type, version: 0, coordinatorEpoch });
      },
    ),
    { numRuns: 200 },
  );
});

test('kafkajs sees our marker as a control batch in a transaction', async (t) => {
  const seen = await kafkajsDecodeBatch(encodeControlBatch({ producerId: 9n, producerEpoch: 0, type: 'abort', coordinatorEpoch: 3, timestamp: 1n }));
  t.true(seen.isControlBatch);
  t.true(seen.inTransaction);
  t.deepEqual(seen.records[0]!.key, Buffer.from([0, 0, 0, 0]));
});

test('other control types (KRaft markers) are reported, not misread', (t) => {
  const record = { offsetDelta: 0, timestampDelta: 0n, key: Buffer.from([0, 0, 0, 2]), value: Buffer.from([0, 0, 1]), headers: [] };
  t.deepEqual(decodeControlRecord(record), { type: 'unknown', typeId: 2, version: 0 });
});

test('a newer key version is read as far as version 0 goes', (t) => {
  const record = { offsetDelta: 0, timestampDelta: 0n, key: Buffer.from([0, 1, 0, 1, 0xff]), value: Buffer.from([0, 0, 0, 0, 0, 9]), headers: [] };
  t.deepEqual(decodeControlRecord(record), { type: 'commit', version: 1, coordinatorEpoch: 9 });
});

test('malformed control records are DecodeErrors', (t) => {
  const base = { offsetDelta: 0, timestampDelta: 0n, headers: [] };
  t.throws(() => decodeControlRecord({ ...base, key: null, value: null }), { instanceOf: DecodeError, message: /key/ });
  t.throws(() => decodeControlRecord({ ...base, key: Buffer.from([0, 0, 1]), value: null }), { instanceOf: DecodeError, message: /key/ });
  t.throws(() => decodeControlRecord({ ...base, key: Buffer.from([0xff, 0xff, 0, 1]), value: Buffer.alloc(6) }), { instanceOf: DecodeError, message: /version -1/ });
  t.throws(() => decodeControlRecord({ ...base, key: Buffer.from([0, 0, 0, 1]), value: Buffer.alloc(5) }), { instanceOf: DecodeError, message: /marker/ });
  t.throws(() => decodeControlRecord({ ...base, key: Buffer.from([0, 0, 0, 0]), value: null }), { instanceOf: DecodeError, message: /marker/ });
});
