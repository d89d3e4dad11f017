/**
 * The window specifications, the windowed-key serdes and the DSL's refusals, without a broker.
 */
import test from 'ava';
import fc from 'fast-check';
import { app, SerdeError, Serdes, SessionWindows, SlidingWindows, TimeWindows, sessionWindowedSerde, timeWindowedSerde, untilWindowCloses, windowedKey } from '../src/index.js';

test('time windows: the windows a timestamp falls in, tumbling and hopping, aligned to the epoch', (t) => {
  t.deepEqual(TimeWindows.ofSize(1_000).windowStartsFor(2_500), [2_000]);
  t.deepEqual(TimeWindows.ofSize(1_000).windowStartsFor(2_000), [2_000]);
  t.deepEqual(TimeWindows.ofSize(1_000).advanceBy(250).windowStartsFor(2_600), [1_750, 2_000, 2_250, 2_500]);
  // No window starts before 0 (Kafka's rule).
  t.deepEqual(TimeWindows.ofSize(1_000).advanceBy(500).windowStartsFor(200), [0]);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 0, max: 1e9 }), (sizeMs, advanceRaw, timestampMs) => {
      const advanceMs = Math.min(sizeMs, advanceRaw);
      const starts = TimeWindows.ofSize(sizeMs).advanceBy(advanceMs).windowStartsFor(timestampMs);
      const expected: number[] = [];
      for (let start = Math.floor(timestampMs / advanceMs) * advanceMs; start > timestampMs - sizeMs; start -= advanceMs) if (start >= 0) expected.unshift(start);
      return JSON.stringify(starts) === JSON.stringify(expected);
    }),
    { numRuns: 200 },
  );
});

test('window specifications refuse bad durations with one sentence', (t) => {
  t.throws(() => TimeWindows.ofSize(0), { instanceOf: RangeError, message: 'the window size must be a positive integer of milliseconds, got 0' });
  t.throws(() => TimeWindows.ofSize(100).advanceBy(200), { message: 'the advance (200 ms) may not exceed the window size (100 ms)' });
  t.throws(() => TimeWindows.ofSize(100).grace(-1), { message: 'the grace period must be a non-negative integer of milliseconds, got -1' });
  t.throws(() => SlidingWindows.ofTimeDifference(1.5), { message: 'the time difference must be a positive integer of milliseconds, got 1.5' });
  t.throws(() => SessionWindows.ofInactivityGap(Number.NaN), { message: 'the inactivity gap must be a positive integer of milliseconds, got NaN' });
});

test('windowed-key serdes: Kafka layouts, round trips, garbage is a SerdeError', (t) => {
  const time = timeWindowedSerde(Serdes.string(), 60_000);
  const session = sessionWindowedSerde(Serdes.string());
  const context = { topic: 'out', role: 'key' as const };
  t.is(time.serialize({ key: 'k', window: { startMs: 1, endMs: 60_001 } }, context)!.toString('hex'), '6b0000000000000001');
  t.is(session.serialize({ key: 'k', window: { startMs: 1, endMs: 2 } }, context)!.toString('hex'), '6b' + '0000000000000002' + '0000000000000001');
  fc.assert(
    fc.property(fc.string(), fc.integer({ min: 0, max: 2 ** 50 }), fc.integer({ min: 0, max: 2 ** 20 }), (key, startMs, lengthMs) => {
      const timeWindowed = { key, window: { startMs, endMs: startMs + 60_000 } };
      const sessionWindowed = { key, window: { startMs, endMs: startMs + lengthMs } };
      return (
        JSON.stringify(time.deserialize(time.serialize(timeWindowed, context), context)) === JSON.stringify(timeWindowed) &&
        JSON.stringify(session.deserialize(session.serialize(sessionWindowed, context), context)) === JSON.stringify(sessionWindowed)
      );
    }),
  );
  t.is(time.serialize(null, context), null);
  t.throws(() => time.deserialize(Buffer.from([1, 2, 3]), context), { instanceOf: SerdeError });
  t.throws(() => session.deserialize(Buffer.alloc(15), context), { instanceOf: SerdeError });
  t.is(windowedKey({ key: 'k', window: { startMs: 0, endMs: 1_000 } }), 'k@0/1000');
  t.throws(() => timeWindowedSerde(Serdes.string(), 0), { instanceOf: RangeError });
});

test('suppress applies only to windowed tables; windowed steps appear in describe() with their stores', (t) => {
  const pipeline = app({ applicationId: 'windows-dsl', log: { brokers: ['127.0.0.1:1'] }, shutdownOnSignals: false });
  const grouped = pipeline.stream('in', { key: Serdes.string(), value: Serdes.string() }).groupByKey({ key: Serdes.string(), value: Serdes.string() });
  t.throws(() => grouped.count({ name: 'plain' }).suppress(untilWindowCloses()), { instanceOf: TypeError, message: /windowed aggregation/ });
  grouped.windowedBy(TimeWindows.ofSize(1_000)).count({ name: 'tumbling' }).suppress(untilWindowCloses());
  grouped.windowedBy(SessionWindows.ofInactivityGap(100)).reduce((a, b) => a + b, { name: 'sessions' }).suppress(untilWindowCloses({ name: 'session-finals' }));
  t.throws(() => grouped.windowedBy(TimeWindows.ofSize(1_000)).count({ name: 'tumbling' }), { message: /exists already/ });
  const description = String(pipeline.describe());
  for (const store of ['plain', 'tumbling', 'tumbling-suppress', 'sessions', 'session-finals']) t.regex(description, new RegExp(`stores: ${store}\\)`));
});
