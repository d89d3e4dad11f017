import type { Clock } from '@defter/log';

/*
 * A "purgatory" of delayed operations (Kafka's DelayedOperationPurgatory, reduced to what one
 * node needs): operations wait, watched under keys (a partition each), until an event on one of
 * their keys satisfies them or their deadline passes. Deadlines are checked by ONE shared, coarse
 * timer tick that runs only while something waits, never a timer per operation. The number of
 * waiting operations is bounded: a full purgatory refuses, and the caller answers at once.
 */

/** One waiting operation, as the purgatory sees it. */
export interface DelayedOperation<E> {
  /** The keys whose events may satisfy it. */
  readonly watchKeys: readonly string[];
  /** When it completes anyway (clock time, ms). */
  readonly deadlineMs: number;
  /** Takes in one event on `key`; true when the operation is now satisfied. */
  onEvent(key: string, event: E): boolean;
  /** Called exactly once, when satisfied, expired, forced or at close. Must not throw. */
  complete(): void;
}

/** A periodic timer; stopped by the function `start` returns. Injected so that tests drive the tick. */
export interface Ticker {
  start(intervalMs: number, onTick: () => void): () => void;
}

/** The real ticker: one `setInterval`, unref'd (waiting fetches never keep a process alive). */
export const intervalTicker: Ticker = {
  start(intervalMs, onTick) {
    const timer = setInterval(onTick, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  },
};

export interface DelayedOperationsOptions {
  clock: Clock;
  ticker?: Ticker;
  /** The tick: how late past its deadline an operation may complete. */
  tickIntervalMs: number;
  /** Most operations waiting at once. */
  waitingMax: number;
}

export class DelayedOperations<E> {
  private readonly clock: Clock;
  private readonly ticker: Ticker;
  private readonly tickIntervalMs: number;
  private readonly waitingMax: number;
  private readonly byKey = new Map<string, Set<DelayedOperation<E>>>();
  /** Operations by the tick at (or after) which they expire: a coarse timing wheel. */
  private readonly byExpiryTick = new Map<number, Set<DelayedOperation<E>>>();
  private readonly expiryTickOf = new Map<DelayedOperation<E>, number>();
  private stopTicker: (() => void) | undefined;
  private closed = false;

  constructor(options: DelayedOperationsOptions) {
    this.clock = options.clock;
    this.ticker = options.ticker ?? intervalTicker;
    if (!(options.tickIntervalMs > 0)) throw new RangeError(`tickIntervalMs must be positive, got ${options.tickIntervalMs}`);
    if (!(options.waitingMax >= 0)) throw new RangeError(`waitingMax must be >= 0, got ${options.waitingMax}`);
    this.tickIntervalMs = options.tickIntervalMs;
    this.waitingMax = options.waitingMax;
  }

  /** Operations waiting now. */
  get size(): number {
    return this.expiryTickOf.size;
  }

  /**
   * Parks `operation` until an event satisfies it or its deadline passes. Returns false (and
   * leaves it alone) when the purgatory is full or closed: the caller completes it at once.
   */
  watch(operation: DelayedOperation<E>): boolean {
    if (this.closed || this.expiryTickOf.size >= this.waitingMax) return false;
    const expiryTick = Math.ceil(operation.deadlineMs / this.tickIntervalMs);
    this.expiryTickOf.set(operation, expiryTick);
    let bucket = this.byExpiryTick.get(expiryTick);
    if (bucket === undefined) this.byExpiryTick.set(expiryTick, (bucket = new Set()));
    bucket.add(operation);
    for (const key of operation.watchKeys) {
      let watchers = this.byKey.get(key);
      if (watchers === undefined) this.byKey.set(key, (watchers = new Set()));
      watchers.add(operation);
    }
    this.stopTicker ??= this.ticker.start(this.tickIntervalMs, () => this.expire());
    return true;
  }

  /** Delivers an event on `key` to every operation watching it; completes those it satisfies. */
  notify(key: string, event: E): void {
    const watchers = this.byKey.get(key);
    if (watchers === undefined) return;
    for (const operation of [...watchers]) {
      if (this.expiryTickOf.has(operation) && operation.onEvent(key, event)) this.finish(operation);
    }
  }

  /** Completes every operation watching `key` now (the partition changed under them: deleted records, a removed topic). */
  completeAll(key: string): void {
    const watchers = this.byKey.get(key);
    if (watchers === undefined) return;
    for (const operation of [...watchers]) this.finish(operation);
  }

  /** Completes `operation` now if it still waits (an event it could not see arrived before it was watched). */
  forceComplete(operation: DelayedOperation<E>): void {
    this.finish(operation);
  }

  /** Completes the operations whose deadline has passed; the shared tick calls it. */
  expire(nowMs: number = this.clock.nowMs()): void {
    const currentTick = Math.floor(nowMs / this.tickIntervalMs);
    for (const [tick, bucket] of [...this.byExpiryTick]) {
      if (tick > currentTick) continue;
      for (const operation of [...bucket]) this.finish(operation);
    }
  }

  /** Completes everything that waits and stops the tick; later `watch` calls are refused. */
  close(): void {
    this.closed = true;
    for (const operation of [...this.expiryTickOf.keys()]) this.finish(operation);
    this.stopIfIdle();
  }

  private finish(operation: DelayedOperation<E>): void {
    const expiryTick = this.expiryTickOf.get(operation);
    if (expiryTick === undefined) return;
    this.expiryTickOf.delete(operation);
    const bucket = this.byExpiryTick.get(expiryTick);
    bucket?.delete(operation);
    if (bucket?.size === 0) this.byExpiryTick.delete(expiryTick);
    for (const key of operation.watchKeys) {
      const watchers = this.byKey.get(key);
      watchers?.delete(operation);
      if (watchers?.size === 0) this.byKey.delete(key);
    }
    this.stopIfIdle();
    operation.complete();
  }

  private stopIfIdle(): void {
    if (this.expiryTickOf.size > 0 || this.stopTicker === undefined) return;
    this.stopTicker();
    this.stopTicker = undefined;
  }
}
