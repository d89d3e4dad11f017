/**
 * Windowed state survives the loss of the local state directory: the app is closed, its RocksDB
 * state deleted, and a new instance restores windows, sessions, the suppress buffer and each
 * step's stream time from the changelogs — so a record late before the restart is late after it,
 * and a window already emitted by suppress is not emitted again.
 */
import { rm } from 'node:fs/promises';
import test from 'ava';
import { app, InMemoryStore, Serdes, SessionWindows, TimeWindows, untilWindowCloses, windowedKey, type StreamsApp } from '../src/index.js';
import { decodeWindowKey } from '../src/state/window-key-layout.js';
import { produce, startCluster, waitForIdle, type TestCluster } from './runtime-support.js';
import { stateDirectory } from './stateful-support.js';

const events = (times: readonly number[]) => times.map((timestampMs) => ({ partition: 0, key: 'u', value: 'x', timestamp: String(timestampMs) }));

function define(pipeline: StreamsApp, finals: string[], sessions: Map<string, number | null>): void {
  const grouped = pipeline.stream('visits', { key: Serdes.string(), value: Serdes.string() }).groupByKey({ key: Serdes.string(), value: Serdes.string() });
  grouped
    .windowedBy(TimeWindows.ofSize(1_000).grace(200))
    .count({ name: 'visit-counts' })
    .suppress(untilWindowCloses())
    .toStream()
    .peek((record) => finals.push(`${windowedKey(record.key!)}=${record.value}`));
  grouped
    .windowedBy(SessionWindows.ofInactivityGap(300).grace(200))
    .count({ name: 'visit-sessions' })
    .toStream()
    .peek((record) => sessions.set(windowedKey(record.key!), record.value));
}

async function startInstance(cluster: TestCluster, stateDir: string, finals: string[], sessions: Map<string, number | null>): Promise<StreamsApp> {
  const pipeline = app({ applicationId: 'windows-restore', log: { broker: cluster.broker }, stateDir, commitIntervalMs: 100 });
  define(pipeline, finals, sessions);
  await pipeline.start();
  return pipeline;
}

test('close, delete the local state, restart: windows, sessions, suppress buffer and stream time come back from the changelogs', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('visits', 1);
  const stateDir = await stateDirectory(t);
  const finals: string[] = [];
  const sessions = new Map<string, number | null>();

  const first = await startInstance(cluster, stateDir, finals, sessions);
  const before = events([1_000, 1_200, 1_400, 2_500]);
  await produce(cluster, 'visits', before);
  t.true(await waitForIdle(first, before.length, 30_000));
  t.deepEqual(finals, ['u@1000/2000=3']);
  await first.close();
  await rm(stateDir, { recursive: true, force: true });

  const second = await startInstance(cluster, stateDir, finals, sessions);
  t.teardown(() => second.close());
  t.true(second.metrics().tasks[0]!.restoredRecords > 0, 'state came from the changelogs');
  // 1 450 is late for [1000, 2000) (stream time 2 500 > 1 999 + 200) and for the session it would
  // join ([1000, 1450]: 2 500 > 1 450 + 200) — only if stream time was restored.
  const after = events([1_450, 3_300]);
  await produce(cluster, 'visits', after);
  t.true(await waitForIdle(second, after.length, 30_000));
  t.is(second.metrics().tasks[0]!.recordsLate, 2);
  // [2000, 3000) — buffered by suppress before the restart, untouched after it — closes at
  // 3 300 > 2 999 + 200 and comes from the restored buffer; [1000, 2000) is not emitted again.
  t.deepEqual(finals, ['u@1000/2000=3', 'u@2000/3000=1']);
  const live = [...sessions].filter(([, count]) => count !== null).sort();
  t.deepEqual(live, [
    ['u@1000/1400', 3],
    ['u@2500/2500', 1],
    ['u@3300/3300', 1],
  ]);
});

test('retention drops whole expired segments of a window store', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('ticks', 1);
  const stores = new Map<string, InMemoryStore>();
  const pipeline = app({
    applicationId: 'windows-retention',
    log: { broker: cluster.broker },
    stateDir: await stateDirectory(t),
    commitIntervalMs: 100,
    stateStoreFactory: ({ name }) => {
      const store = new InMemoryStore(name);
      stores.set(name, store);
      return store;
    },
  });
  t.teardown(() => pipeline.close());
  pipeline
    .stream('ticks', { key: Serdes.string(), value: Serdes.string() })
    .groupByKey({ key: Serdes.string(), value: Serdes.string() })
    .windowedBy(TimeWindows.ofSize(1_000))
    .count({ name: 'tick-counts' });
  await pipeline.start();
  // Retention = size + grace = 1 000 ms, segments of 60 000 ms: at stream time 200 000 the cutoff
  // 199 000 lies in segment 3, so the windows of segments 0–2 (starts below 180 000) are gone.
  const ticks = [0, 1_000, 5_000, 70_000, 130_000, 185_000, 200_000].map((timestampMs) => ({ partition: 0, key: 't', value: 'x', timestamp: String(timestampMs) }));
  await produce(cluster, 'ticks', ticks);
  t.true(await waitForIdle(pipeline, ticks.length, 30_000));
  const starts: number[] = [];
  for await (const entry of stores.get('tick-counts')!.range()) {
    const decoded = decodeWindowKey(entry.key);
    // The step's stream-time entry sits above every segment.
    if (decoded !== undefined && decoded.key.toString() === 't') starts.push(decoded.windowStartMs);
  }
  t.deepEqual(starts, [185_000, 200_000]);
});
