import test from 'ava';
import fc from 'fast-check';
import { DecodeError, Writer } from '@defter/protocol';
import { decodeConsumerAssignment } from '../src/group-client.js';
import { parseDateTime, parseTopicSelection, planOffsetReset, unknownGroupMessage, type PartitionPosition } from '../src/groups-command.js';

const position = (partition: number, committed: bigint, earliest = 10n, latest = 100n, atTimestamp?: bigint): PartitionPosition => ({
  topic: 'orders',
  partition,
  committed,
  earliest,
  latest,
  ...(atTimestamp === undefined ? {} : { atTimestamp }),
});

test('reset plans: earliest, latest, offsets and shifts clamped into the log, timestamps past the end go to the end', (t) => {
  const positions = [position(0, 50n), position(1, -1n)];
  const targets = (plan: ReturnType<typeof planOffsetReset>) => plan.map((row) => row.target);
  t.deepEqual(targets(planOffsetReset({ kind: 'earliest' }, positions)), [10n, 10n]);
  t.deepEqual(targets(planOffsetReset({ kind: 'latest' }, positions)), [100n, 100n]);
  t.deepEqual(targets(planOffsetReset({ kind: 'offset', offset: 42n }, positions)), [42n, 42n]);
  t.deepEqual(targets(planOffsetReset({ kind: 'offset', offset: 5n }, positions)), [10n, 10n]);
  t.deepEqual(targets(planOffsetReset({ kind: 'offset', offset: 500n }, positions)), [100n, 100n]);
  t.deepEqual(targets(planOffsetReset({ kind: 'shift', by: -15n }, [position(0, 50n)])), [35n]);
  t.deepEqual(targets(planOffsetReset({ kind: 'shift', by: -45n }, [position(0, 50n)])), [10n]);
  t.deepEqual(targets(planOffsetReset({ kind: 'shift', by: 70n }, [position(0, 50n)])), [100n]);
  t.deepEqual(targets(planOffsetReset({ kind: 'datetime', timestampMs: 0n }, [position(0, 50n, 10n, 100n, 20n), position(1, 50n, 10n, 100n, -1n)])), [20n, 100n]);
  t.deepEqual(planOffsetReset({ kind: 'latest' }, [position(3, 7n)]), [{ topic: 'orders', partition: 3, committed: 7n, target: 100n }]);
  t.throws(() => planOffsetReset({ kind: 'shift', by: 1n }, positions), { message: /cannot shift orders-1: the group has no committed offset there/ });
});

test('every planned offset lies within the log', (t) => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 1000n }),
      fc.bigInt({ min: 0n, max: 1000n }),
      fc.bigInt({ min: 0n, max: 2000n }),
      fc.bigInt({ min: -3000n, max: 3000n }),
      (earliest, length, committed, value) => {
        const latest = earliest + length;
        const positions = [position(0, committed, earliest, latest, value)];
        for (const target of [{ kind: 'offset', offset: value }, { kind: 'shift', by: value }, { kind: 'datetime', timestampMs: 0n }] as const) {
          const [row] = planOffsetReset(target, positions);
          if (row!.target < earliest || row!.target > latest) return false;
        }
        return true;
      },
    ),
  );
  t.pass();
});

test('--topic selections and --to-datetime values', (t) => {
  t.deepEqual(parseTopicSelection('orders'), { topic: 'orders', partitions: undefined });
  t.deepEqual(parseTopicSelection('orders:2,0,2'), { topic: 'orders', partitions: [0, 2] });
  t.throws(() => parseTopicSelection('orders:x'), { message: "--topic expects TOPIC or TOPIC:P1,P2,…, got 'orders:x'" });
  t.is(parseDateTime('2024-05-01T12:00:00Z'), 1_714_564_800_000n);
  t.is(parseDateTime('2024-05-01T12:00:00.250+02:00'), 1_714_557_600_250n);
  t.throws(() => parseDateTime('yesterday'), { message: /'yesterday' is not a date-time: expected ISO 8601/ });
});

test('unknown groups are named with the nearest existing one', (t) => {
  t.is(unknownGroupMessage('billing-ap', ['billing-app', 'shipping']), "group 'billing-ap' does not exist. Did you mean 'billing-app'?");
  t.is(unknownGroupMessage('zzz', ['billing-app']), "group 'zzz' does not exist.");
  t.is(unknownGroupMessage('zzz', []), "group 'zzz' does not exist (the cluster has no groups).");
});

test('consumer-protocol assignments decode to sorted partitions; empty bytes mean none; garbage is a DecodeError', (t) => {
  const writer = new Writer().int16(1).arrayLength(2).string('a').arrayLength(2).int32(3).int32(1).string('b').arrayLength(0).nullableBytes(Buffer.from('ud'));
  writer.int16(7); // a newer version's extra field is ignored
  t.deepEqual(decodeConsumerAssignment(writer.finish()), [
    { topic: 'a', partitions: [1, 3] },
    { topic: 'b', partitions: [] },
  ]);
  t.deepEqual(decodeConsumerAssignment(Buffer.alloc(0)), []);
  t.throws(() => decodeConsumerAssignment(Buffer.from([0, 0, 0, 0, 0, 9, 0])), { instanceOf: DecodeError });
  t.throws(() => decodeConsumerAssignment(Buffer.from([0xff, 0xff])), { instanceOf: DecodeError });
});
