/**
 * Window specifications on event time, as Kafka Streams users know them. Every window has a
 * grace period: it accepts records until stream time passes its last millisecond plus the grace
 * (then it is *closed*: later records for it are dropped and counted as late, and
 * `suppress(untilWindowCloses())` emits its final result).
 */

/** A window's bounds, in milliseconds of event time. */
export interface WindowBounds {
  readonly startMs: number;
  /** Time windows: exclusive (start + size). Sliding and session windows: inclusive. */
  readonly endMs: number;
}

/** A windowed aggregate's key: the grouping key and its window. */
export interface Windowed<K> {
  readonly key: K;
  readonly window: WindowBounds;
}

/** The retention a windowed store keeps by default: at least what the window's size and grace need. */
export interface WindowRetention {
  /** How long windows stay in the store after they start (default and minimum: size + grace). */
  readonly retentionMs?: number;
}

function checkDuration(what: string, valueMs: number, allowZero: boolean): number {
  if (!Number.isSafeInteger(valueMs) || valueMs < (allowZero ? 0 : 1)) {
    throw new RangeError(`${what} must be a ${allowZero ? 'non-negative' : 'positive'} integer of milliseconds, got ${String(valueMs)}`);
  }
  return valueMs;
}

/**
 * Tumbling (`advanceBy` = size, the default) and hopping (`advanceBy` < size) windows:
 * [start, start + size), aligned to the epoch (start = a multiple of the advance), start ≥ 0.
 */
export class TimeWindows {
  readonly kind = 'time';

  private constructor(
    readonly sizeMs: number,
    readonly advanceMs: number,
    readonly graceMs: number,
  ) {}

  /** Tumbling windows of `sizeMs`, no grace (set one with `grace`). */
  static ofSize(sizeMs: number): TimeWindows {
    checkDuration('the window size', sizeMs, false);
    return new TimeWindows(sizeMs, sizeMs, 0);
  }

  grace(graceMs: number): TimeWindows {
    return new TimeWindows(this.sizeMs, this.advanceMs, checkDuration('the grace period', graceMs, true));
  }

  /** Hopping windows: a new window every `advanceMs` (0 < advance ≤ size). */
  advanceBy(advanceMs: number): TimeWindows {
    checkDuration('the advance', advanceMs, false);
    if (advanceMs > this.sizeMs) throw new RangeError(`the advance (${advanceMs} ms) may not exceed the window size (${this.sizeMs} ms)`);
    return new TimeWindows(this.sizeMs, advanceMs, this.graceMs);
  }

  /** The starts of every window that holds `timestampMs`, oldest first. */
  windowStartsFor(timestampMs: number): number[] {
    const starts: number[] = [];
    const first = Math.max(0, Math.floor((timestampMs - this.sizeMs + this.advanceMs) / this.advanceMs) * this.advanceMs);
    for (let start = first; start <= timestampMs; start += this.advanceMs) if (timestampMs < start + this.sizeMs) starts.push(start);
    return starts;
  }

  bounds(startMs: number): WindowBounds {
    return { startMs, endMs: startMs + this.sizeMs };
  }

  /** Stream time past which the window is closed (its last millisecond plus the grace). */
  closesAfterMs(window: WindowBounds): number {
    return window.endMs - 1 + this.graceMs;
  }
}

/**
 * Sliding windows (KIP-450): windows of a fixed span `timeDifferenceMs`, [start, start + d] both
 * inclusive, that exist only where records are: each record at t has its window [t − d, t], and
 * a window [t + 1, t + 1 + d] when a later record falls within d of it. Every window holds the
 * records whose time lies in it.
 */
export class SlidingWindows {
  readonly kind = 'sliding';

  private constructor(
    readonly timeDifferenceMs: number,
    readonly graceMs: number,
  ) {}

  static ofTimeDifference(timeDifferenceMs: number): SlidingWindows {
    return new SlidingWindows(checkDuration('the time difference', timeDifferenceMs, false), 0);
  }

  grace(graceMs: number): SlidingWindows {
    return new SlidingWindows(this.timeDifferenceMs, checkDuration('the grace period', graceMs, true));
  }

  closesAfterMs(window: WindowBounds): number {
    return window.endMs + this.graceMs;
  }
}

/**
 * Session windows: a key's records closer than `inactivityGapMs` to each other form one session
 * [first record, last record] (both inclusive); a record that falls within the gap of several
 * sessions merges them.
 */
export class SessionWindows {
  readonly kind = 'session';

  private constructor(
    readonly inactivityGapMs: number,
    readonly graceMs: number,
  ) {}

  static ofInactivityGap(inactivityGapMs: number): SessionWindows {
    return new SessionWindows(checkDuration('the inactivity gap', inactivityGapMs, false), 0);
  }

  grace(graceMs: number): SessionWindows {
    return new SessionWindows(this.inactivityGapMs, checkDuration('the grace period', graceMs, true));
  }

  closesAfterMs(window: WindowBounds): number {
    return window.endMs + this.graceMs;
  }
}
