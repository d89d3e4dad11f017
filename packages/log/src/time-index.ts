import type { FileHandle } from 'node:fs/promises';
import { IndexFile } from './index-file.js';

/*
 * The time index of one segment (`<20-digit base offset>.timeindex`), Kafka's format:
 *
 *   entry := timestamp int64 | relativeOffset int32      (12 bytes, big-endian)
 *
 * An entry (t, o) says "t is the largest timestamp seen in this segment up to offset o".
 * Timestamps are strictly increasing (an entry is added only when the max timestamp grows) and
 * offsets non-decreasing, so every record up to o has a timestamp <= t. To find the first
 * offset with timestamp >= T, take the largest entry with t < T: everything up to its offset is
 * older than T, so the scan of the log starts there (see Segment.findOffsetByTimestamp).
 * See `IndexFile` for how the file follows the in-memory entries.
 */
export const TIME_INDEX_ENTRY_BYTES = 12;
const INT32_MAX = 0x7fffffff;

export interface TimestampOffset {
  timestampMs: bigint;
  offset: bigint;
}

export class TimeIndex extends IndexFile {
  private timestamps = new BigInt64Array(16);
  private relativeOffsets = new Int32Array(16);

  private constructor(file: FileHandle, filePath: string, baseOffset: bigint, maxEntries: number) {
    super(file, filePath, baseOffset, maxEntries, TIME_INDEX_ENTRY_BYTES);
  }

  static async open(path: string, baseOffset: bigint, maxIndexBytes: number, truncateExisting = false): Promise<TimeIndex> {
    const handle = await IndexFile.openHandle(path, truncateExisting);
    const index = new TimeIndex(handle, path, baseOffset, Math.max(1, Math.floor(maxIndexBytes / TIME_INDEX_ENTRY_BYTES)));
    await index.load();
    return index;
  }

  protected ensureCapacity(entries: number): void {
    if (entries <= this.timestamps.length) return;
    const capacity = IndexFile.grownCapacity(this.timestamps.length, entries);
    const timestamps = new BigInt64Array(capacity);
    timestamps.set(this.timestamps.subarray(0, this.count));
    const offsets = new Int32Array(capacity);
    offsets.set(this.relativeOffsets.subarray(0, this.count));
    this.timestamps = timestamps;
    this.relativeOffsets = offsets;
  }

  protected decodeEntry(bytes: Buffer, at: number, i: number): void {
    this.timestamps[i] = bytes.readBigInt64BE(at);
    this.relativeOffsets[i] = bytes.readInt32BE(at + 8);
  }

  protected encodeEntry(bytes: Buffer, at: number, i: number): void {
    bytes.writeBigInt64BE(this.timestamps[i]!, at);
    bytes.writeInt32BE(this.relativeOffsets[i]!, at + 8);
  }

  entry(i: number): TimestampOffset {
    if (i < 0 || i >= this.count) throw new RangeError(`time index entry ${i} of ${this.count}`);
    return { timestampMs: this.timestamps[i]!, offset: this.baseOffset + BigInt(this.relativeOffsets[i]!) };
  }

  get lastEntry(): TimestampOffset | undefined {
    return this.count === 0 ? undefined : this.entry(this.count - 1);
  }

  /**
   * Adds (timestamp, offset) when the timestamp is larger than the last entry's; otherwise does
   * nothing. `skipFullCheck` lets the final entry of a segment that is being rolled in even
   * when the index is at its limit (Kafka does the same). Returns whether an entry was added.
   */
  maybeAppend(timestampMs: bigint, offset: bigint, skipFullCheck = false): boolean {
    const relative = offset - this.baseOffset;
    if (relative < 0n || relative > BigInt(INT32_MAX)) {
      throw new RangeError(`offset ${offset} does not fit the time index of segment ${this.baseOffset}`);
    }
    const last = this.count - 1;
    if (last >= 0) {
      if (timestampMs <= this.timestamps[last]!) return false;
      if (Number(relative) < this.relativeOffsets[last]!) {
        throw new RangeError(`time index offset ${offset} goes back (last ${this.entry(last).offset})`);
      }
    }
    if (!skipFullCheck && this.isFull) throw new RangeError(`time index ${this.path} is full (${this.maxEntries} entries)`);
    this.ensureCapacity(this.count + 1);
    this.timestamps[this.count] = timestampMs;
    this.relativeOffsets[this.count] = Number(relative);
    this.count++;
    return true;
  }

  /**
   * The largest entry whose timestamp is < `targetMs`: every record before its offset is older
   * than the target, so scanning can start there. (baseOffset, -1) when there is none.
   */
  lookupBefore(targetMs: bigint): TimestampOffset {
    let low = 0;
    let high = this.count - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.timestamps[mid]! < targetMs) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found < 0 ? { timestampMs: -1n, offset: this.baseOffset } : this.entry(found);
  }

  /** The largest entry whose timestamp is <= `targetMs` (Kafka's lookup), or (-1, base). */
  lookup(targetMs: bigint): TimestampOffset {
    return this.lookupBefore(targetMs + 1n);
  }

  /** Drops every entry whose offset is >= `offset`. */
  truncateTo(offset: bigint): void {
    let keep = this.count;
    while (keep > 0 && this.baseOffset + BigInt(this.relativeOffsets[keep - 1]!) >= offset) keep--;
    this.count = keep;
  }

  /** What is wrong with the loaded index for a segment whose last offset is `lastOffset`. */
  sanityCheck(lastOffset: bigint): string | undefined {
    const torn = this.wholeEntriesProblem('time index');
    if (torn !== undefined) return torn;
    for (let i = 0; i < this.count; i++) {
      if (this.relativeOffsets[i]! < 0) return `time index entry ${i} has a negative offset`;
      if (i > 0 && (this.timestamps[i]! <= this.timestamps[i - 1]! || this.relativeOffsets[i]! < this.relativeOffsets[i - 1]!)) {
        return `time index entry ${i} is not after entry ${i - 1}`;
      }
    }
    const last = this.lastEntry;
    if (last !== undefined && last.offset > lastOffset) {
      return `time index entry for offset ${last.offset} is past the last offset ${lastOffset}`;
    }
    return undefined;
  }
}
