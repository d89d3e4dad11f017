import { setTimeout as delay } from 'node:timers/promises';
import type { StreamsApp } from '../runtime/app.js';

export interface RunUntilProcessedOptions {
  /** Give up (closing the app) after this long; default 120 000. */
  readonly timeoutMs?: number;
  /** How often the app's metrics are looked at; default 50. */
  readonly pollIntervalMs?: number;
}

const TIMEOUT_MS_DEFAULT = 120_000;
const POLL_INTERVAL_MS_DEFAULT = 50;

/**
 * Starts the app, waits until its tasks have taken in `recordsCount` records, then closes it (which
 * commits). Rejects when the app stops in ERROR (while running or at the closing commit) or the
 * records do not arrive within `timeoutMs`; the app is closed either way.
 */
export async function runUntilProcessed(streamsApp: StreamsApp, recordsCount: number, options: RunUntilProcessedOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS_DEFAULT;
  const pollIntervalMs = options.pollIntervalMs ?? POLL_INTERVAL_MS_DEFAULT;
  if (!Number.isSafeInteger(recordsCount) || recordsCount < 0) throw new RangeError(`recordsCount must be a non-negative integer, got ${recordsCount}`);
  if (!(timeoutMs > 0) || !(pollIntervalMs > 0)) throw new RangeError(`timeoutMs and pollIntervalMs must be positive, got ${timeoutMs} and ${pollIntervalMs}`);
  await streamsApp.start();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (streamsApp.state === 'ERROR') throw new Error(`the pipeline stopped: ${streamsApp.error?.message ?? 'unknown error'}`);
      const recordsIn = streamsApp.metrics().tasks.reduce((sum, task) => sum + task.recordsIn, 0);
      if (recordsIn >= recordsCount) break;
      if (Date.now() > deadline) throw new Error(`the pipeline took in ${recordsIn} of ${recordsCount} records in ${timeoutMs} ms`);
      await delay(pollIntervalMs);
    }
  } finally {
    await streamsApp.close();
  }
  // close() may end in ERROR too (a commit the log refused).
  if (streamsApp.error !== undefined) throw new Error(`the pipeline stopped: ${streamsApp.error.message}`);
}
