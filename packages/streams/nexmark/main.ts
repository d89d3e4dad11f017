/**
 * `pnpm bench:nexmark`: NEXMark q0–q2 on one core, with baselines and peers in the same run (see `bench.ts`).
 *
 *   pnpm bench:nexmark [--quick] [--events N] [--queries q0,q1,q2] [--rows ceiling,app,loop,kafkats] [--seed N]
 *   (node packages/streams/dist/nexmark/main.js)
 */
import { UsageError, parseArguments, runNexmarkBench, type NexmarkBenchArguments } from './bench.js';

let parsed: NexmarkBenchArguments;
try {
  parsed = parseArguments(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(error.message);
  process.exit(2);
}
const rows = await runNexmarkBench(parsed);
// A wrong output fails the run: a fast wrong answer is not a figure.
if (rows.some((row) => !row.check.ok)) process.exitCode = 1;
