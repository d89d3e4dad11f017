import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DirectoryLock, LOCK_FILE_NAME } from '../src/directory-lock.js';
import { LogDirectoryLockedError } from '../src/errors.js';
import { LogManager } from '../src/log-manager.js';
import { RecordingLogger } from '../src/logger.js';
import { ManualScheduler } from '../src/scheduler.js';

const directoryLockModule = fileURLToPath(new URL('../src/directory-lock.ts', import.meta.url));

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'defter-lock-'));
}

test('acquire writes the pid; a second acquire in the same process is refused with a clear error', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const lock = await DirectoryLock.acquire(dir);
  t.is(await fs.readFile(path.join(dir, LOCK_FILE_NAME), 'utf8'), `${process.pid}\n`);
  const error = await t.throwsAsync(DirectoryLock.acquire(dir), { instanceOf: LogDirectoryLockedError });
  t.is(error?.ownerPid, process.pid);
  t.is(error?.dataDir, dir);
  t.is(error?.message, `data directory ${dir} is locked by process ${process.pid}, which is still running`);
  await lock.release();
  await t.throwsAsync(fs.access(path.join(dir, LOCK_FILE_NAME)), { code: 'ENOENT' });
  const again = await DirectoryLock.acquire(dir);
  await again.release();
  await again.release(); // idempotent
});

test('a lock held by a dead pid is taken over and the takeover is logged', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  await fs.writeFile(path.join(dir, LOCK_FILE_NAME), '424242\n');
  const logger = new RecordingLogger();
  const lock = await DirectoryLock.acquire(dir, { logger, isProcessAlive: (pid) => pid !== 424242 });
  t.is(await fs.readFile(path.join(dir, LOCK_FILE_NAME), 'utf8'), `${process.pid}\n`);
  const warning = logger.lines.find((line) => line.level === 'warn');
  t.is(warning?.msg, `taking over the lock of ${dir} from process 424242, which is no longer running`);
  t.deepEqual(await fs.readdir(dir), [LOCK_FILE_NAME]);
  await lock.release();
});

test('a lock file without a pid (a crash between create and write) is taken over', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  await fs.writeFile(path.join(dir, LOCK_FILE_NAME), '');
  const lock = await DirectoryLock.acquire(dir);
  t.is(await fs.readFile(path.join(dir, LOCK_FILE_NAME), 'utf8'), `${process.pid}\n`);
  await lock.release();
});

test('release leaves a lock that another owner has since taken', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const lock = await DirectoryLock.acquire(dir);
  await fs.writeFile(path.join(dir, LOCK_FILE_NAME), '777\n');
  await lock.release();
  t.is(await fs.readFile(path.join(dir, LOCK_FILE_NAME), 'utf8'), '777\n');
});

test('a second LogManager on the same directory in the same process fails', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const first = await LogManager.open({ dataDir: dir, scheduler: new ManualScheduler() });
  const error = await t.throwsAsync(LogManager.open({ dataDir: dir, scheduler: new ManualScheduler() }), {
    instanceOf: LogDirectoryLockedError,
  });
  t.is(error?.ownerPid, process.pid);
  await first.close();
  const second = await LogManager.open({ dataDir: dir, scheduler: new ManualScheduler() });
  await second.close();
});

/** A child process that takes the lock, reports it on stdout, and then waits to be killed. */
async function spawnLockHolder(dir: string): Promise<ChildProcess> {
  const script = [
    `import { DirectoryLock } from ${JSON.stringify(directoryLockModule)};`,
    'await DirectoryLock.acquire(process.argv[1]);',
    "process.stdout.write('locked\\n');",
    'setInterval(() => {}, 1000);',
  ].join('\n');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=defter-source', '--input-type=module', '-e', script, dir],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout?.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('locked\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`lock holder exited early with code ${code}`)));
  });
  return child;
}

test('a child process holding the lock blocks the parent until it is SIGKILLed', async (t) => {
  const dir = await tempDir();
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const child = await spawnLockHolder(dir);
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const childPid = child.pid;
  if (childPid === undefined) throw new Error('child has no pid');

  const blocked = await t.throwsAsync(LogManager.open({ dataDir: dir, scheduler: new ManualScheduler() }), {
    instanceOf: LogDirectoryLockedError,
  });
  t.is(blocked?.ownerPid, childPid);

  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  const [, signal] = await exited;
  t.is(signal, 'SIGKILL');
  t.is(await fs.readFile(path.join(dir, LOCK_FILE_NAME), 'utf8'), `${childPid}\n`, 'a killed process leaves its lock behind');

  const logger = new RecordingLogger();
  const manager = await LogManager.open({ dataDir: dir, scheduler: new ManualScheduler(), logger });
  t.is(await fs.readFile(path.join(dir, LOCK_FILE_NAME), 'utf8'), `${process.pid}\n`);
  t.true(logger.lines.some((line) => line.level === 'warn' && line.msg?.includes(`from process ${childPid}`) === true));
  await manager.close();
  await t.throwsAsync(fs.access(path.join(dir, LOCK_FILE_NAME)), { code: 'ENOENT' });
});
