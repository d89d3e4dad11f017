/** Wall-clock time in milliseconds since the epoch. Injected so that tests drive time explicitly. */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
};

/** A clock that moves only when told to; for tests and deterministic simulation. */
export class ManualClock implements Clock {
  constructor(private currentMs = 0) {}

  nowMs(): number {
    return this.currentMs;
  }

  advance(deltaMs: number): void {
    if (deltaMs < 0) throw new RangeError(`a clock does not go back (delta ${deltaMs} ms)`);
    this.currentMs += deltaMs;
  }

  set(nowMs: number): void {
    this.currentMs = nowMs;
  }
}
