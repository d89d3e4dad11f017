/**
 * Graceful stop on SIGINT/SIGTERM. The process-wide registry driven through a fake process (one
 * listener per signal however many apps, closing every app, raising the signal again, a second
 * signal exiting at once), and real child processes running a pipeline against a real broker:
 * signalled mid-stream, they finish their batches, commit exactly what they processed, leave the
 * group at once and die of the signal; a restarted child continues with nothing processed twice.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { partitionForKey } from '@defter/broker';
import { SIGNAL_EXIT_CODES, type ShutdownSignal } from '../src/index.js';
import { processShutdownSignals, ShutdownSignals, type SignalHost, type ShutdownTarget } from '../src/runtime/shutdown-signals.js';
import { committedOffsets, produce, readAll, startCluster, waitUntil, type TestCluster } from './runtime-support.js';

/** A process stand-in: listeners by signal, and what was asked of it. */
class FakeHost implements SignalHost {
  readonly pid = 4242;
  readonly listeners = new Map<ShutdownSignal, Array<() => void>>();
  readonly kills: Array<[number, ShutdownSignal]> = [];
  readonly exits: number[] = [];

  on(signal: ShutdownSignal, listener: () => void): void {
    this.listeners.set(signal, [...(this.listeners.get(signal) ?? []), listener]);
  }

  removeListener(signal: ShutdownSignal, listener: () => void): void {
    this.listeners.set(
      signal,
      (this.listeners.get(signal) ?? []).filter((entry) => entry !== listener),
    );
  }

  listenerCount(signal: ShutdownSignal): number {
    return this.listeners.get(signal)?.length ?? 0;
  }

  kill(pid: number, signal: ShutdownSignal): void {
    this.kills.push([pid, signal]);
  }

  exit(code: number): void {
    this.exits.push(code);
  }

  raise(signal: ShutdownSignal): void {
    for (const listener of [...(this.listeners.get(signal) ?? [])]) listener();
  }
}

/** An app stand-in whose close() deregisters it when `finish()` is called, as a closed app does. */
function fakeApp(registry: ShutdownSignals, applicationId: string) {
  let closeCalls = 0;
  let finishClose!: () => void;
  const closed = new Promise<void>((resolve) => (finishClose = resolve));
  const target: ShutdownTarget = {
    applicationId,
    close: () => {
      closeCalls += 1;
      return closed;
    },
  };
  const deregister = registry.register(target);
  return {
    deregister,
    closeCalls: () => closeCalls,
    finish: () => {
      finishClose();
      deregister();
    },
  };
}

test('one listener per signal however many apps; the last app to go removes them, and nothing is raised', (t) => {
  const host = new FakeHost();
  const lines: string[] = [];
  const registry = new ShutdownSignals(host, (line) => lines.push(line));
  const apps = Array.from({ length: 25 }, (_, index) => fakeApp(registry, `app-${index}`));
  t.is(host.listenerCount('SIGINT'), 1);
  t.is(host.listenerCount('SIGTERM'), 1);
  t.is(registry.size, 25);
  for (const entry of apps) entry.deregister();
  apps[0]!.deregister();
  t.is(host.listenerCount('SIGINT'), 0);
  t.is(host.listenerCount('SIGTERM'), 0);
  t.deepEqual(host.kills, []);
  t.deepEqual(lines, []);
  fakeApp(registry, 'again');
  t.is(host.listenerCount('SIGTERM'), 1, 'listening again for a new app');
});

test('a signal closes every app; once the last is closed the listeners go and the signal is raised again', async (t) => {
  const host = new FakeHost();
  const lines: string[] = [];
  const registry = new ShutdownSignals(host, (line) => lines.push(line));
  const first = fakeApp(registry, 'first');
  const second = fakeApp(registry, 'second');
  host.raise('SIGTERM');
  t.deepEqual([first.closeCalls(), second.closeCalls()], [1, 1]);
  t.deepEqual(lines, ['defter streams: SIGTERM: closing first, second gracefully (send it again to exit at once)']);
  first.finish();
  t.deepEqual(host.kills, [], 'not before every app is closed');
  t.is(host.listenerCount('SIGTERM'), 1);
  second.finish();
  t.is(host.listenerCount('SIGTERM'), 0);
  t.is(host.listenerCount('SIGINT'), 0);
  t.deepEqual(host.kills, [[4242, 'SIGTERM']]);
  t.deepEqual(host.exits, []);
});

