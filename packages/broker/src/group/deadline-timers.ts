import type { Clock } from '@defter/log';
import { intervalTicker, type Ticker } from '../replica/delayed-operations.js';

/*
 * Every deadline of the group coordinator (member sessions, pending member ids, the end of a
 * join phase, the end of a sync phase) on ONE shared, coarse tick: deadlines sit in buckets by
 * the tick they fall in, so arming, re-arming on each heartbeat and disarming are O(1), and a
 * tick touches only the buckets that are due. The tick runs only while something is armed.
 */

/** Something with a deadline; `fire` runs once when the deadline passes while it is armed. */
export interface DeadlineTimer {
  fire(): void;
}

export interface DeadlineTimersOptions {
  clock: Clock;
  /** The periodic tick; injected so that tests drive time (a manual ticker with a ManualClock). */
  ticker?: Ticker;
  /** How late past its deadline a timer may fire. */
  tickIntervalMs: number;
}

export class DeadlineTimers {
  private readonly clock: Clock;
  private readonly ticker: Ticker;
  private readonly tickIntervalMs: number;
  private readonly deadlineOf = new Map<DeadlineTimer, number>();
  private readonly byTick = new Map<number, Set<DeadlineTimer>>();
  private stopTicker: (() => void) | undefined;
  private closed = false;

  constructor(options: DeadlineTimersOptions) {
    if (!(options.tickIntervalMs > 0)) throw new RangeError(`tickIntervalMs must be positive, got ${options.tickIntervalMs}`);
    this.clock = options.clock;
    this.ticker = options.ticker ?? intervalTicker;
    this.tickIntervalMs = options.tickIntervalMs;
  }

  /** Timers armed now. */
  get size(): number {
    return this.deadlineOf.size;
  }

  isArmed(timer: DeadlineTimer): boolean {
    return this.deadlineOf.has(timer);
  }

  /** Arms `timer` for `deadlineMs` (clock time), replacing any deadline it had. Ignored after close. */
  arm(timer: DeadlineTimer, deadlineMs: number): void {
    if (this.closed) return;
    this.unbucket(timer);
    const tick = this.tickOf(deadlineMs);
    this.deadlineOf.set(timer, deadlineMs);
    let bucket = this.byTick.get(tick);
    if (bucket === undefined) this.byTick.set(tick, (bucket = new Set()));
    bucket.add(timer);
    this.stopTicker ??= this.ticker.start(this.tickIntervalMs, () => this.fireDue());
  }

  disarm(timer: DeadlineTimer): void {
    this.unbucket(timer);
    this.deadlineOf.delete(timer);
    this.stopIfIdle();
  }

  /** Fires every armed timer whose deadline has passed; the shared tick calls it. */
  fireDue(nowMs: number = this.clock.nowMs()): void {
    const due: DeadlineTimer[] = [];
    for (const [tick, bucket] of this.byTick) {
      if (tick * this.tickIntervalMs <= nowMs) due.push(...bucket);
    }
    for (const timer of due) {
      // An earlier timer of this batch may have re-armed or disarmed this one.
      const deadlineMs = this.deadlineOf.get(timer);
      if (deadlineMs === undefined || deadlineMs > nowMs) continue;
      this.disarm(timer);
      timer.fire();
    }
    this.stopIfIdle();
  }

  /** Disarms everything and stops the tick for good. */
  close(): void {
    this.closed = true;
    this.deadlineOf.clear();
    this.byTick.clear();
    this.stopIfIdle();
  }

  /** The first tick at or after the deadline, so a timer never fires early. */
  private tickOf(deadlineMs: number): number {
    return Math.ceil(deadlineMs / this.tickIntervalMs);
  }

  private unbucket(timer: DeadlineTimer): void {
    const deadlineMs = this.deadlineOf.get(timer);
    if (deadlineMs === undefined) return;
    const tick = this.tickOf(deadlineMs);
    const bucket = this.byTick.get(tick);
    bucket?.delete(timer);
    if (bucket?.size === 0) this.byTick.delete(tick);
  }

  private stopIfIdle(): void {
    if (this.deadlineOf.size > 0 || this.stopTicker === undefined) return;
    this.stopTicker();
    this.stopTicker = undefined;
  }
}
