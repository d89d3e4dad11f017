import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** Runs the real `defter` command (its TypeScript sources, through tsx) as a child process. */

const main = join(import.meta.dirname, '..', '..', 'src', 'main.ts');
// Resolved here, not by the child, which may run in a directory outside the workspace.
const tsxLoader = import.meta.resolve('tsx');

export interface DefterExit {
  code: number | null;
  /** The signal that ended the process, if one did. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningDefter {
  exit: Promise<DefterExit>;
  stdoutLine: (pattern: RegExp) => Promise<string>;
  /** The first line of stderr (so far or to come) that matches. */
  stderrLine: (pattern: RegExp) => Promise<string>;
  kill: (signal: NodeJS.Signals) => void;
}

export interface RunOptions {
  /** Written to standard input, which is then closed. */
  input?: string;
  env?: Record<string, string>;
  cwd?: string;
}

export function startDefter(args: readonly string[], options: RunOptions = {}): RunningDefter {
  const child = spawn(process.execPath, [`--import=${tsxLoader}`, '--conditions=defter-source', main, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...withoutDefterVariables(process.env), ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
  });
  child.stdin.end(options.input ?? '');
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const waiter of [...waiters]) {
      const match = stdout.split('\n').find((line) => waiter.pattern.test(line));
      if (match !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  });
  const stderrWaiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const matchStderr = (): void => {
    for (const waiter of [...stderrWaiters]) {
      const match = stderr.split('\n').find((line) => waiter.pattern.test(line));
      if (match !== undefined) {
        stderrWaiters.splice(stderrWaiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  };
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    matchStderr();
  });
  const exit = new Promise<DefterExit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return {
    exit,
    stdoutLine: (pattern) =>
      new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        void exit.then(({ code, stderr: err }) => reject(new Error(`defter exited (${code}) before printing ${pattern}: ${err}`)));
      }),
    stderrLine: (pattern) =>
      new Promise((resolve, reject) => {
        stderrWaiters.push({ pattern, resolve });
        matchStderr();
        void exit.then(({ code, signal, stderr: err }) => reject(new Error(`defter exited (${code ?? signal}) before printing ${pattern} on stderr: ${err}`)));
      }),
    kill: (signal) => child.kill(signal),
  };
}

export function runDefter(args: readonly string[], options: RunOptions = {}): Promise<DefterExit> {
  return startDefter(args, options).exit;
}

/** The test's own DEFTER_* settings must not leak into the command under test. */
function withoutDefterVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => !entry[0].startsWith('DEFTER_') && entry[1] !== undefined));
}
