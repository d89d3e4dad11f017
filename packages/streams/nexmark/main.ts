/**
 * `pnpm bench:nexmark`: NEXMark q0–q2, q3, q5, q8 on one core, with baselines and peers in the same run (see `bench.ts`).
 *
 *   pnpm bench:nexmark [--quick] [--events N] [--queries q0,q1,q2,q3,q5,q8] [--rows ceiling,app,loop,kafkats] [--seed N]
 *   (node packages/streams/dist/nexmark/main.js)
 */
import { parseCommandLine } from '../bench/command-line.js';
import { parseArguments, runNexmarkBench } from './bench.js';

const rows = await runNexmarkBench(parseCommandLine(parseArguments));
// A wrong output fails the run: a fast wrong answer is not a figure.
if (rows.some((row) => !row.check.ok)) process.exitCode = 1;
