/**
 * suppress(untilWindowCloses()): exactly one final result per window, none before the window
 * closes, late updates dropped; over the Kafka protocol ({ brokers }, kafkajs), with the output
 * written through the time-windowed serde. And the idle advance: with
 * `streamTimeIdleAdvanceMs`, windows close on a partition that stopped receiving records, driven
 * by a manual scheduler.
 */
import test from 'ava';
import { app, InMemoryStore, Serdes, TimeWindows, timeWindowedSerde, untilWindowCloses, windowedKey, type Scheduler, type StreamRecord, type Windowed } from '../src/index.js';
import { closeAtEnd, produce, startCluster, waitForIdle, waitUntil, type TestCluster } from './runtime-support.js';
import { stateDirectory } from './stateful-support.js';

const SIZE_MS = 1_000;
const GRACE_MS = 200;

const events = (entries: ReadonlyArray<readonly [string, number]>) =>
  entries.map(([key, timestampMs]) => ({ partition: 0, key, value: 'x', timestamp: String(timestampMs) }));

test('suppress emits one final count per window when stream time passes its end + grace, never before, never again (kafkajs)', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('clicks', 1);
  await cluster.createTopic('final-counts', 1);
  const pipeline = closeAtEnd(t, app({ applicationId: 'suppress', log: { brokers: [cluster.bootstrap] }, stateDir: await stateDirectory(t), commitIntervalMs: 100 }));
  const finals: Array<StreamRecord<Windowed<string>, number>> = [];
  const counts = pipeline
    .stream('clicks', { key: Serdes.string(), value: Serdes.string() })
    .groupByKey({ key: Serdes.string(), value: Serdes.string() })
    .windowedBy(TimeWindows.ofSize(SIZE_MS).grace(GRACE_MS))
    .count({ name: 'click-counts' })
    .suppress(untilWindowCloses())
    .toStream()
    .peek((record) => finals.push(record));
  counts.to('final-counts', { key: timeWindowedSerde(Serdes.string(), SIZE_MS), value: Serdes.float64() });
  await pipeline.start();

  // Stream time reaches 1 500: [0, 1000) closes once it passes 999 + 200; [1000, 2000) stays open.
  const first = events([['a', 100], ['b', 200], ['a', 900], ['a', 1_000], ['b', 1_150], ['a', 1_199], ['b', 1_500]]);
  await produce(cluster, 'clicks', first);
  t.true(await waitForIdle(pipeline, first.length, 30_000));
  const summary = () => finals.map((record) => `${windowedKey(record.key!)}=${record.value}`).sort();
  t.deepEqual(summary(), ['a@0/1000=2', 'b@0/1000=1']);

  // Late for [0, 1000) (dropped, counted), then stream time 2 300 closes [1000, 2000).
  const second = events([['a', 50], ['b', 999], ['a', 1_800], ['b', 2_300]]);
  await produce(cluster, 'clicks', second);
  t.true(await waitForIdle(pipeline, first.length + second.length, 30_000));
  t.deepEqual(summary(), ['a@0/1000=2', 'a@1000/2000=3', 'b@0/1000=1', 'b@1000/2000=2']);
  t.is(pipeline.metrics().tasks[0]!.recordsLate, 2);

  const written = await readRaw(cluster, 'final-counts', 4);
  const serde = timeWindowedSerde(Serdes.string(), SIZE_MS);
  const decoded = written.map(({ key, value }) => `${windowedKey(serde.deserialize(key, { topic: 'final-counts', role: 'key' })!)}=${value.readDoubleBE(0)}`).sort();
  t.deepEqual(decoded, ['a@0/1000=2', 'a@1000/2000=3', 'b@0/1000=1', 'b@1000/2000=2']);
  // Kafka's TimeWindowedSerde layout: the key's bytes, then the start as an 8-byte big-endian long.
  t.deepEqual(written.map(({ key }) => key.toString('hex')).sort(), ['610000000000000000', '6100000000000003e8', '620000000000000000', '6200000000000003e8']);
});

