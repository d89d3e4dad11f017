import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { ExecutionContext } from 'ava';
import { pino } from 'pino';
import { startBroker, type RunningBroker, type StartBrokerOptions } from '../../src/index.js';

/** One pino line as parsed JSON. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** Pino's numeric levels. */
export const LogLevel = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** A pino destination that keeps every line, so tests can assert what the broker logged. */
export class LogCapture {
  readonly lines: LogLine[] = [];
  private readonly listeners = new Set<() => void>();
  readonly stream = new Writable({
    write: (chunk: Buffer | string, _encoding, callback) => {
      for (const text of String(chunk).split('\n')) {
        if (text.trim() !== '') this.lines.push(JSON.parse(text) as LogLine);
      }
      for (const listener of this.listeners) listener();
      callback();
    },
  });

  /** Lines whose message (and, when given, whose `reason`) match. */
  matching(msg: string, reason?: RegExp): LogLine[] {
    return this.lines.filter((line) => line.msg === msg && (reason === undefined || reason.test(String(line['reason'] ?? ''))));
  }

  /** Resolves with the first line that satisfies `predicate`, waiting up to `timeoutMs` for it. */
  async waitFor(predicate: (line: LogLine) => boolean, timeoutMs = 5_000): Promise<LogLine> {
    const found = this.lines.find(predicate);
    if (found !== undefined) return found;
    return new Promise((resolve, reject) => {
      const listener = () => {
        const line = this.lines.find(predicate);
        if (line === undefined) return;
        cleanup();
        resolve(line);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching log line within ${timeoutMs} ms; lines: ${JSON.stringify(this.lines.slice(-10))}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      this.listeners.add(listener);
    });
  }
}

export interface TestBroker {
  readonly broker: RunningBroker;
  readonly port: number;
  readonly dataDir: string;
  readonly logs: LogCapture;
  /** `127.0.0.1:PORT`, as kcat's `-b` and the clients' bootstrap lists take it. */
  readonly bootstrap: string;
}

/** A fresh temporary directory, removed when the test ends. */
export async function tempDir(t: ExecutionContext, prefix = 'defter-broker-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Starts a broker on a fresh temporary directory and an ephemeral loopback port, logging at debug
 * level into a `LogCapture`; it is closed and its directory removed when the test ends.
 */
export async function startTestBroker(t: ExecutionContext, options: StartBrokerOptions & { dataDir?: string } = {}): Promise<TestBroker> {
  const dataDir = options.dataDir ?? (await tempDir(t));
  const logs = new LogCapture();
  const broker = await startBroker({
    port: 0,
    host: '127.0.0.1',
    logger: pino({ level: 'debug' }, logs.stream),
    ...options,
    dataDir,
  });
  // Teardowns run last-registered first: the broker closes before its directory is removed.
  t.teardown(() => broker.close());
  return { broker, port: broker.port, dataDir, logs, bootstrap: `127.0.0.1:${broker.port}` };
}

/** Polls `check` until it returns true or `timeoutMs` passes; returns the last result. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, intervalMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
