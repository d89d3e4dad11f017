/**
 * Backpressure: an app whose pipeline is slow (a 1 ms timer per record in a `concatMap`) reads a
 * topic fed far faster than it can process (1 KiB records, a backlog of well over 100 000), in a
 * child process that reports its heap (after a full `gc()`) every 500 ms. After a warm-up the heap
 * stays flat while the lag stays large: the runtime fetches a partition again only when its batch is
 * done, so what the process holds is about one batch per partition, whatever the backlog.
 *
 * Why the bound means something: an app that buffered its input (fetching ahead of its operators, as
 * a plain RxJS pipeline over a consumer would) would hold the backlog it fetched — every record a
 * 1 KiB value plus its key and record object, so at least 1 KiB each. The test asserts the lag is
 * above LAG_RECORDS_MIN (≥ 2 × the bound in bytes, at 1 KiB a record) when the window ends, so a
 * buffer of even half the unread input would break the 64 MiB bound on the heap's growth.
 */
import test from 'ava';
import { AppChild, InputFeeder, type MemoryReport } from './fault-support.js';
import { startCluster } from './runtime-support.js';

const PARTITIONS = 2;
const RECORDS = 200_000;
const VALUE_BYTES = 1_024;
const MIB = 1_048_576;
const HEAP_GROWTH_BYTES_MAX = 64 * MIB;
/** The mean of the window's last third may exceed its first third's by this much (noise, not a trend). */
const HEAP_TREND_BYTES_MAX = 16 * MIB;
const LAG_RECORDS_MIN = (2 * HEAP_GROWTH_BYTES_MAX) / VALUE_BYTES;
const WARM_UP_SAMPLES = 6;
const WINDOW_SAMPLES = 30;
const REPORT_INTERVAL_MS = 500;

const mean = (samples: readonly MemoryReport[]) => samples.reduce((sum, sample) => sum + sample.heapUsedBytes, 0) / samples.length;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

test('a slow pipeline over a topic fed far faster: the heap stays flat while the lag stays large', async (t) => {
  t.timeout(180_000);
  const cluster = await startCluster(t);
  await cluster.createTopic('big', PARTITIONS);
  await cluster.createTopic('sizes', PARTITIONS);
  const startedMs = Date.now();
  const feeder = await InputFeeder.start(t, cluster.kafka, {
    topic: 'big',
    partitions: PARTITIONS,
    recordsPerChunk: 500,
    chunkIntervalMs: 0,
    recordsMax: RECORDS,
    valueBytes: VALUE_BYTES,
  });
  // A backlog before the app starts; the rest is produced while it runs.
  await feeder.reached(RECORDS / 2);
  t.log(`${feeder.produced} records produced in ${Date.now() - startedMs} ms before the app starts`);
  const child = AppChild.spawn(t, {
    bootstrap: cluster.bootstrap,
    applicationId: 'slow-reader',
    processingGuarantee: 'at_least_once',
    commitIntervalMs: 1_000,
    sessionTimeoutMs: 30_000,
    heartbeatIntervalMs: 1_000,
    input: 'big',
    output: 'sizes',
    pipeline: 'slow',
    slowDelayMs: 1,
    memoryReportIntervalMs: REPORT_INTERVAL_MS,
  });
  // The warm-up: WARM_UP_SAMPLES reports after the first record went in; the window starts after
  // it, once the whole input is produced (so the lag at its end is the backlog, however slow the feeder).
  const firstWithRecords = () => child.memory.findIndex((sample) => sample.recordsIn > 0);
  t.true(
    await child.waitFor((candidate) => firstWithRecords() >= 0 && candidate.memory.length >= firstWithRecords() + WARM_UP_SAMPLES, 90_000, 'memory reports'),
    `the app stopped: ${child.error ?? child.stderr().slice(-800)}`,
  );
  const total = await feeder.done();
  const windowStart = Math.max(firstWithRecords() + WARM_UP_SAMPLES, child.memory.length - 1);
  t.true(
    await child.waitFor((candidate) => candidate.memory.length >= windowStart + WINDOW_SAMPLES, 90_000, 'memory reports'),
    `the app stopped: ${child.error ?? child.stderr().slice(-800)}`,
  );
  const window = child.memory.slice(windowStart, windowStart + WINDOW_SAMPLES);
  const atWarmUp = window[0]!;
  const last = window.at(-1)!;
  const heapMax = Math.max(...window.map((sample) => sample.heapUsedBytes));
  const third = Math.floor(window.length / 3);
  const firstThird = mean(window.slice(0, third));
  const lastThird = mean(window.slice(-third));
  t.log(
    `heap at warm-up ${mib(atWarmUp.heapUsedBytes)}, max ${mib(heapMax)}, first third ${mib(firstThird)}, last third ${mib(lastThird)}; ` +
      `rss ${mib(atWarmUp.rssBytes)} → ${mib(last.rssBytes)}; records in ${atWarmUp.recordsIn} → ${last.recordsIn}; lag ${last.lag} of ${total} produced`,
  );
  t.true(last.recordsIn - atWarmUp.recordsIn >= 1_000, 'the app made progress during the window');
  t.true(last.lag >= LAG_RECORDS_MIN, `the app was far behind: lag ${last.lag} ≥ ${LAG_RECORDS_MIN} records (${mib(last.lag * VALUE_BYTES)} unread)`);
  t.true(heapMax - atWarmUp.heapUsedBytes < HEAP_GROWTH_BYTES_MAX, `the heap grew by ${mib(heapMax - atWarmUp.heapUsedBytes)} (bound ${mib(HEAP_GROWTH_BYTES_MAX)})`);
  t.true(lastThird - firstThird < HEAP_TREND_BYTES_MAX, `no upward trend: last third ${mib(lastThird)} vs first third ${mib(firstThird)}`);
  await child.kill();
});
