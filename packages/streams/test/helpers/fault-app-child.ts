/**
 * A streams app in its own process, for the fault, scale-out and memory tests (which SIGKILL it,
 * run two of it, or watch its heap). Usage: fault-app-child.ts '<FaultAppConfig as JSON>'.
 * It prints one JSON line per event on stdout (see `fault-support.ts`) and closes gracefully on SIGTERM.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { bufferCount, concatMap, mergeMap } from 'rxjs';
import { app, Serdes, type StreamRecord } from '../../src/index.js';
import type { FaultAppConfig } from '../fault-support.js';

type Rec = StreamRecord<string, string>;

const config = JSON.parse(process.argv[2] ?? '') as FaultAppConfig;
const report = (event: object): void => void process.stdout.write(`${JSON.stringify(event)}\n`);

const pipeline = app({
  applicationId: config.applicationId,
  ...(config.instanceId !== undefined ? { instanceId: config.instanceId } : {}),
  processingGuarantee: config.processingGuarantee,
  commitIntervalMs: config.commitIntervalMs,
  sessionTimeoutMs: config.sessionTimeoutMs,
  heartbeatIntervalMs: config.heartbeatIntervalMs,
  ...(config.inFlightRecordsHighWaterMark !== undefined ? { inFlightRecordsHighWaterMark: config.inFlightRecordsHighWaterMark } : {}),
  ...(config.fetchMaxBytesPerPartition !== undefined ? { fetchMaxBytesPerPartition: config.fetchMaxBytesPerPartition } : {}),
  ...(config.transactionTimeoutMs !== undefined ? { transactionTimeoutMs: config.transactionTimeoutMs } : {}),
  log:
    config.dataDir !== undefined
      ? { dataDir: config.dataDir, ...(config.brokerOptions !== undefined ? { brokerOptions: config.brokerOptions } : {}) }
      : { brokers: [config.bootstrap ?? ''], requestTimeoutMs: 30_000, logLevel: config.kafkajsLogLevel ?? 'nothing' },
});

const input = pipeline.stream(config.input, { key: Serdes.string(), value: Serdes.string() });
if (config.pipeline === 'spans') {
  // Every kind of operator the runtime must carry across commits and crashes: a per-record one, an
  // asynchronous one in order (a timer now and then, like an HTTP call), one that spans records
  // (bufferCount: its remainder is emitted when the batch completes) and an asynchronous one over
  // those spans (mergeMap to a Promise).
  input
    .mapValues((value) => `out-${value}`)
    .pipe(
      concatMap(async (record: Rec) => {
        if (record.offset % 20n === 0n) await sleep(1);
        else await Promise.resolve();
        return { ...record, value: `${record.value}-c` };
      }),
      bufferCount(5),
      mergeMap(async (records: Rec[]) => {
        await sleep(records.length % 2);
        return records.map((record) => ({ ...record, value: `${record.value}-b` }));
      }),
      mergeMap((records: Rec[]) => records),
    )
    .to(config.output, { key: Serdes.string(), value: Serdes.string() });
} else {
  const delayMs = config.slowDelayMs ?? 1;
  input
    .pipe(
      concatMap(async (record: Rec) => {
        await sleep(delayMs);
        return record;
      }),
    )
    // The output is small: the test is about the memory the input could take.
    .mapValues((value) => String(value?.length ?? 0))
    .to(config.output, { key: Serdes.string(), value: Serdes.string() });
}

pipeline.state$.subscribe((state) => {
  if (state === 'ERROR') {
    report({ event: 'error', message: String(pipeline.error?.stack ?? pipeline.error) });
    process.exit(1);
  }
});

// `on`, not `once`: the runtime's own signal handling (it closes the app too) re-raises the signal
// when no listener of the program is left, and this listener must be the one that ends the process.
process.on('SIGTERM', () => {
  void pipeline.close().then(() => {
    report({ event: 'closed' });
    process.exit(pipeline.state === 'NOT_RUNNING' ? 0 : 1);
  });
});

try {
  await pipeline.start();
} catch (error) {
  report({ event: 'error', message: String((error as Error).stack ?? error) });
  process.exit(1);
}
report({ event: 'running' });

let lastProgress = '';
setInterval(() => {
  const metrics = pipeline.metrics();
  const progress = JSON.stringify({
    event: 'progress',
    tasks: metrics.tasks.map((task) => task.taskId),
    recordsIn: metrics.tasks.reduce((sum, task) => sum + task.recordsIn, 0),
    recordsOut: metrics.tasks.reduce((sum, task) => sum + task.recordsOut, 0),
    inFlight: metrics.tasks.reduce((sum, task) => sum + task.inFlightRecords, 0),
    commits: metrics.commits,
    lag: metrics.tasks.reduce((sum, task) => sum + task.lag, 0),
  });
  if (progress !== lastProgress) {
    lastProgress = progress;
    process.stdout.write(`${progress}\n`);
  }
}, 20);

if (config.memoryReportIntervalMs !== undefined) {
  setInterval(() => {
    // After a full collection, heapUsed is what the process really holds, not garbage not yet collected.
    globalThis.gc?.();
    const { heapUsed, rss } = process.memoryUsage();
    const metrics = pipeline.metrics();
    report({
      event: 'memory',
      heapUsedBytes: heapUsed,
      rssBytes: rss,
      recordsIn: metrics.tasks.reduce((sum, task) => sum + task.recordsIn, 0),
      lag: metrics.tasks.reduce((sum, task) => sum + task.lag, 0),
    });
  }, config.memoryReportIntervalMs);
}
