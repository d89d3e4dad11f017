import test from 'ava';
import fc from 'fast-check';
import { ManualClock } from '@defter/log';
import { DecodeError, Writer } from '@defter/protocol';
import { decodeConsumerAssignment, decodeConsumerSubscription, encodeConsumerAssignment, EMPTY_CONSUMER_ASSIGNMENT } from '../src/group/consumer-protocol.js';
import { DeadlineTimers, type DeadlineTimer } from '../src/group/deadline-timers.js';
import type { Ticker } from '../src/replica/delayed-operations.js';

test('the empty consumer assignment is version 0, no partitions, null user data', (t) => {
  t.is(EMPTY_CONSUMER_ASSIGNMENT.toString('hex'), '0000' + '00000000' + 'ffffffff');
});

test('consumer assignments round-trip', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ topic: fc.string({ maxLength: 20 }), partitions: fc.array(fc.integer({ min: 0, max: 1_000_000 }), { maxLength: 8 }) }), { maxLength: 6 }),
      fc.option(fc.uint8Array({ maxLength: 16 }).map((bytes) => Buffer.from(bytes)), { nil: null }),
      (assignedPartitions, userData) => {
        const decoded = decodeConsumerAssignment(encodeConsumerAssignment({ assignedPartitions, userData }));
        t.deepEqual(decoded, { version: 0, assignedPartitions, userData });
      },
    ),
  );
});

test('subscriptions of versions 0 and 1 decode, and hostile bytes only ever raise DecodeError', (t) => {
  const v1 = new Writer().int16(1).arrayLength(2).string('a').string('b').nullableBytes(Buffer.from('u')).arrayLength(1).string('a').arrayLength(1).int32(3).int32(7).finish();
  t.deepEqual(decodeConsumerSubscription(v1), { version: 1, topics: ['a', 'b'], userData: Buffer.from('u'), ownedPartitions: [{ topic: 'a', partitions: [3] }] });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      for (const decode of [decodeConsumerSubscription, decodeConsumerAssignment]) {
        try {
          decode(Buffer.from(bytes));
        } catch (error) {
          if (!(error instanceof DecodeError)) throw error;
        }
      }
    }),
  );
  t.pass();
});

test('deadline timers fire once, never early, and the tick runs only while something is armed', (t) => {
  const clock = new ManualClock(0);
  let onTick: (() => void) | undefined;
  const ticker: Ticker = {
    start: (_intervalMs, tick) => {
      onTick = tick;
      return () => (onTick = undefined);
    },
  };
  const timers = new DeadlineTimers({ clock, ticker, tickIntervalMs: 10 });
  const fired: string[] = [];
  const timer = (name: string): DeadlineTimer => ({ fire: () => fired.push(`${name}@${clock.nowMs()}`) });
  const [a, b, c] = [timer('a'), timer('b'), timer('c')];
  timers.arm(a, 25);
  timers.arm(b, 25);
  timers.arm(c, 40);
  timers.disarm(b);
  timers.arm(c, 55); // re-armed later, as a heartbeat does
  t.truthy(onTick);
  for (let nowMs = 5; nowMs <= 80; nowMs += 5) {
    clock.set(nowMs);
    onTick?.();
  }
  // Deadlines are rounded up to the tick: never early, at most one tick late.
  t.deepEqual(fired, ['a@30', 'c@60']);
  t.is(timers.size, 0);
  t.is(onTick, undefined, 'the tick stops when nothing is armed');
  timers.arm(a, 100);
  timers.close();
  t.is(onTick, undefined);
  timers.arm(a, 100);
  t.is(timers.size, 0, 'nothing is armed after close');
});
