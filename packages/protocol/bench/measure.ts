import { performance } from 'node:perf_hooks';

/**
 * How long each measurement runs. Contenders compared in one row are measured in alternating
 * rounds and each keeps its best round, so a burst of load from elsewhere on the machine does not
 * land on one side only. `--quick` uses one short round for a smoke run.
 */
export interface Timing {
  readonly warmUpMs: number;
  readonly measureMs: number;
  readonly rounds: number;
}

export const FULL_TIMING: Timing = { warmUpMs: 100, measureMs: 250, rounds: 3 };
export const QUICK_TIMING: Timing = { warmUpMs: 30, measureMs: 120, rounds: 1 };

/** One side of a comparison: a synchronous operation, or one that returns a promise (awaited one at a time). */
export type Operation = { readonly sync: () => unknown } | { readonly async: () => Promise<unknown> };

/** Runs `operation` repeatedly for about `measureMs` (after `warmUpMs`) and returns operations per second. */
function syncRate(operation: () => unknown, warmUpMs: number, measureMs: number): number {
  const warmUpStart = performance.now();
  while (performance.now() - warmUpStart < warmUpMs) operation();
  let count = 0;
  const start = performance.now();
  let elapsedMs = 0;
  do {
    operation();
    count++;
    elapsedMs = performance.now() - start;
  } while (elapsedMs < measureMs);
  return (count * 1000) / elapsedMs;
}

async function asyncRate(operation: () => Promise<unknown>, warmUpMs: number, measureMs: number): Promise<number> {
  const warmUpStart = performance.now();
  while (performance.now() - warmUpStart < warmUpMs) await operation();
  let count = 0;
  const start = performance.now();
  let elapsedMs = 0;
  do {
    await operation();
    count++;
    elapsedMs = performance.now() - start;
  } while (elapsedMs < measureMs);
  return (count * 1000) / elapsedMs;
}

/** Operations per second of each operation: the best of `timing.rounds` alternating rounds (warm-up in the first only). */
export async function bestRates(timing: Timing, operations: readonly Operation[]): Promise<number[]> {
  const best = operations.map(() => 0);
  for (let round = 0; round < timing.rounds; round++) {
    const warmUpMs = round === 0 ? timing.warmUpMs : 0;
    for (let i = 0; i < operations.length; i++) {
      const operation = operations[i]!;
      const rate = 'sync' in operation ? syncRate(operation.sync, warmUpMs, timing.measureMs) : await asyncRate(operation.async, warmUpMs, timing.measureMs);
      best[i] = Math.max(best[i]!, rate);
    }
  }
  return best;
}

/** Thousands separators from 100 up, one decimal below. */
export const format = (value: number): string => (value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1));

/** `ours / baseline` as "2.3x", or a dash when there is no baseline. */
export const ratio = (ours: number, baseline: number | undefined): string =>
  baseline === undefined ? '—' : `${(ours / baseline).toFixed(ours / baseline >= 10 ? 0 : 1)}x`;
