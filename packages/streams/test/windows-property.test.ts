/**
 * Windowed aggregations against plain-loop references over random input (fast-check), on the
 * embedded log. One app runs tumbling, hopping, sliding and session aggregations over one input
 * topic; each random scenario owns three partitions (so three tasks, each with its own stream
 * time): the records in time order, the same records shuffled within the grace, and the records
 * in time order with late records mixed in. In-order and shuffled input must give identical final
 * tables equal to the reference; late records must be dropped and counted exactly (recordsLate).
 */
import test from 'ava';
import fc from 'fast-check';
import { app, InMemoryStore, Serdes, SessionWindows, SlidingWindows, TimeWindows, untilWindowCloses, windowedKey, type StreamRecord, type Windowed } from '../src/index.js';
import { closeAtEnd, produce, startCluster, waitForIdle } from './runtime-support.js';
import { stateDirectory } from './stateful-support.js';
import { sessionClusters, sessionWindowsReference, slidingWindowsReference, timeWindowsReference, type TimedRecord } from './windows-support.js';

const SCENARIOS = 8;
const GRACE_MS = 400;
const TUMBLING = { sizeMs: 1_000 };
const HOPPING = { sizeMs: 1_000, advanceMs: 250 };
const SLIDING_DIFFERENCE_MS = 500;
const SESSION_GAP_MS = 300;
const BASE_MS = 1_000_000;

interface Scenario {
  readonly inOrder: TimedRecord[];
  readonly shuffled: TimedRecord[];
  readonly withLate: TimedRecord[];
  /** Injected records strictly past the grace of their own sliding window (the others sit exactly on it). */
  readonly pastGrace: number;
}

interface ScenarioDraw {
  readonly steps: ReadonlyArray<{ readonly gapMs: number; readonly key: number; readonly value: number; readonly jitterMs: number }>;
  readonly late: ReadonlyArray<{ readonly at: number; readonly backMs: number; readonly key: number; readonly value: number }>;
}

const scenarioArbitrary = fc
  .record({
    steps: fc.array(fc.record({ gapMs: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 7 }).map((steps) => steps * 50), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 350 }), weight: 1 }), key: fc.integer({ min: 0, max: 2 }), value: fc.integer({ min: 1, max: 9 }), jitterMs: fc.oneof(fc.constant(GRACE_MS), fc.integer({ min: 0, max: GRACE_MS })) }), {
      minLength: 20,
      maxLength: 45,
    }),
    late: fc.array(fc.record({ at: fc.nat(), backMs: fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 8 }).map((steps) => steps * 50), fc.integer({ min: 0, max: 3_000 })), key: fc.integer({ min: 0, max: 2 }), value: fc.integer({ min: 1, max: 9 }) }), { minLength: 2, maxLength: 10 }),
  })
  .map((draw) => buildScenario(draw));

function buildScenario({ steps, late }: ScenarioDraw): Scenario {
  let timeMs = BASE_MS;
  const timed = steps.map((step) => {
    timeMs += step.gapMs;
    return { record: { key: `k${step.key}`, timestampMs: timeMs, value: step.value }, jitterMs: step.jitterMs };
  });
  const inOrder = timed.map((entry) => entry.record);
  // Sorting by time + jitter (0..grace) moves a record at most `grace` behind one that arrived before it: never late.
  const shuffled = [...timed].sort((a, b) => a.record.timestampMs + a.jitterMs - (b.record.timestampMs + b.jitterMs)).map((entry) => entry.record);
  const withLate = [...inOrder];
  for (const extra of late) {
    const position = 1 + (extra.at % inOrder.length);
    const maxSoFar = Math.max(...withLate.slice(0, position).map((record) => record.timestampMs));
    // At or past the grace of the record's own sliding window; times on a 50 ms grid (often) and exact offsets put stream time right on window closes.
    withLate.splice(position, 0, { key: `k${extra.key}`, timestampMs: maxSoFar - GRACE_MS - extra.backMs, value: extra.value });
  }
  return { inOrder, shuffled, withLate, pastGrace: late.filter((extra) => extra.backMs > 0).length };
}

