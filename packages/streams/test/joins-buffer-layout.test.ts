/**
 * The stream–stream join buffer's key layout (src/state/join-buffer-layout.ts): round trips,
 * bytewise order = (side, key, time, sequence) for records and time first for the expiry index,
 * and the ranges a join reads, checked against a filter over random keys (fast-check).
 */
import test from 'ava';
import fc from 'fast-check';
import {
  decodeJoinExpiryKey,
  decodeJoinMeta,
  decodeJoinRecordKey,
  decodeJoinRecordValue,
  EMPTY_JOIN_META,
  encodeJoinExpiryKey,
  encodeJoinMeta,
  encodeJoinRecordKey,
  encodeJoinRecordValue,
  joinExpiryRange,
  joinRecordRange,
  type JoinSide,
} from '../src/state/join-buffer-layout.js';

const entryArbitrary = fc.record({
  side: fc.constantFrom<JoinSide>(0, 1),
  key: fc.uint8Array({ maxLength: 4 }).map((bytes) => Buffer.from(bytes)),
  timestampMs: fc.integer({ min: -1_000, max: 1_000 }),
  sequence: fc.integer({ min: 0, max: 2 ** 40 }),
});

function inRange(key: Buffer, range: { from: Buffer; to: Buffer }): boolean {
  return Buffer.compare(key, range.from) >= 0 && Buffer.compare(key, range.to) < 0;
}

test('record and expiry keys round-trip, negative times and empty keys included', (t) => {
  fc.assert(
    fc.property(entryArbitrary, (entry) => {
      const record = decodeJoinRecordKey(encodeJoinRecordKey(entry.side, entry.key, entry.timestampMs, entry.sequence));
      const expiry = decodeJoinExpiryKey(encodeJoinExpiryKey(entry));
      for (const decoded of [record, expiry]) {
        t.deepEqual([decoded.side, Buffer.from(decoded.key).toString('hex'), decoded.timestampMs, decoded.sequence], [entry.side, entry.key.toString('hex'), entry.timestampMs, entry.sequence]);
      }
    }),
    { numRuns: 300 },
  );
  t.deepEqual(decodeJoinMeta(null), EMPTY_JOIN_META);
  t.deepEqual(decodeJoinMeta(encodeJoinMeta({ nextSequence: 42, streamTimeMs: -7 })), { nextSequence: 42, streamTimeMs: -7 });
  t.deepEqual(decodeJoinMeta(encodeJoinMeta(EMPTY_JOIN_META)), EMPTY_JOIN_META);
  const value = decodeJoinRecordValue(encodeJoinRecordValue(true, Buffer.from('v')));
  t.deepEqual([value.matched, value.value.toString()], [true, 'v']);
  t.throws(() => decodeJoinRecordKey(Buffer.from([1, 0, 0])), { instanceOf: RangeError });
  t.throws(() => decodeJoinExpiryKey(Buffer.from([2])), { instanceOf: RangeError });
  t.throws(() => decodeJoinRecordValue(Buffer.from([7])), { instanceOf: RangeError });
});

test('a record range holds exactly the side, key and times asked; an expiry range exactly the times before the cutoff', (t) => {
  fc.assert(
    fc.property(
      fc.array(entryArbitrary, { maxLength: 40 }),
      entryArbitrary,
      fc.integer({ min: 0, max: 300 }),
      (entries, probe, widthMs) => {
        const fromMs = probe.timestampMs - widthMs;
        const toMs = probe.timestampMs + widthMs;
        const recordRange = joinRecordRange(probe.side, probe.key, fromMs, toMs);
        const expiryRange = joinExpiryRange(probe.timestampMs);
        for (const entry of entries) {
          const expected = entry.side === probe.side && entry.key.equals(probe.key) && entry.timestampMs >= fromMs && entry.timestampMs <= toMs;
          t.is(inRange(encodeJoinRecordKey(entry.side, entry.key, entry.timestampMs, entry.sequence), recordRange), expected);
          t.is(inRange(encodeJoinExpiryKey(entry), expiryRange), entry.timestampMs < probe.timestampMs);
        }
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});
