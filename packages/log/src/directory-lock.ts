import { promises as fs } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LogDirectoryLockedError, LogError } from './errors.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';

/**
 * Exclusive ownership of a data directory, as Kafka's `.lock`: two brokers writing the same logs
 * would corrupt them. Node has no flock, so the lock is a file created with O_EXCL that holds the
 * owner's pid; a lock whose pid is no longer running (a SIGKILLed broker) is stale and taken over.
 * Limitation: after a reboot a stale pid may belong to an unrelated live process; the error then
 * names the pid so an operator can remove the file.
 */
export interface DirectoryLockOptions {
  logger?: Logger;
  /** The pid written into the lock; default `process.pid`. */
  pid?: number;
  /** Whether a pid is running; default `process.kill(pid, 0)`. Injected by tests. */
  isProcessAlive?: (pid: number) => boolean;
}

export const LOCK_FILE_NAME = '.lock';

/** Attempts of the create / inspect / take-over loop before giving up on a contended lock. */
const ACQUIRE_ATTEMPTS_MAX = 20;
/** A lock file without a pid may be one a live process has created but not yet written. */
const UNWRITTEN_LOCK_WAIT_MS = 25;
const UNWRITTEN_LOCK_CHECKS_MAX = 8;

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parsePid(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^\d{1,10}$/.test(trimmed)) return undefined;
  const pid = Number(trimmed);
  // 0 and negative pids address process groups in kill(2); never treat them as an owner.
  return pid > 0 && pid <= 0x7fffffff ? pid : undefined;
}

/** The pid in a lock file; `null` when the file is gone; `undefined` when it holds no pid. */
async function readOwnerPid(lockPath: string): Promise<number | null | undefined> {
  try {
    return parsePid(await fs.readFile(lockPath, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

export class DirectoryLock {
  private released = false;

  private constructor(
    readonly dataDir: string,
    readonly lockPath: string,
    readonly pid: number,
  ) {}

  /**
   * Creates `dataDir` if needed and takes its lock. Throws `LogDirectoryLockedError` when a
   * running process (this one included) holds it.
   */
  static async acquire(dataDir: string, options: DirectoryLockOptions = {}): Promise<DirectoryLock> {
    const logger = options.logger ?? silentLogger;
    const pid = options.pid ?? process.pid;
    const alive = options.isProcessAlive ?? isProcessAlive;
    const lockPath = path.join(dataDir, LOCK_FILE_NAME);
    await fs.mkdir(dataDir, { recursive: true });

    for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS_MAX; attempt++) {
      if (await tryCreate(lockPath, pid)) return new DirectoryLock(dataDir, lockPath, pid);

      let owner = await readOwnerPid(lockPath);
      for (let check = 0; owner === undefined && check < UNWRITTEN_LOCK_CHECKS_MAX; check++) {
        await sleep(UNWRITTEN_LOCK_WAIT_MS);
        owner = await readOwnerPid(lockPath);
      }
      if (owner === null) continue; // released meanwhile: try again
      if (owner !== undefined && alive(owner)) throw new LogDirectoryLockedError(dataDir, owner);

      if (await takeOverStale(lockPath, owner, pid)) {
        logger.warn(
          { dataDir, stalePid: owner ?? null },
          owner === undefined
            ? `taking over the lock of ${dataDir}: its lock file held no pid`
            : `taking over the lock of ${dataDir} from process ${owner}, which is no longer running`,
        );
      }
    }
    throw new LogError(`could not lock data directory ${dataDir}: the lock kept changing hands`);
  }

  /** Removes the lock file if it is still ours. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if ((await readOwnerPid(this.lockPath)) !== this.pid) return;
    await fs.rm(this.lockPath, { force: true });
  }
}

/** Exclusive create; writes and fsyncs the pid. False when the file already exists. */
async function tryCreate(lockPath: string, pid: number): Promise<boolean> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(lockPath, 'wx');
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    throw error;
  }
  try {
    await handle.writeFile(`${pid}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/**
 * Moves a stale lock aside so the next exclusive create can win. Rename is atomic, but between
 * our read and our rename another process may have taken the stale lock over and written a
 * fresh one: if what we moved is not what we judged stale, we put it back untouched.
 */
async function takeOverStale(lockPath: string, stalePid: number | undefined, ourPid: number): Promise<boolean> {
  const asidePath = `${lockPath}.stale-${ourPid}`;
  try {
    await fs.rename(lockPath, asidePath);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
  const moved = await readOwnerPid(asidePath);
  if (moved !== stalePid) {
    try {
      await fs.link(asidePath, lockPath);
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
    }
    await fs.rm(asidePath, { force: true });
    return false;
  }
  await fs.rm(asidePath, { force: true });
  return true;
}
