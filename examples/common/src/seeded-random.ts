/**
 * A small deterministic random source (xorshift32, Marsaglia's shifts 13/17/5), so the demos'
 * sample data — and the counts their tests assert — are the same on every run and machine.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`a seed must be an integer, got ${seed}`);
    // xorshift never leaves the all-zero state: map seed 0 to a fixed non-zero one.
    this.state = seed >>> 0 || 0x2545f491;
  }

  /** A number in [0, 1). */
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x1_0000_0000;
  }

  /** An integer in [0, bound). */
  nextInt(bound: number): number {
    return Math.floor(this.next() * bound);
  }
}
