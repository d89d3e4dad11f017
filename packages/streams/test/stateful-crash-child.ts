/**
 * A child process for the stateful crash tests: counts `in` by key (store "counts") with the given
 * guarantee and state directory, in small batches, and prints `processed <n>` as records go through.
 * Usage: stateful-crash-child.ts <bootstrap> <stateDir> <at_least_once|exactly_once>
 */
import { app, type ProcessingGuarantee } from '../src/index.js';
import { defineCounting } from './stateful-support.js';

const [bootstrap, stateDir, guarantee] = process.argv.slice(2);
const pipeline = app({
  applicationId: 'crash-counts',
  instanceId: 'instance-1',
  processingGuarantee: guarantee as ProcessingGuarantee,
  commitIntervalMs: 150,
  fetchMaxBytesPerPartition: 600,
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 500,
  stateDir: stateDir!,
  log: { brokers: [bootstrap!] },
});
defineCounting(pipeline);
await pipeline.start();
let reported = -1;
setInterval(() => {
  const processed = pipeline.metrics().tasks.reduce((sum, task) => sum + task.recordsIn, 0);
  if (processed !== reported) {
    reported = processed;
    process.stdout.write(`processed ${processed}\n`);
  }
}, 10);
