/*
 * Where the most recent batches of the active segment are, kept in memory as they are appended,
 * so that a fetch near the log end (a consumer that keeps up: the common case) finds its whole
 * range without reading a single header from the file. Bounded: a ring of the last `capacity`
 * batches (16 bytes each), allocated as it fills. The batches in the ring are contiguous in the
 * file and end at the segment's current size, because only appends add to it and truncation
 * clears it.
 *
 * Offsets are relative to the segment base (numbers: every relative offset fits an int32).
 */
export const RECENT_BATCHES_MAX_DEFAULT = 4096;

/** A contiguous run of whole batches found in memory. */
export interface CachedRange {
  position: number;
  sizeBytes: number;
  firstBaseDelta: number;
  lastDelta: number;
}

export class RecentBatches {
  private positions: Int32Array;
  private ends: Int32Array;
  private baseDeltas: Int32Array;
  private lastDeltas: Int32Array;
  /** Slot of the oldest batch, and how many batches are held. */
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number = RECENT_BATCHES_MAX_DEFAULT) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`recent batch capacity ${capacity} is not a non-negative integer`);
    const initial = Math.min(capacity, 64);
    this.positions = new Int32Array(initial);
    this.ends = new Int32Array(initial);
    this.baseDeltas = new Int32Array(initial);
    this.lastDeltas = new Int32Array(initial);
  }

  get size(): number {
    return this.count;
  }

  /** Records a batch just appended at `position` (the end of the previous one). */
  push(position: number, sizeBytes: number, baseDelta: number, lastDelta: number): void {
    if (this.capacity === 0) return;
    if (this.count > 0 && position !== this.ends[this.slot(this.count - 1)]) {
      throw new RangeError(`batch at ${position} does not follow the last recent batch (ending at ${this.ends[this.slot(this.count - 1)]})`);
    }
    if (this.count === this.positions.length && this.positions.length < this.capacity) this.grow();
    let slot: number;
    if (this.count < this.positions.length) {
      slot = this.slot(this.count);
      this.count++;
    } else {
      slot = this.head;
      this.head = (this.head + 1) % this.positions.length;
    }
    this.positions[slot] = position;
    this.ends[slot] = position + sizeBytes;
    this.baseDeltas[slot] = baseDelta;
    this.lastDeltas[slot] = lastDelta;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
  }

  /**
   * The range a segment read would return, when the ring holds its first batch: whole batches
   * from the first whose last offset is >= `startDelta`, while their last offsets stay below
   * `maxDelta` and their bytes within `maxBytes` (the first one whole anyway when
   * `minOneBatch`). `null`: nothing qualifies. `undefined`: the ring cannot tell (the first
   * batch may be older than the ring), so the caller reads the file.
   */
  find(startDelta: number, maxBytes: number, maxDelta: number, minOneBatch: boolean): CachedRange | null | undefined {
    if (this.count === 0 || startDelta < this.baseDeltas[this.head]!) return undefined;
    const first = this.firstAtOrAfter(startDelta);
    if (first === this.count) return null;
    const firstSlot = this.slot(first);
    if (this.lastDeltas[firstSlot]! >= maxDelta) return null;
    const position = this.positions[firstSlot]!;
    const limit = position + Math.max(0, maxBytes);
    // The last batch from `first` on that ends within the budget and stays below maxDelta.
    let low = first;
    let high = this.count - 1;
    let last = first - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const slot = this.slot(mid);
      if (this.ends[slot]! <= limit && this.lastDeltas[slot]! < maxDelta) {
        last = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    if (last < first) {
      if (!minOneBatch) return null;
      last = first;
    }
    const lastSlot = this.slot(last);
    return { position, sizeBytes: this.ends[lastSlot]! - position, firstBaseDelta: this.baseDeltas[firstSlot]!, lastDelta: this.lastDeltas[lastSlot]! };
  }

  /** Logical index of the first batch whose last delta is >= `delta` (count when none). */
  private firstAtOrAfter(delta: number): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.lastDeltas[this.slot(mid)]! >= delta) high = mid;
      else low = mid + 1;
    }
    return low;
  }

  private slot(logical: number): number {
    const slot = this.head + logical;
    return slot < this.positions.length ? slot : slot - this.positions.length;
  }

  /** Doubles the arrays (only while the ring has never wrapped: head is 0 until it is full). */
  private grow(): void {
    const capacity = Math.min(this.capacity, this.positions.length * 2);
    const grown = (from: Int32Array): Int32Array => {
      const to = new Int32Array(capacity);
      to.set(from);
      return to;
    };
    this.positions = grown(this.positions);
    this.ends = grown(this.ends);
    this.baseDeltas = grown(this.baseDeltas);
    this.lastDeltas = grown(this.lastDeltas);
  }
}
