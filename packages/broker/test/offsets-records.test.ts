import test from 'ava';
import fc from 'fast-check';
import { DecodeError, Writer } from '@defter/protocol';
import {
  decodeOffsetCommitValue,
  decodeOffsetsTopicKey,
  encodeOffsetCommitKey,
  encodeOffsetCommitValue,
  OFFSET_COMMIT_VALUE_VERSION,
} from '../src/group/offset-records.js';

test('an offset commit key has Kafka layout: version 1, group, topic, partition', (t) => {
  const bytes = encodeOffsetCommitKey({ group: 'g1', topic: 'orders', partition: 7 });
  t.deepEqual(
    [...bytes],
    [0, 1, 0, 2, ...Buffer.from('g1'), 0, 6, ...Buffer.from('orders'), 0, 0, 0, 7],
  );
  t.deepEqual(decodeOffsetsTopicKey(bytes), { type: 'offset-commit', version: 1, key: { group: 'g1', topic: 'orders', partition: 7 } });
});

test('an offset commit value is written as version 3: offset, leader epoch, metadata, commit timestamp', (t) => {
  const bytes = encodeOffsetCommitValue({ offset: 42n, leaderEpoch: 5, metadata: 'm', commitTimestampMs: 1_700_000_000_000 });
  const expected = new Writer().int16(3).int64(42n).int32(5).string('m').int64(1_700_000_000_000n).finish();
  t.deepEqual(bytes, expected);
  t.is(OFFSET_COMMIT_VALUE_VERSION, 3);
  t.deepEqual(decodeOffsetCommitValue(bytes), { offset: 42n, leaderEpoch: 5, metadata: 'm', commitTimestampMs: 1_700_000_000_000, expireTimestampMs: -1 });
});

test('older and flexible value versions decode', (t) => {
  const v0 = new Writer().int16(0).int64(10n).string('zero').int64(100n).finish();
  t.deepEqual(decodeOffsetCommitValue(v0), { offset: 10n, leaderEpoch: -1, metadata: 'zero', commitTimestampMs: 100, expireTimestampMs: -1 });
  const v1 = new Writer().int16(1).int64(11n).string('one').int64(101n).int64(9_999n).finish();
  t.deepEqual(decodeOffsetCommitValue(v1), { offset: 11n, leaderEpoch: -1, metadata: 'one', commitTimestampMs: 101, expireTimestampMs: 9_999 });
  const v2 = new Writer().int16(2).int64(12n).string('two').int64(102n).finish();
  t.deepEqual(decodeOffsetCommitValue(v2), { offset: 12n, leaderEpoch: -1, metadata: 'two', commitTimestampMs: 102, expireTimestampMs: -1 });
  // v4: compact string and tagged fields (one unknown tag of two bytes is skipped).
  const v4 = new Writer().int16(4).int64(13n).int32(3).compactString('four').int64(103n).unsignedVarint(1).unsignedVarint(9).unsignedVarint(2).raw(Buffer.from([1, 2])).finish();
  t.deepEqual(decodeOffsetCommitValue(v4), { offset: 13n, leaderEpoch: 3, metadata: 'four', commitTimestampMs: 103, expireTimestampMs: -1 });
  // A later version is read with the v4 layout and may carry more after it.
  const v5 = Buffer.concat([new Writer().int16(5).int64(14n).int32(3).compactString('five').int64(104n).unsignedVarint(0).finish(), Buffer.from([7])]);
  t.is(decodeOffsetCommitValue(v5).metadata, 'five');
});

test('group metadata keys and unknown key versions are recognised, not mistaken for commits', (t) => {
  const groupKey = new Writer().int16(2).string('g').finish();
  t.deepEqual(decodeOffsetsTopicKey(groupKey), { type: 'group-metadata', version: 2, group: 'g' });
  t.deepEqual(decodeOffsetsTopicKey(new Writer().int16(3).string('x').finish()), { type: 'unknown', version: 3 });
  const v0Key = new Writer().int16(0).string('g').string('t').int32(0).finish();
  t.deepEqual(decodeOffsetsTopicKey(v0Key), { type: 'offset-commit', version: 0, key: { group: 'g', topic: 't', partition: 0 } });
});

test('keys and values round-trip for any strings and numbers (property)', (t) => {
  const shortString = fc.string({ unit: 'grapheme', maxLength: 40 });
  fc.assert(
    fc.property(shortString, shortString, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (group, topic, partition) => {
      const decoded = decodeOffsetsTopicKey(encodeOffsetCommitKey({ group, topic, partition }));
      return decoded.type === 'offset-commit' && decoded.key.group === group && decoded.key.topic === topic && decoded.key.partition === partition;
    }),
  );
  fc.assert(
    fc.property(
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      fc.string({ unit: 'grapheme', maxLength: 200 }),
      fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
      (offset, leaderEpoch, metadata, commitTimestampMs) => {
        const decoded = decodeOffsetCommitValue(encodeOffsetCommitValue({ offset, leaderEpoch, metadata, commitTimestampMs }));
        t.deepEqual(decoded, { offset, leaderEpoch, metadata, commitTimestampMs, expireTimestampMs: -1 });
        return true;
      },
    ),
  );
});

test('hostile bytes only ever throw DecodeError (property)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
      const bytes = Buffer.from(raw);
      for (const decode of [decodeOffsetsTopicKey, decodeOffsetCommitValue]) {
        try {
          decode(bytes);
        } catch (error) {
          if (!(error instanceof DecodeError)) return false;
        }
      }
      return true;
    }),
  );
  // Truncations of valid records fail cleanly at every cut.
  const key = encodeOffsetCommitKey({ group: 'group', topic: 'topic', partition: 1 });
  const value = encodeOffsetCommitValue({ offset: 1n, leaderEpoch: 0, metadata: 'meta', commitTimestampMs: 5 });
  for (let cut = 0; cut < key.length; cut++) t.throws(() => decodeOffsetsTopicKey(key.subarray(0, cut)), { instanceOf: DecodeError });
  for (let cut = 0; cut < value.length; cut++) t.throws(() => decodeOffsetCommitValue(value.subarray(0, cut)), { instanceOf: DecodeError });
  t.throws(() => decodeOffsetsTopicKey(Buffer.concat([key, Buffer.from([0])])), { instanceOf: DecodeError, message: /trailing/ });
  t.throws(() => decodeOffsetCommitValue(Buffer.concat([value, Buffer.from([0])])), { instanceOf: DecodeError, message: /trailing/ });
  t.throws(() => decodeOffsetsTopicKey(Buffer.from([0xff, 0xff])), { instanceOf: DecodeError, message: /negative key version/ });
  t.throws(() => decodeOffsetCommitValue(new Writer().int16(3).int64(1n).int32(0).int16(-1).int64(0n).finish()), { instanceOf: DecodeError, message: /null/ });
  // A tagged-field count far beyond the bytes present.
  const hugeTags = new Writer().int16(4).int64(1n).int32(0).compactString('').int64(0n).unsignedVarint(0x7fffffff).finish();
  t.throws(() => decodeOffsetCommitValue(hugeTags), { instanceOf: DecodeError });
});
