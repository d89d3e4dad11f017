import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const main = join(import.meta.dirname, '..', 'src', 'main.ts');

interface Running {
  exit: Promise<{ code: number | null; stdout: string; stderr: string }>;
  stdoutLine: (pattern: RegExp) => Promise<string>;
  kill: (signal: NodeJS.Signals) => void;
}

function runDefter(args: string[]): Running {
  const child = spawn(process.execPath, ['--import=tsx', '--conditions=defter-source', main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stdout, stderr })),
  );
  return {
    exit,
    stdoutLine: (pattern) => new Promise((resolve) => waiters.push({ pattern, resolve })),
    kill: (signal) => child.kill(signal),
  };
}

test('an unknown command is refused with the nearest known one suggested', async (t) => {
  const { code, stderr } = await runDefter(['strat']).exit;
  t.is(code, 2);
  t.regex(stderr, /unknown command 'strat'\. Did you mean 'start'\?/);
});

test('start recovers the data directory, refuses a second process on it, and closes cleanly on SIGTERM', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'defter-cli-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const first = runDefter(['start', '--data-dir', dataDir, '--log-level', 'warn']);
  t.regex(await first.stdoutLine(/partition\(s\) recovered/), /0 partition\(s\) recovered in /);

  const second = await runDefter(['start', '--data-dir', dataDir, '--log-level', 'warn']).exit;
  t.is(second.code, 1);
  t.regex(second.stderr, /^defter: .*lock/im);

  first.kill('SIGTERM');
  const stopped = await first.exit;
  t.is(stopped.code, 0);
  t.regex(stopped.stdout, /every log flushed and closed/);
});
