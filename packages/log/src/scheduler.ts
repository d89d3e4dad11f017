import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';

/** A periodic background task: retention checks, the log cleaner. */
export type ScheduledTask = () => Promise<void> | void;

/**
 * Runs named periodic tasks. The LogManager takes one, so tests drive maintenance by hand
 * (`ManualScheduler`) while the broker runs it on timers (`TimerScheduler`).
 */
export interface Scheduler {
  /** Runs `task` every `intervalMs`, first after one interval. Names are unique. */
  schedule(name: string, intervalMs: number, task: ScheduledTask): void;
  /** Stops every task; resolves once runs already in progress have finished. */
  cancelAll(): Promise<void>;
}

function assertSchedulable(names: ReadonlySet<string>, name: string, intervalMs: number): void {
  if (names.has(name)) throw new Error(`task ${name} is already scheduled`);
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
    throw new RangeError(`task ${name}: interval ${intervalMs} ms must be a positive number`);
  }
}

/** A timer per task, armed again only after a run ends, so runs of one task never overlap. */
interface TimerEntry {
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
}

/**
 * The real scheduler, on `setTimeout`. Timers are unref'd: background maintenance never keeps
 * the process alive. A task that throws is logged and runs again at its next interval.
 */
export class TimerScheduler implements Scheduler {
  private readonly entries = new Map<string, TimerEntry>();
  private cancelled = false;

  constructor(private readonly logger: Logger = silentLogger) {}

  schedule(name: string, intervalMs: number, task: ScheduledTask): void {
    if (this.cancelled) throw new Error(`scheduler is cancelled; cannot schedule ${name}`);
    assertSchedulable(new Set(this.entries.keys()), name, intervalMs);
    const entry: TimerEntry = { timer: undefined, running: undefined };
    this.entries.set(name, entry);
    const arm = (): void => {
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        entry.running = runLogged(name, task, this.logger).finally(() => {
          entry.running = undefined;
          if (!this.cancelled) arm();
        });
      }, intervalMs);
      entry.timer.unref();
    };
    arm();
  }

  async cancelAll(): Promise<void> {
    this.cancelled = true;
    const running: Array<Promise<void>> = [];
    for (const entry of this.entries.values()) {
      if (entry.timer !== undefined) clearTimeout(entry.timer);
      if (entry.running !== undefined) running.push(entry.running);
    }
    this.entries.clear();
    await Promise.all(running);
  }
}

async function runLogged(name: string, task: ScheduledTask, logger: Logger): Promise<void> {
  try {
    await task();
  } catch (error) {
    logger.error({ task: name, err: error }, `scheduled task ${name} failed`);
  }
}

interface ManualEntry {
  intervalMs: number;
  nextDueMs: number;
  task: ScheduledTask;
}

/**
 * A scheduler that runs nothing on its own: tests call `runDue(nowMs)` (tasks whose time has
 * come, in order of due time) or `runAll()` (every task once). Errors are logged, as in the
 * real one, and also counted so a test can assert on them.
 */
export class ManualScheduler implements Scheduler {
  private readonly entries = new Map<string, ManualEntry>();
  private cancelled = false;
  /** Runs that threw, in order. */
  readonly failures: Array<{ name: string; error: unknown }> = [];

  constructor(
    private readonly clock: Clock = { nowMs: () => 0 },
    private readonly logger: Logger = silentLogger,
  ) {}

  schedule(name: string, intervalMs: number, task: ScheduledTask): void {
    if (this.cancelled) throw new Error(`scheduler is cancelled; cannot schedule ${name}`);
    assertSchedulable(new Set(this.entries.keys()), name, intervalMs);
    this.entries.set(name, { intervalMs, nextDueMs: this.clock.nowMs() + intervalMs, task });
  }

  /** Names of the scheduled tasks. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Runs, one after another, each task due at `nowMs`; returns the names that ran. */
  async runDue(nowMs: number = this.clock.nowMs()): Promise<string[]> {
    const due = [...this.entries.entries()]
      .filter(([, entry]) => entry.nextDueMs <= nowMs)
      .sort(([, a], [, b]) => a.nextDueMs - b.nextDueMs);
    for (const [name, entry] of due) {
      entry.nextDueMs = nowMs + entry.intervalMs;
      await this.run(name, entry);
    }
    return due.map(([name]) => name);
  }

  /** Runs every task once, in the order they were scheduled. */
  async runAll(): Promise<string[]> {
    const all = [...this.entries.entries()];
    for (const [name, entry] of all) await this.run(name, entry);
    return all.map(([name]) => name);
  }

  async cancelAll(): Promise<void> {
    this.cancelled = true;
    this.entries.clear();
  }

  private async run(name: string, entry: ManualEntry): Promise<void> {
    try {
      await entry.task();
    } catch (error) {
      this.failures.push({ name, error });
      this.logger.error({ task: name, err: error }, `scheduled task ${name} failed`);
    }
  }
}
