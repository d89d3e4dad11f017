/*
 * Child process of crash.test.ts: appends batches forever to the partition log in argv[2]
 * with flush.messages = 1 (fsync before acknowledging), several in flight at once so that group
 * commit is exercised, and prints "<batch number> <base offset>" for every acknowledged append.
 * The test kills it with SIGKILL at a random moment.
 */
import { PartitionLog } from '../../src/partition-log.js';
import { defaultLogConfig } from '../../src/log-config.js';
import { crashBatch } from './crash-batch.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: crash-writer <dir>');
const inFlight = 4;

const log = await PartitionLog.open({ dir, config: { ...defaultLogConfig, flushMessages: 1, segmentBytes: 4096, indexIntervalBytes: 256 } });
let next = Number(log.logEndOffset / 3n);
process.stdout.write(`ready ${next}\n`);

async function worker(): Promise<void> {
  for (;;) {
    const number = next++;
    const info = await log.append(crashBatch(number));
    process.stdout.write(`${number} ${info.baseOffset}\n`);
  }
}
await Promise.all(Array.from({ length: inFlight }, () => worker()));
