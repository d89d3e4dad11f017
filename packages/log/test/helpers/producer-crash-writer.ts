/*
 * Child process of partition-log-producers.test.ts: an idempotent producer (id 4242, epoch 0)
 * appending batch after batch to the partition log in argv[2], batch n holding 3 records at
 * sequence 3n, with flush.messages = 1 and small segments (so rolls take producer snapshots),
 * several in flight at once (group commit). Prints "<batch number> <base offset>" for every
 * acknowledged append. The test kills it with SIGKILL at a random moment.
 */
import { PartitionLog } from '../../src/partition-log.js';
import { defaultLogConfig } from '../../src/log-config.js';
import { producerCrashBatch } from './producer-crash-batch.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: producer-crash-writer <dir>');
const inFlight = 4;

const log = await PartitionLog.open({ dir, config: { ...defaultLogConfig, flushMessages: 1, segmentBytes: 2048, indexIntervalBytes: 256 } });
let next = Number(log.logEndOffset / 3n);
process.stdout.write(`ready ${next}\n`);

async function worker(): Promise<void> {
  for (;;) {
    const number = next++;
    const info = await log.append(producerCrashBatch(number));
    process.stdout.write(`${number} ${info.baseOffset}\n`);
  }
}
await Promise.all(Array.from({ length: inFlight }, () => worker()));
