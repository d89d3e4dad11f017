/**
 * A child process for the exactly-once crash test: runs an exactly_once pipeline (`in` → `out`,
 * values prefixed) with a stable instance id and a commit interval long enough that it is killed
 * with its transaction open. Prints `processed <n>` as records go through.
 * Usage: runtime-eos-child.ts <bootstrap> <commitIntervalMs>
 */
import { app, Serdes } from '../src/index.js';

const [bootstrap, commitIntervalMs] = process.argv.slice(2);
const pipeline = app({
  applicationId: 'eos-crash',
  instanceId: 'instance-1',
  processingGuarantee: 'exactly_once',
  commitIntervalMs: Number(commitIntervalMs),
  // The broker's minimum: the successor's join waits this long for the killed member to expire.
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 500,
  log: { brokers: [bootstrap!] },
});
pipeline
  .stream('in', { key: Serdes.string(), value: Serdes.string() })
  .mapValues((value) => `out-${value}`)
  .to('out', { key: Serdes.string(), value: Serdes.string() });
await pipeline.start();
let reported = -1;
setInterval(() => {
  const processed = pipeline.metrics().tasks.reduce((sum, task) => sum + task.recordsOut, 0);
  if (processed !== reported) {
    reported = processed;
    process.stdout.write(`processed ${processed}\n`);
  }
}, 20);
