import type { FileHandle } from 'node:fs/promises';
import { IndexFile } from './index-file.js';

/*
 * The sparse offset index of one segment (`<20-digit base offset>.index`), Kafka's format:
 *
 *   entry := relativeOffset int32 | position int32      (8 bytes, big-endian)
 *
 * relativeOffset = offset - segment base offset; position = byte position of the batch in the
 * `.log` file. Entries are strictly increasing in both fields. An entry (o, p) says "the batch
 * whose base offset is o starts at byte p", so a lookup returns where to start scanning for any
 * offset >= o. The whole index is kept in memory (2 MiB per GiB of log at the default interval);
 * see `IndexFile` for how the file follows.
 */
export const OFFSET_INDEX_ENTRY_BYTES = 8;
const INT32_MAX = 0x7fffffff;

export interface OffsetPosition {
  offset: bigint;
  position: number;
}

export class OffsetIndex extends IndexFile {
  private relativeOffsets = new Int32Array(16);
  private positions = new Int32Array(16);

  private constructor(file: FileHandle, filePath: string, baseOffset: bigint, maxEntries: number) {
    super(file, filePath, baseOffset, maxEntries, OFFSET_INDEX_ENTRY_BYTES);
  }

  /**
   * Opens (creating if absent) the index at `path`. Loads every whole entry; a trailing partial
   * entry is ignored (and reported by `sanityCheck`). `maxIndexBytes` is segment.index.bytes.
   */
  static async open(path: string, baseOffset: bigint, maxIndexBytes: number, truncateExisting = false): Promise<OffsetIndex> {
    const handle = await IndexFile.openHandle(path, truncateExisting);
    const index = new OffsetIndex(handle, path, baseOffset, Math.max(1, Math.floor(maxIndexBytes / OFFSET_INDEX_ENTRY_BYTES)));
    await index.load();
    return index;
  }

  protected ensureCapacity(entries: number): void {
    if (entries <= this.relativeOffsets.length) return;
    const capacity = IndexFile.grownCapacity(this.relativeOffsets.length, entries);
    const offsets = new Int32Array(capacity);
    offsets.set(this.relativeOffsets.subarray(0, this.count));
    const positions = new Int32Array(capacity);
    positions.set(this.positions.subarray(0, this.count));
    this.relativeOffsets = offsets;
    this.positions = positions;
  }

  protected decodeEntry(bytes: Buffer, at: number, i: number): void {
    this.relativeOffsets[i] = bytes.readInt32BE(at);
    this.positions[i] = bytes.readInt32BE(at + 4);
  }

  protected encodeEntry(bytes: Buffer, at: number, i: number): void {
    bytes.writeInt32BE(this.relativeOffsets[i]!, at);
    bytes.writeInt32BE(this.positions[i]!, at + 4);
  }

  entry(i: number): OffsetPosition {
    if (i < 0 || i >= this.count) throw new RangeError(`index entry ${i} of ${this.count}`);
    return { offset: this.baseOffset + BigInt(this.relativeOffsets[i]!), position: this.positions[i]! };
  }

  get lastEntry(): OffsetPosition | undefined {
    return this.count === 0 ? undefined : this.entry(this.count - 1);
  }

  /** Adds an entry in memory; `writePending` puts it in the file. Callers check `isFull` first. */
  append(offset: bigint, position: number): void {
    const relative = offset - this.baseOffset;
    if (relative < 0n || relative > BigInt(INT32_MAX)) {
      throw new RangeError(`offset ${offset} does not fit the index of segment ${this.baseOffset}`);
    }
    if (this.isFull) throw new RangeError(`offset index ${this.path} is full (${this.maxEntries} entries)`);
    const last = this.count - 1;
    if (last >= 0 && (Number(relative) <= this.relativeOffsets[last]! || position <= this.positions[last]!)) {
      throw new RangeError(`index entry (${offset}, ${position}) is not after the last entry ${JSON.stringify(this.entry(last), bigintJson)}`);
    }
    this.ensureCapacity(this.count + 1);
    this.relativeOffsets[this.count] = Number(relative);
    this.positions[this.count] = position;
    this.count++;
  }

  /** Index of the last entry whose offset <= target, or -1. */
  private floorIndex(targetOffset: bigint): number {
    const relative = targetOffset - this.baseOffset;
    if (relative < 0n) return -1;
    return this.floorRelative(relative > BigInt(INT32_MAX) ? INT32_MAX : Number(relative));
  }

  /** Position of entry `i` (0 <= i < entryCount), with no object or BigInt on the read path. */
  positionAt(i: number): number {
    return this.positions[i]!;
  }

  /** Relative offset (offset - base offset) of entry `i` (0 <= i < entryCount). */
  relativeOffsetAt(i: number): number {
    return this.relativeOffsets[i]!;
  }

  /** Index of the last entry whose relative offset is <= `relativeOffset`, or -1. */
  floorRelative(relativeOffset: number): number {
    const target = relativeOffset;
    let low = 0;
    let high = this.count - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.relativeOffsets[mid]! <= target) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }

  /**
   * How many leading entries have position <= `maxPosition` and relative offset <=
   * `maxRelativeOffset` (both fields increase, so those entries are a prefix).
   */
  countWithin(maxPosition: number, maxRelativeOffset: number): number {
    let low = 0;
    let high = this.count - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.positions[mid]! <= maxPosition && this.relativeOffsets[mid]! <= maxRelativeOffset) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found + 1;
  }

  /**
   * Where to start scanning the log for `targetOffset`: the largest entry with offset <= target,
   * or (base offset, position 0) when there is none.
   */
  lookup(targetOffset: bigint): OffsetPosition {
    const i = this.floorIndex(targetOffset);
    return i < 0 ? { offset: this.baseOffset, position: 0 } : this.entry(i);
  }

  /** Drops every entry whose offset is >= `offset` (the log is being truncated there). */
  truncateTo(offset: bigint): void {
    const keep = this.floorIndex(offset - 1n) + 1;
    this.count = Math.min(this.count, keep);
  }

  /** Drops every entry whose position is >= `position`. */
  truncateToPosition(position: number): void {
    let keep = this.count;
    while (keep > 0 && this.positions[keep - 1]! >= position) keep--;
    this.count = keep;
  }

  /**
   * Describes what is wrong with the loaded index, or undefined when it is consistent with a
   * log of `logSizeBytes`: whole entries only, strictly increasing, positions inside the log.
   */
  sanityCheck(logSizeBytes: number): string | undefined {
    const torn = this.wholeEntriesProblem('index');
    if (torn !== undefined) return torn;
    for (let i = 0; i < this.count; i++) {
      if (this.relativeOffsets[i]! < 0 || this.positions[i]! < 0) return `entry ${i} is negative`;
      if (i > 0 && (this.relativeOffsets[i]! <= this.relativeOffsets[i - 1]! || this.positions[i]! <= this.positions[i - 1]!)) {
        return `entry ${i} is not after entry ${i - 1}`;
      }
    }
    if (this.count > 0 && this.positions[this.count - 1]! >= logSizeBytes) {
      return `last entry points at byte ${this.positions[this.count - 1]} past the log end ${logSizeBytes}`;
    }
    return undefined;
  }
}

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
