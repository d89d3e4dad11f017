import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { ExecutionContext } from 'ava';

export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when the process was killed because it ran past its time limit. */
  readonly timedOut: boolean;
}

export interface RunOptions {
  /** Written to stdin, which is then closed. */
  readonly input?: string | Buffer;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

const RUN_TIMEOUT_MS_DEFAULT = 60_000;

/**
 * Runs a program to completion and captures its output; kills it (SIGKILL) after `timeoutMs`, and
 * when the test ends early, so no client outlives its test.
 */
export function runProcess(t: ExecutionContext | undefined, command: string, args: readonly string[], options: RunOptions = {}): Promise<ProcessResult> {
  const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  t?.teardown(() => killQuietly(child));
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin!.on('error', () => undefined);
  if (options.input !== undefined) child.stdin!.end(options.input);
  else child.stdin!.end();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killQuietly(child);
  }, options.timeoutMs ?? RUN_TIMEOUT_MS_DEFAULT);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), timedOut });
    });
  });
}

export function killQuietly(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
}

/** Whether `command` can be run (`command -v`). */
export function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

const pythonCache = new Map<string, string | undefined>();

/**
 * A python3 interpreter that can import `module`. Debian's packages (python3-confluent-kafka,
 * python3-kafka) install into /usr/bin/python3, which need not be the first python3 on PATH.
 */
export function pythonWith(module: string): string | undefined {
  if (pythonCache.has(module)) return pythonCache.get(module);
  const found = ['/usr/bin/python3', 'python3'].find(
    (python) => spawnSync(python, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 10_000 }).status === 0,
  );
  pythonCache.set(module, found);
  return found;
}

/** kcat's arguments common to every call: the broker, quiet logs, no metadata caching surprises. */
export function kcatArgs(bootstrap: string, ...args: string[]): string[] {
  return ['-b', bootstrap, '-X', 'topic.metadata.refresh.interval.ms=1000', ...args];
}
