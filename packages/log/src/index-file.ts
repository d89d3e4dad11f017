import { open, rm, rename, type FileHandle } from 'node:fs/promises';

/** The fsync used for an index file (the owning segment's, so tests can count or fail it). */
export type IndexFileSync = (file: FileHandle, path: string) => Promise<void>;

/**
 * What the offset index and the time index share: fixed-size big-endian entries kept whole in
 * memory (in typed arrays owned by the subclass), and a file written behind them — entries are
 * added in memory and reach the file at `writePending` (flush, roll, close), never per append.
 * A segment rebuilds an index on recovery whenever it is suspect, so the file may lag.
 *
 * Not safe for concurrent mutation: the owning Segment serialises appends and truncations.
 */
export abstract class IndexFile {
  protected count = 0;
  /** Entries [0, writtenCount) are in the file; the rest wait for `writePending`. */
  private writtenCount = 0;
  /** Size of the file as found on open or last written (to detect a torn trailing entry). */
  protected fileBytes = 0;

  protected constructor(
    private file: FileHandle,
    private filePath: string,
    readonly baseOffset: bigint,
    readonly maxEntries: number,
    private readonly entryBytes: number,
  ) {}

  /**
   * Opens the index file at `path` (creating it if absent, emptying it when `truncateExisting`)
   * for positional reads and writes.
   */
  protected static async openHandle(path: string, truncateExisting: boolean): Promise<FileHandle> {
    const created = await open(path, truncateExisting ? 'w+' : 'a+');
    // 'a+' forces O_APPEND on Linux, so reopen read-write without it for positional writes.
    await created.close();
    return open(path, 'r+');
  }

  /** Room for at least `entries` entries in the subclass's arrays. */
  protected abstract ensureCapacity(entries: number): void;
  /** Decodes the entry at `bytes[at]` into slot `i`. */
  protected abstract decodeEntry(bytes: Buffer, at: number, i: number): void;
  /** Encodes slot `i` at `bytes[at]`. */
  protected abstract encodeEntry(bytes: Buffer, at: number, i: number): void;

  /** Loads every whole entry of the file; a trailing partial entry is ignored (see `wholeEntriesProblem`). */
  protected async load(): Promise<void> {
    try {
      const { size } = await this.file.stat();
      const whole = Math.floor(size / this.entryBytes);
      if (whole > 0) {
        const bytes = Buffer.alloc(whole * this.entryBytes);
        await this.file.read(bytes, 0, bytes.length, 0);
        this.ensureCapacity(whole);
        for (let i = 0; i < whole; i++) this.decodeEntry(bytes, i * this.entryBytes, i);
        this.count = whole;
        this.writtenCount = whole;
      }
      this.fileBytes = size;
    } catch (error) {
      await this.file.close();
      throw error;
    }
  }

  /** The capacity to grow typed arrays to so that they hold `entries` (doubling). */
  protected static grownCapacity(current: number, entries: number): number {
    let capacity = current * 2;
    while (capacity < entries) capacity *= 2;
    return capacity;
  }

  get path(): string {
    return this.filePath;
  }
  get entryCount(): number {
    return this.count;
  }
  get isFull(): boolean {
    return this.count >= this.maxEntries;
  }
  get sizeBytes(): number {
    return this.count * this.entryBytes;
  }

  reset(): void {
    this.count = 0;
  }

  /** A problem with the file's size (a torn trailing entry), or undefined. */
  protected wholeEntriesProblem(what: string): string | undefined {
    return this.fileBytes % this.entryBytes === 0 ? undefined : `${what} file size ${this.fileBytes} is not a multiple of ${this.entryBytes}`;
  }

  /** Writes entries not yet in the file (and cuts the file after a truncation). */
  async writePending(): Promise<void> {
    if (this.writtenCount > this.count || this.fileBytes > this.writtenCount * this.entryBytes) {
      this.writtenCount = Math.min(this.writtenCount, this.count);
      await this.file.truncate(this.writtenCount * this.entryBytes);
      this.fileBytes = this.writtenCount * this.entryBytes;
    }
    if (this.writtenCount === this.count) return;
    const bytes = Buffer.allocUnsafe((this.count - this.writtenCount) * this.entryBytes);
    for (let i = this.writtenCount, at = 0; i < this.count; i++, at += this.entryBytes) this.encodeEntry(bytes, at, i);
    await writeFully(this.file, bytes, this.writtenCount * this.entryBytes);
    this.writtenCount = this.count;
    this.fileBytes = this.count * this.entryBytes;
  }

  async flush(sync: IndexFileSync): Promise<void> {
    await this.writePending();
    await sync(this.file, this.filePath);
  }

  async renameTo(path: string): Promise<void> {
    await rename(this.filePath, path);
    this.filePath = path;
  }

  async close(): Promise<void> {
    await this.writePending();
    await this.file.close();
  }

  /** Closes the handle without writing (for deletion or after a storage failure). */
  async closeQuietly(): Promise<void> {
    await this.file.close().catch(() => {});
  }

  async delete(): Promise<void> {
    await this.closeQuietly();
    await rm(this.filePath, { force: true });
  }
}

export async function writeFully(file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const result = await file.write(bytes, written, bytes.length - written, position + written);
    written += result.bytesWritten;
  }
}
