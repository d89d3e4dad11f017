import { readdir } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { startBroker, type RunningBroker } from '@defter/broker';

/**
 * The broker every demo runs on: in this process on `dataDir`, without a listener (no sockets),
 * one partition for the internal topics and no initial rebalance delay, so a demo starts at once.
 */
export function startDemoBroker(dataDir: string): Promise<RunningBroker> {
  return startBroker({ dataDir, listen: false, groupInitialRebalanceDelayMs: 0, offsetsTopicNumPartitions: 1, transactionStateLogNumPartitions: 1 });
}

/** Refuses a data directory that holds anything: a demo's report is only right from nothing. An absent one is fine. */
export async function requireEmptyDirectory(dataDir: string): Promise<void> {
  const entries = await readdir(dataDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  if (entries.length > 0) throw new Error(`the demo needs an empty data directory, and ${dataDir} is not (delete it to start over)`);
}

/**
 * Runs `main` when the module at `moduleUrl` (its `import.meta.url`) is the process's entry point
 * (`node dist/src/demo.js`), not when a test imports it; a failure prints its message and sets
 * the exit code to 1.
 */
export function runIfEntryPoint(moduleUrl: string, main: () => Promise<void>): void {
  const entryPoint = process.argv[1];
  if (entryPoint === undefined || moduleUrl !== pathToFileURL(entryPoint).href) return;
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  });
}
