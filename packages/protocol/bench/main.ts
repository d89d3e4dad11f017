/*
 * The package benchmark: primitives, the generic message codec against kafkajs, the RecordBatch v2
 * codec and CRC-32C, each against a baseline measured in the same run. Prints Markdown.
 * `npx tsc -b && node packages/protocol/dist/bench/main.js [--quick]` (about 10 s with --quick).
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { FULL_TIMING, QUICK_TIMING } from './measure.js';
import { benchMessages } from './messages.js';
import { benchInt64 } from './primitives.js';
import { VALUE_BYTES, benchCrc, benchRecordBatchCodecs } from './record-batch.js';

const quick = process.argv.includes('--quick');
const timing = quick ? QUICK_TIMING : FULL_TIMING;
const startedMs = performance.now();

console.log(`# @defter/protocol benchmark${quick ? ' (--quick)' : ''}\n`);
console.log(`Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${new Date().toISOString().slice(0, 10)}\n`);
console.log('## Primitives\n');
console.log((await benchInt64(timing)).join('\n'));
const messages = await benchMessages(timing);
console.log('\n## Message codec: encode\n');
console.log(messages.encode.join('\n'));
console.log('\n## Message codec: decode\n');
console.log(messages.decode.join('\n'));
console.log(`\n## RecordBatch v2 codec (${VALUE_BYTES}-byte values)\n`);
console.log((await benchRecordBatchCodecs(timing)).join('\n'));
console.log('\n## CRC-32C\n');
console.log((await benchCrc(timing)).join('\n'));
console.log(`\n(run took ${((performance.now() - startedMs) / 1000).toFixed(1)} s)`);