/**
 * Stream time exactly on closes: at 1 400 (relative), [0, 1000) has just closed (999 + 400), a lone
 * session at 999 has just closed, and the sliding window [600, 1000] has not (1 000 + 400).
 */
const EDGES = buildScenario({
  steps: [
    { gapMs: 0, key: 0, value: 1, jitterMs: 0 },
    { gapMs: 1_000, key: 0, value: 2, jitterMs: 0 },
    { gapMs: 400, key: 0, value: 3, jitterMs: 0 },
    { gapMs: 0, key: 1, value: 4, jitterMs: 0 },
    { gapMs: 1_100, key: 0, value: 5, jitterMs: 0 },
  ],
  late: [
    { at: 2, backMs: 1, key: 0, value: 6 },
    { at: 2, backMs: 1, key: 2, value: 7 },
    { at: 3, backMs: 0, key: 1, value: 8 },
  ],
});

const prefixOf = (partition: number): string => `p${partition}-`;

test('tumbling, hopping, sliding and session aggregates equal plain loops; shuffling within the grace changes nothing; late records are dropped and counted', async (t) => {
  // WINDOWS_SEED=<seed> replays a run.
  const seed = Number(process.env.WINDOWS_SEED ?? Date.now() % 1_000_000);
  t.log(`fast-check seed ${seed}`);
  const scenarios = [...fc.sample(scenarioArbitrary, { seed, numRuns: SCENARIOS }), EDGES];
  const partitions = scenarios.length * 3;
  const inputs: TimedRecord[][] = scenarios.flatMap((scenario) => [scenario.inOrder, scenario.shuffled, scenario.withLate]);

  const cluster = await startCluster(t);
  await cluster.createTopic('events', partitions);
  const messages = inputs.flatMap((records, partition) =>
    records.map((record) => ({ partition, key: prefixOf(partition) + record.key, value: String(record.value), timestamp: String(record.timestampMs) })),
  );
  await produce(cluster, 'events', messages, 200);

  const pipeline = closeAtEnd(
    t,
    app({
      applicationId: 'windows-property',
      log: { broker: cluster.broker },
      stateDir: await stateDirectory(t),
      stateStoreFactory: ({ name }) => new InMemoryStore(name),
      commitIntervalMs: 200,
    }),
  );
  const grouped = pipeline.stream('events', { key: Serdes.string(), value: Serdes.string() }).mapValues((value) => Number(value)).groupByKey({ key: Serdes.string(), value: Serdes.float64() });
  const outputs = new Map<string, Array<StreamRecord<Windowed<string>, number>>>();
  const collect = (kind: string) => (record: StreamRecord<Windowed<string>, number>) => {
    const list = outputs.get(kind) ?? [];
    list.push(record);
    outputs.set(kind, list);
  };
  const tumbling = grouped.windowedBy(TimeWindows.ofSize(TUMBLING.sizeMs).grace(GRACE_MS)).count({ name: 'tumbling' });
  tumbling.toStream().peek(collect('tumbling'));
  tumbling.suppress(untilWindowCloses()).toStream().peek(collect('tumbling-final'));
  grouped
    .windowedBy(TimeWindows.ofSize(HOPPING.sizeMs).advanceBy(HOPPING.advanceMs).grace(GRACE_MS))
    .aggregate(() => 0, (_key, value, sum) => sum + value, { name: 'hopping', value: Serdes.float64() })
    .toStream()
    .peek(collect('hopping'));
  grouped.windowedBy(SlidingWindows.ofTimeDifference(SLIDING_DIFFERENCE_MS).grace(GRACE_MS)).count({ name: 'sliding' }).toStream().peek(collect('sliding'));
  grouped.windowedBy(SessionWindows.ofInactivityGap(SESSION_GAP_MS).grace(GRACE_MS)).count({ name: 'session' }).toStream().peek(collect('session'));

  await pipeline.start();
  t.true(await waitForIdle(pipeline, messages.length, 40_000), `${pipeline.state} ${String(pipeline.error)}`);

  /** The final table of one partition: the last value per window, deletes removed, the partition prefix stripped. */
  const finalTable = (kind: string, partition: number): Map<string, number> => {
    const prefix = prefixOf(partition);
    const table = new Map<string, number | null>();
    for (const record of outputs.get(kind) ?? []) {
      if (!record.key!.key.startsWith(prefix)) continue;
      table.set(windowedKey({ ...record.key!, key: record.key!.key.slice(prefix.length) }), record.value);
    }
    return new Map([...table].filter((entry): entry is [string, number] => entry[1] !== null));
  };
  const sorted = (table: Map<string, number>): Array<[string, number]> => [...table].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const lateByPartition = new Map(pipeline.metrics().tasks.map((task) => [task.partition, task.recordsLate]));

  scenarios.forEach((scenario, index) => {
    const [inOrderPartition, shuffledPartition, latePartition] = [3 * index, 3 * index + 1, 3 * index + 2];
    const references = (records: readonly TimedRecord[]) => ({
      tumbling: timeWindowsReference(records, TUMBLING.sizeMs, TUMBLING.sizeMs, GRACE_MS, true),
      hopping: timeWindowsReference(records, HOPPING.sizeMs, HOPPING.advanceMs, GRACE_MS, false),
      sliding: slidingWindowsReference(records, SLIDING_DIFFERENCE_MS, GRACE_MS),
      session: sessionWindowsReference(records, SESSION_GAP_MS, GRACE_MS),
    });
    const inOrder = references(scenario.inOrder);
    const withLate = references(scenario.withLate);
    for (const kind of ['tumbling', 'hopping', 'sliding', 'session'] as const) {
      t.deepEqual(sorted(finalTable(kind, inOrderPartition)), sorted(inOrder[kind].table), `${kind}, scenario ${index}, in order`);
      t.deepEqual(sorted(finalTable(kind, shuffledPartition)), sorted(inOrder[kind].table), `${kind}, scenario ${index}, shuffled within the grace`);
      t.deepEqual(sorted(finalTable(kind, latePartition)), sorted(withLate[kind].table), `${kind}, scenario ${index}, with late records`);
      t.is(inOrder[kind].late, 0);
    }
    // suppress: exactly the windows closed by the partition's final stream time, once each, with their final count.
    for (const [partition, records, reference] of [
      [inOrderPartition, scenario.inOrder, inOrder.tumbling],
      [shuffledPartition, scenario.shuffled, inOrder.tumbling],
      [latePartition, scenario.withLate, withLate.tumbling],
    ] as const) {
      const prefix = prefixOf(partition);
      const emitted = (outputs.get('tumbling-final') ?? [])
        .filter((record) => record.key!.key.startsWith(prefix))
        .map((record): [string, number] => [windowedKey({ ...record.key!, key: record.key!.key.slice(prefix.length) }), record.value!]);
      const finalStreamTimeMs = Math.max(...records.map((record) => record.timestampMs));
      const closed = [...reference.table].filter(([id]) => Number(id.split('/')[1]) - 1 + GRACE_MS < finalStreamTimeMs);
      t.deepEqual(sorted(new Map(emitted)), sorted(new Map(closed)), `suppress, scenario ${index}, partition ${partition}`);
      t.is(emitted.length, closed.length, `suppress emits each window once (scenario ${index})`);
    }
    // Independent of the simulation: sessions of in-order input are the clusters of the key's times.
    t.deepEqual(sorted(inOrder.session.table), sorted(sessionClusters(scenario.inOrder, SESSION_GAP_MS)));
    t.is(lateByPartition.get(inOrderPartition), 0, `scenario ${index}: no late record in order`);
    t.is(lateByPartition.get(shuffledPartition), 0, `scenario ${index}: no late record shuffled within the grace`);
    const expectedLate = withLate.tumbling.late + withLate.hopping.late + withLate.sliding.late + withLate.session.late;
    // The sliding reference drops exactly the injected records strictly past their window's grace.
    t.is(withLate.sliding.late, scenario.pastGrace);
    t.is(lateByPartition.get(latePartition), expectedLate, `scenario ${index}: late records counted by all four steps`);
  });
});
