import { once } from 'node:events';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { LogManager } from '@defter/log';
import type { CliIo } from './program.js';

const KEEP_ALIVE_INTERVAL_MS = 60 * 60 * 1000;

export interface StorageNodeOptions {
  dataDir: string;
  logLevel: string;
  io: CliIo;
  /** Resolves when the node should stop; SIGINT or SIGTERM by default. */
  stopSignal?: Promise<unknown>;
}

/**
 * Opens the data directory with the storage engine and keeps it open (retention and compaction
 * run in the background) until asked to stop; then flushes and closes every log.
 */
export async function runStorageNode(options: StorageNodeOptions): Promise<void> {
  const dataDir = resolve(options.dataDir);
  const logger = pino({ level: options.logLevel, base: { component: 'storage' } }, pino.destination(2));
  const manager = await LogManager.open({ dataDir, logger });
  const logs = manager.logs();
  options.io.out(`defter storage engine: ${logs.length} partition(s) recovered in ${dataDir}; stop with Ctrl-C.`);
  const stop = options.stopSignal ?? Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  // The background tasks' timers are unref'd so that they never hold a process open; this one
  // handle keeps the node running until it is asked to stop.
  const keepAlive = setInterval(() => undefined, KEEP_ALIVE_INTERVAL_MS);
  try {
    await stop;
  } finally {
    clearInterval(keepAlive);
  }
  await manager.close();
  options.io.out('defter storage engine: every log flushed and closed.');
}