test('a second signal during the shutdown exits at once with 130 (SIGINT) or 143 (SIGTERM)', (t) => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const host = new FakeHost();
    const lines: string[] = [];
    const registry = new ShutdownSignals(host, (line) => lines.push(line));
    const slow = fakeApp(registry, 'slow');
    host.raise(signal);
    host.raise(signal);
    t.is(slow.closeCalls(), 1);
    t.deepEqual(host.exits, [SIGNAL_EXIT_CODES[signal]]);
    t.is(lines[1], `defter streams: ${signal} again during the graceful shutdown: exiting at once with status ${SIGNAL_EXIT_CODES[signal]}`);
  }
  t.deepEqual(SIGNAL_EXIT_CODES, { SIGINT: 130, SIGTERM: 143 });
});

test('with a listener of the program\'s own the signal is not raised again (that listener decides); an app registered during the shutdown is closed too', (t) => {
  const host = new FakeHost();
  const registry = new ShutdownSignals(host, () => undefined);
  const own = (): void => undefined;
  host.on('SIGINT', own);
  const first = fakeApp(registry, 'first');
  host.raise('SIGINT');
  const late = fakeApp(registry, 'late');
  t.is(late.closeCalls(), 1);
  first.finish();
  late.finish();
  t.deepEqual(host.kills, []);
  t.is(host.listenerCount('SIGINT'), 1, 'only the program\'s own listener is left');
});

test('the process registry adds one listener per signal for many apps and no MaxListenersExceededWarning', (t) => {
  const before = { SIGINT: process.listenerCount('SIGINT'), SIGTERM: process.listenerCount('SIGTERM') };
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning);
  };
  process.on('warning', onWarning);
  const deregisters = Array.from({ length: 30 }, (_, index) =>
    processShutdownSignals.register({ applicationId: `many-${index}`, close: () => Promise.resolve() }),
  );
  t.is(process.listenerCount('SIGINT'), before.SIGINT + 1);
  t.is(process.listenerCount('SIGTERM'), before.SIGTERM + 1);
  for (const deregister of deregisters) deregister();
  t.is(process.listenerCount('SIGINT'), before.SIGINT);
  t.is(process.listenerCount('SIGTERM'), before.SIGTERM);
  process.removeListener('warning', onWarning);
  t.deepEqual(warnings, []);
});

// ---- real child processes against a real broker ----

const INPUT_RECORDS = 2_000;
const SESSION_TIMEOUT_MS = 30_000;
const inputs = Array.from({ length: INPUT_RECORDS }, (_, n) => ({ key: `k${n}`, value: String(n) }));

interface Child {
  readonly process: ChildProcessByStdio<null, Readable, Readable>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** The last number printed after `label`, or -1. */
  last(label: string): number;
  closed(): { recordsIn: number; recordsOut: number; state: string } | undefined;
}

