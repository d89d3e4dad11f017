/*
 * Child process of crash-index.test.ts: appends `count` batches to the partition log in argv[2]
 * (config as JSON in argv[3]), waits for the flushes of rolled segments, prints "done" and then
 * idles until the test SIGKILLs it. Index entries of the active segment are kept in memory until
 * flush, roll or close, so the kill leaves its index files behind the log.
 */
import { PartitionLog } from '../../src/partition-log.js';
import { defaultLogConfig, type LogConfig } from '../../src/log-config.js';
import { crashBatch } from './crash-batch.js';

const [dir, configJson, countText] = process.argv.slice(2);
if (dir === undefined || configJson === undefined || countText === undefined) throw new Error('usage: index-crash-writer <dir> <config json> <count>');
const config: LogConfig = { ...defaultLogConfig, ...(JSON.parse(configJson) as Partial<LogConfig>) };
const log = await PartitionLog.open({ dir, config });
for (let n = 0; n < Number(countText); n++) await log.append(crashBatch(n));
// Let the background fsync and checkpoint of rolled segments finish: the kill then hits a log
// whose checkpoint is as advanced as it gets without a flush of the active segment.
await new Promise((resolve) => setTimeout(resolve, 300));
process.stdout.write(`done ${log.logEndOffset} ${log.recoveryPointOffset}\n`);
setInterval(() => {}, 1000);
