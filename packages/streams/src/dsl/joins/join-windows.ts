/**
 * The window of a stream–stream join: two records join when their timestamps differ by at most
 * `timeDifferenceMs`. `graceMs` is how far behind the join's stream time a record may arrive and
 * still join: a record older than stream time − grace is late and dropped; a buffered record's
 * window closes once stream time passes its timestamp + time difference + grace (then left/outer
 * joins emit it if it never matched, and the buffer forgets it).
 *
 * `JoinWindows.ofTimeDifference(60_000).grace(5_000)`; without `grace()` the grace is 0 (Kafka's
 * `ofTimeDifferenceWithNoGrace`).
 */
export class JoinWindows {
  private constructor(
    readonly timeDifferenceMs: number,
    readonly graceMs: number,
  ) {}

  static ofTimeDifference(timeDifferenceMs: number): JoinWindows {
    assertDuration('the join window time difference', timeDifferenceMs);
    return new JoinWindows(timeDifferenceMs, 0);
  }

  grace(graceMs: number): JoinWindows {
    assertDuration('the join window grace', graceMs);
    return new JoinWindows(this.timeDifferenceMs, graceMs);
  }
}

function assertDuration(what: string, ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`${what} must be a non-negative integer of milliseconds, got ${ms}`);
}