function spawnChild(t: import('ava').ExecutionContext, cluster: TestCluster, applicationId: string, mode: 'slow' | 'hang'): Child {
  const child = spawn(
    process.execPath,
    [
      '--import=tsx',
      '--conditions=defter-source',
      fileURLToPath(new URL('./runtime-signals-child.ts', import.meta.url)),
      cluster.bootstrap,
      applicationId,
      mode,
      String(SESSION_TIMEOUT_MS),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const last = (label: string): number => {
    const matches = [...stdout.matchAll(new RegExp(`^${label} (\\d+)$`, 'gm'))];
    return matches.length === 0 ? -1 : Number(matches.at(-1)![1]);
  };
  return {
    process: child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    last,
    closed: () => {
      const match = /^closed (\d+) (\d+) (\w+)$/m.exec(stdout);
      return match === null ? undefined : { recordsIn: Number(match[1]), recordsOut: Number(match[2]), state: match[3]! };
    },
  };
}

const sum = (offsets: readonly string[]): number => offsets.map(Number).reduce((a, b) => a + Math.max(0, b), 0);

async function stopsGracefully(t: import('ava').ExecutionContext, signal: ShutdownSignal): Promise<void> {
  const cluster = await startCluster(t);
  await cluster.createTopic('in', 2);
  await cluster.createTopic('out', 2);
  await produce(cluster, 'in', inputs);
  const applicationId = `signals-${signal.toLowerCase()}`;

  const first = spawnChild(t, cluster, applicationId, 'slow');
  t.true(await waitUntil(() => first.last('processed') >= 200, 60_000), `first child: ${first.stdout()} ${first.stderr()}`);
  first.process.kill(signal);
  t.deepEqual(await first.exited, { code: null, signal }, 'the child ends the way the signal ends a process');
  const closed = first.closed();
  t.truthy(closed, `first child: ${first.stdout()}`);
  t.is(closed!.state, 'NOT_RUNNING');
  t.is(closed!.recordsOut, closed!.recordsIn, 'every fetched batch was finished');
  t.true(closed!.recordsIn < INPUT_RECORDS, `signalled mid-stream (${closed!.recordsIn} of ${INPUT_RECORDS})`);
  t.true(first.stderr().includes(`defter streams: ${signal}: closing ${applicationId} gracefully`), first.stderr());
  t.is(sum(await committedOffsets(cluster, applicationId, 'in')), closed!.recordsIn, 'committed = processed (the commit interval never came)');
  const written = await readAll(cluster, ['out'], closed!.recordsIn);
  t.is(written.length, closed!.recordsIn);

  // The group was left: the successor gets both partitions without waiting for the session timeout.
  const second = spawnChild(t, cluster, applicationId, 'slow');
  t.true(await waitUntil(() => second.last('started') >= 0, 60_000), `second child: ${second.stdout()} ${second.stderr()}`);
  const takeoverMs = second.last('started');
  t.log(`${signal} after ${closed!.recordsIn} of ${INPUT_RECORDS} records; the successor was assigned after ${takeoverMs} ms`);
  t.true(takeoverMs < SESSION_TIMEOUT_MS / 2, `the successor was assigned after ${takeoverMs} ms (session timeout ${SESSION_TIMEOUT_MS} ms)`);
  const rest = INPUT_RECORDS - closed!.recordsIn;
  t.true(await waitUntil(() => second.last('processed') >= rest, 60_000), `second child: ${second.stdout()}`);
  second.process.kill(signal);
  t.deepEqual(await second.exited, { code: null, signal });
  t.deepEqual(second.closed(), { recordsIn: rest, recordsOut: rest, state: 'NOT_RUNNING' }, 'the restart read only what was not committed');
  const perPartition = [0, 1].map((partition) => inputs.filter((record) => partitionForKey(Buffer.from(record.key), 2) === partition).length);
  t.deepEqual(await committedOffsets(cluster, applicationId, 'in'), perPartition.map(String), 'everything committed');
  const output = await readAll(cluster, ['out'], INPUT_RECORDS);
  t.deepEqual(
    output.map((record) => record.value).sort(),
    inputs.map((record) => `out-${record.value}`).sort(),
    'each input exactly once',
  );
}

test.serial('SIGTERM mid-stream: batches finished, offsets committed, group left at once, status SIGTERM; a restart processes nothing twice', async (t) => {
  await stopsGracefully(t, 'SIGTERM');
});

test.serial('SIGINT mid-stream: the same', async (t) => {
  await stopsGracefully(t, 'SIGINT');
});

test.serial('a second signal while the shutdown waits for a batch that never ends exits at once with 143 (SIGTERM) / 130 (SIGINT)', async (t) => {
  const cluster = await startCluster(t);
  await cluster.createTopic('in', 1);
  await cluster.createTopic('out', 1);
  await produce(cluster, 'in', inputs.slice(0, 100));
  await Promise.all(
    (['SIGTERM', 'SIGINT'] as const).map(async (signal) => {
      const child = spawnChild(t, cluster, `stuck-${signal.toLowerCase()}`, 'hang');
      t.true(await waitUntil(() => child.last('fetched') > 0, 60_000), `child: ${child.stdout()} ${child.stderr()}`);
      child.process.kill(signal);
      t.true(await waitUntil(() => child.stderr().includes('gracefully'), 20_000), child.stderr());
      child.process.kill(signal);
      t.deepEqual(await child.exited, { code: SIGNAL_EXIT_CODES[signal], signal: null });
      t.true(child.stderr().includes(`defter streams: ${signal} again during the graceful shutdown: exiting at once with status ${SIGNAL_EXIT_CODES[signal]}`), child.stderr());
      t.is(child.closed(), undefined, 'it never got to close');
    }),
  );
});
