/**
 * The generator's source of randomness: small, fast and deterministic. Every event draws from its
 * own `SeededRandom`, seeded from (the run's seed, the event id) — as Beam's NEXMark generator
 * seeds a `Random` per event id — so any event can be generated alone, in any order, on any
 * process, and always comes out the same.
 *
 * The bits come from a 32-bit SplitMix-style mixer over a Weyl sequence (a counter advanced by an
 * odd constant): one multiply-xorshift chain per draw, no allocation, good enough statistically
 * for synthetic data (it is not a cryptographic generator).
 */

const GOLDEN_GAMMA_32 = 0x9e3779b9;
const TWO_POW_32 = 4_294_967_296;

/** A 32-bit avalanche mix (the finaliser of MurmurHash3 with SplitMix's constants). */
function mix32(value: number): number {
  let z = value | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class SeededRandom {
  private state: number;

  /** `seed` and `stream` are whole numbers (the stream is typically an event id, up to 2^53). */
  constructor(seed: number, stream = 0) {
    const streamHigh = Math.floor(stream / TWO_POW_32);
    const streamLow = stream >>> 0;
    this.state = mix32(mix32(seed ^ GOLDEN_GAMMA_32) ^ mix32(streamLow + GOLDEN_GAMMA_32) ^ mix32(streamHigh + 0x632be5ab));
  }

  /** A uniformly distributed whole number in [0, 2^32). */
  nextUint32(): number {
    this.state = (this.state + GOLDEN_GAMMA_32) | 0;
    return mix32(this.state);
  }

  /** A uniformly distributed number in [0, 1). */
  nextDouble(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** A whole number in [0, bound), for a bound in [1, 2^32]. */
  nextInt(bound: number): number {
    return Math.floor(this.nextDouble() * bound);
  }

  /** A whole number in [0, bound), for any safe whole bound ≥ 1 (53 random bits above 2^32). */
  nextLong(bound: number): number {
    if (bound <= TWO_POW_32) return this.nextInt(bound);
    const fraction = (this.nextUint32() * 2 ** 21 + (this.nextUint32() >>> 11)) / 2 ** 53;
    return Math.floor(fraction * bound);
  }
}
