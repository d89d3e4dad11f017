import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import type { StartBrokerOptions } from '../../src/index.js';
import { killQuietly } from './processes.js';

const BROKER_SCRIPT = fileURLToPath(new URL('./broker-process.ts', import.meta.url));
const START_TIMEOUT_MS = 30_000;

export interface ChildBroker {
  readonly child: ChildProcess;
  readonly port: number;
  readonly bootstrap: string;
  /** Resolves with the exit code or signal once the process has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process wrote to stderr so far (its log lines). */
  stderr(): string;
}

/**
 * Runs a broker in a child process on `dataDir` (so it can be SIGKILLed like a crashed server) and
 * resolves once it listens; `topics` (`name:partitions`) are created first if missing. The process is
 * killed when the test ends.
 */
export function spawnChildBroker(t: ExecutionContext, dataDir: string, topics: readonly string[] = []): Promise<ChildBroker> {
  return spawnConfiguredBroker(t, dataDir, { topics });
}

/**
 * `spawnChildBroker` with broker settings (`settings`, JSON-serialisable) and a port of the test's
 * choosing (0: any), so that a broker SIGKILLed on a port can come back on the same one and clients
 * reconnect to it as to a restarted server.
 */
export async function spawnConfiguredBroker(
  t: ExecutionContext,
  dataDir: string,
  options: { settings?: Omit<StartBrokerOptions, 'clock' | 'logger' | 'dataDir' | 'port' | 'host'>; port?: number; topics?: readonly string[] } = {},
): Promise<ChildBroker> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=defter-source', BROKER_SCRIPT, dataDir, String(options.port ?? 0), JSON.stringify(options.settings ?? {}), ...(options.topics ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => killQuietly(child));
  const stderrChunks: Buffer[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderrChunks.push(chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const lines = createInterface({ input: child.stdout! });
  const boundPort = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child broker did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`child broker exited (${code ?? signal}) before listening: ${Buffer.concat(stderrChunks).toString()}`));
    });
  });
  return { child, port: boundPort, bootstrap: `127.0.0.1:${boundPort}`, exited, stderr: () => Buffer.concat(stderrChunks).toString() };
}
