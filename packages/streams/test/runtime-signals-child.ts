/**
 * A child process for the signal tests: an at_least_once pipeline (`in` → `out`, values prefixed)
 * that stops on SIGINT/SIGTERM by default (no handler of its own). `slow` waits a few milliseconds
 * per record, so that a signal lands mid-stream; `hang` never finishes its first batch, so that its
 * graceful shutdown never ends. The commit interval is long: only the graceful close commits.
 * Prints `started <ms to the first assignment>`, `fetched <n>` and `processed <n>` as records go
 * through, and `closed <records in> <records out>` once NOT_RUNNING.
 * Usage: runtime-signals-child.ts <bootstrap> <applicationId> <slow|hang> <sessionTimeoutMs>
 */
import { concatMap, type Observable } from 'rxjs';
import { app, Serdes, type StreamRecord } from '../src/index.js';

const [bootstrap, applicationId, mode, sessionTimeoutMs] = process.argv.slice(2);
const RECORD_DELAY_MS = 5;

const pipeline = app({
  applicationId: applicationId!,
  commitIntervalMs: 600_000,
  sessionTimeoutMs: Number(sessionTimeoutMs),
  heartbeatIntervalMs: 1_000,
  // One record batch (100 records) per fetch: a signal finds batches under way and more to come.
  fetchMaxBytesPerPartition: 1_024,
  log: { brokers: [bootstrap!] },
});

type Rec = StreamRecord<string, string>;
const slowly = concatMap(async (record: Rec) => {
  await new Promise((resolve) => setTimeout(resolve, RECORD_DELAY_MS));
  return record;
});
const never = concatMap((_record: Rec) => new Promise<Rec>(() => undefined));

pipeline
  .stream('in', { key: Serdes.string(), value: Serdes.string() })
  .pipe((records: Observable<Rec>) => records.pipe(mode === 'hang' ? never : slowly))
  .mapValues((value) => `out-${value}`)
  .to('out', { key: Serdes.string(), value: Serdes.string() });

const totals = (): { recordsIn: number; recordsOut: number } => {
  const tasks = pipeline.metrics().tasks;
  return { recordsIn: tasks.reduce((sum, task) => sum + task.recordsIn, 0), recordsOut: tasks.reduce((sum, task) => sum + task.recordsOut, 0) };
};
pipeline.state$.subscribe((state) => {
  if (state === 'NOT_RUNNING' || state === 'ERROR') {
    const { recordsIn, recordsOut } = totals();
    process.stdout.write(`closed ${recordsIn} ${recordsOut} ${state}\n`);
  }
});

const startedMs = Date.now();
await pipeline.start();
process.stdout.write(`started ${Date.now() - startedMs}\n`);
let reported = '';
setInterval(() => {
  const { recordsIn, recordsOut } = totals();
  const line = `fetched ${recordsIn}\nprocessed ${recordsOut}\n`;
  if (line !== reported) {
    reported = line;
    process.stdout.write(line);
  }
}, 20).unref();