/** The raw key and value bytes of a topic's first `count` records. */
async function readRaw(cluster: TestCluster, topic: string, count: number): Promise<Array<{ key: Buffer; value: Buffer }>> {
  const consumer = cluster.kafka.consumer({ groupId: `raw-${topic}`, maxWaitTimeInMs: 100 });
  const records: Array<{ key: Buffer; value: Buffer }> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void records.push({ key: message.key!, value: message.value! }) });
    await waitUntil(() => records.length >= count, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** A clock the test moves: `every` callbacks run as `advance` passes their times. */
class ManualScheduler implements Scheduler {
  private nowMs = 0;
  private readonly timers = new Set<{ intervalMs: number; nextMs: number; callback: () => void }>();

  now(): number {
    return this.nowMs;
  }

  every(intervalMs: number, callback: () => void): () => void {
    const timer = { intervalMs, nextMs: this.nowMs + intervalMs, callback };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  }

  advance(ms: number): void {
    const targetMs = this.nowMs + ms;
    for (;;) {
      const due = [...this.timers].filter((timer) => timer.nextMs <= targetMs).sort((a, b) => a.nextMs - b.nextMs)[0];
      if (due === undefined) break;
      this.nowMs = due.nextMs;
      due.nextMs += due.intervalMs;
      due.callback();
    }
    this.nowMs = targetMs;
  }
}

test('streamTimeIdleAdvanceMs: a window on a partition that went quiet closes after the idle time, by wall-clock time', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('sensor', 1);
  const scheduler = new ManualScheduler();
  const pipeline = closeAtEnd(
    t,
    app({
      applicationId: 'idle-advance',
      log: { broker: cluster.broker },
      stateDir: await stateDirectory(t),
      stateStoreFactory: ({ name }) => new InMemoryStore(name),
      scheduler,
      commitIntervalMs: 100,
      streamTimeIdleAdvanceMs: 5_000,
    }),
  );
  const finals: string[] = [];
  pipeline
    .stream('sensor', { key: Serdes.string(), value: Serdes.string() })
    .groupByKey({ key: Serdes.string(), value: Serdes.string() })
    .windowedBy(TimeWindows.ofSize(SIZE_MS).grace(GRACE_MS))
    .count({ name: 'readings' })
    .suppress(untilWindowCloses())
    .toStream()
    .peek((record) => finals.push(`${windowedKey(record.key!)}=${record.value}`));
  await pipeline.start();

  const readings = events([['s1', 10_100], ['s1', 10_400], ['s2', 10_500]]);
  await produce(cluster, 'sensor', readings);
  // Commits run on the manual clock: move it in small steps until the batch is committed.
  t.true(
    await waitUntil(() => {
      scheduler.advance(100);
      const task = pipeline.metrics().tasks[0];
      return task !== undefined && task.recordsIn === readings.length && task.inFlightRecords === 0;
    }, 30_000),
  );
  t.is(pipeline.metrics().tasks[0]!.streamTimeMs, 10_500);
  // Quiet for less than the idle time: stream time stays, nothing is emitted.
  scheduler.advance(3_000);
  await new Promise((resolve) => setImmediate(resolve));
  t.deepEqual(finals, []);
  t.is(pipeline.metrics().tasks[0]!.streamTimeMs, 10_500);

  // Past the idle time: stream time moves by the wall-clock time elapsed and [10000, 11000) closes (10 999 + 200).
  t.true(
    await waitUntil(() => {
      scheduler.advance(250);
      return finals.length >= 2;
    }, 30_000),
  );
  t.deepEqual([...finals].sort(), ['s1@10000/11000=2', 's2@10000/11000=1']);
  t.true(pipeline.metrics().tasks[0]!.streamTimeMs > 11_199);
  // Emitted once: more idle time emits nothing again.
  scheduler.advance(5_000);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(finals.length, 2);
});
