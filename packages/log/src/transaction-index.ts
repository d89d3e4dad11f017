import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { writeFully, type IndexFileSync } from './index-file.js';

/*
 * The aborted-transaction index of one segment, `<base>.txnindex` (Kafka's TransactionIndex):
 * one 34-byte big-endian entry per aborted transaction whose abort marker is in the segment, in
 * marker order (strictly increasing lastOffset):
 *
 *   version           int16  @0   = 0
 *   producerId        int64  @2
 *   firstOffset       int64  @10  first offset of the transaction's data
 *   lastOffset        int64  @18  offset of the abort marker
 *   lastStableOffset  int64  @26  the partition's LSO right after the marker
 *
 * A read_committed fetch asks each segment from the fetch offset's on for the transactions that
 * overlap [fetchOffset, upperBoundOffset), and stops at the first entry whose lastStableOffset
 * reaches the upper bound: every transaction overlapping the range was complete by then.
 *
 * The file is created on the first append (most segments never see an abort, as in Kafka), and
 * each entry is written at once (aborts are rare); `flush` fsyncs it. The entries also live in
 * memory (34 bytes each), so a fetch never reads the file. Recovery resets the index of a
 * recovered segment and refills it from the producer-state replay (`ProducerStateManager.rebuild`
 * with `onCompletedTransaction`), or rebuilds it when `sanityCheck` reports a problem.
 */

export const TXN_INDEX_SUFFIX = '.txnindex';
export const ABORTED_TXN_ENTRY_BYTES = 34;
export const ABORTED_TXN_VERSION = 0;

export interface AbortedTxn {
  producerId: bigint;
  firstOffset: bigint;
  lastOffset: bigint;
  lastStableOffset: bigint;
}

/** What a Fetch response lists per aborted transaction. */
export interface AbortedTransaction {
  producerId: bigint;
  firstOffset: bigint;
}

export interface TxnIndexSearchResult {
  abortedTransactions: AbortedTransaction[];
  /** True when later segments cannot hold more transactions overlapping the range. */
  isComplete: boolean;
}

export function encodeAbortedTxn(txn: AbortedTxn, bytes: Buffer = Buffer.alloc(ABORTED_TXN_ENTRY_BYTES), at = 0): Buffer {
  bytes.writeInt16BE(ABORTED_TXN_VERSION, at);
  bytes.writeBigInt64BE(txn.producerId, at + 2);
  bytes.writeBigInt64BE(txn.firstOffset, at + 10);
  bytes.writeBigInt64BE(txn.lastOffset, at + 18);
  bytes.writeBigInt64BE(txn.lastStableOffset, at + 26);
  return bytes;
}

export function decodeAbortedTxn(bytes: Buffer, at = 0): AbortedTxn & { version: number } {
  return {
    version: bytes.readInt16BE(at),
    producerId: bytes.readBigInt64BE(at + 2),
    firstOffset: bytes.readBigInt64BE(at + 10),
    lastOffset: bytes.readBigInt64BE(at + 18),
    lastStableOffset: bytes.readBigInt64BE(at + 26),
  };
}

export class TransactionIndex {
  /** The entries as in the file, back to back (capacity grows by doubling). */
  private bytes: Buffer;
  private count = 0;
  /** Entries [0, count) are in the file too; its size as last known (a torn tail shows here). */
  private fileBytes: number;

  private constructor(
    private filePath: string,
    readonly startOffset: bigint,
    private file: FileHandle | undefined,
    loaded: Buffer,
  ) {
    this.fileBytes = loaded.length;
    this.count = Math.floor(loaded.length / ABORTED_TXN_ENTRY_BYTES);
    this.bytes = Buffer.alloc(Math.max(ABORTED_TXN_ENTRY_BYTES * 4, this.count * ABORTED_TXN_ENTRY_BYTES));
    loaded.copy(this.bytes, 0, 0, this.count * ABORTED_TXN_ENTRY_BYTES);
  }

  /**
   * Opens the index of the segment starting at `startOffset`, reading every whole entry of an
   * existing file (a torn trailing entry is ignored and reported by `sanityCheck`); an absent
   * file stays absent until the first append.
   */
  static async open(filePath: string, startOffset: bigint): Promise<TransactionIndex> {
    let file: FileHandle;
    try {
      file = await open(filePath, 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new TransactionIndex(filePath, startOffset, undefined, Buffer.alloc(0));
      throw error;
    }
    try {
      const { size } = await file.stat();
      const loaded = Buffer.alloc(size);
      let read = 0;
      while (read < size) {
        const { bytesRead } = await file.read(loaded, read, size - read, read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      return new TransactionIndex(filePath, startOffset, file, loaded.subarray(0, read));
    } catch (error) {
      await file.close();
      throw error;
    }
  }

  get path(): string {
    return this.filePath;
  }

  get entryCount(): number {
    return this.count;
  }

  get sizeBytes(): number {
    return this.count * ABORTED_TXN_ENTRY_BYTES;
  }

  /** The entry at `i` (0-based, in marker order). */
  entry(i: number): AbortedTxn {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`no entry ${i} in a transaction index of ${this.count}`);
    const { version: _version, ...txn } = decodeAbortedTxn(this.bytes, i * ABORTED_TXN_ENTRY_BYTES);
    return txn;
  }

  allAbortedTxns(): AbortedTxn[] {
    return Array.from({ length: this.count }, (_, i) => this.entry(i));
  }

  private lastOffsetAt(i: number): bigint {
    return this.bytes.readBigInt64BE(i * ABORTED_TXN_ENTRY_BYTES + 18);
  }

  /** Records an aborted transaction; its marker must come after the last one indexed. */
  async append(txn: AbortedTxn): Promise<void> {
    if (this.count > 0 && this.lastOffsetAt(this.count - 1) >= txn.lastOffset) {
      throw new RangeError(`aborted transaction with last offset ${txn.lastOffset} does not follow ${this.lastOffsetAt(this.count - 1)} in ${this.filePath}`);
    }
    if (txn.firstOffset > txn.lastOffset) throw new RangeError(`aborted transaction [${txn.firstOffset}, ${txn.lastOffset}] is inverted`);
    const at = this.count * ABORTED_TXN_ENTRY_BYTES;
    if (at + ABORTED_TXN_ENTRY_BYTES > this.bytes.length) {
      const grown = Buffer.alloc(this.bytes.length * 2);
      this.bytes.copy(grown, 0, 0, at);
      this.bytes = grown;
    }
    encodeAbortedTxn(txn, this.bytes, at);
    const file = await this.openForWrite();
    // A torn tail left by a crash is overwritten: the entry goes right after the last whole one.
    await writeFully(file, this.bytes.subarray(at, at + ABORTED_TXN_ENTRY_BYTES), at);
    this.count++;
    if (this.fileBytes !== at + ABORTED_TXN_ENTRY_BYTES) {
      if (this.fileBytes > at + ABORTED_TXN_ENTRY_BYTES) await file.truncate(at + ABORTED_TXN_ENTRY_BYTES);
      this.fileBytes = at + ABORTED_TXN_ENTRY_BYTES;
    }
  }

  private async openForWrite(): Promise<FileHandle> {
    this.file ??= await open(this.filePath, 'w+');
    return this.file;
  }

  /**
   * The aborted transactions overlapping [fetchOffset, upperBoundOffset), and whether the search
   * may stop at this segment.
   */
  collectAbortedTransactions(fetchOffset: bigint, upperBoundOffset: bigint): TxnIndexSearchResult {
    const abortedTransactions: AbortedTransaction[] = [];
    for (let i = 0, at = 0; i < this.count; i++, at += ABORTED_TXN_ENTRY_BYTES) {
      const lastOffset = this.bytes.readBigInt64BE(at + 18);
      const firstOffset = this.bytes.readBigInt64BE(at + 10);
      if (lastOffset >= fetchOffset && firstOffset < upperBoundOffset) {
        abortedTransactions.push({ producerId: this.bytes.readBigInt64BE(at + 2), firstOffset });
      }
      if (this.bytes.readBigInt64BE(at + 26) >= upperBoundOffset) return { abortedTransactions, isComplete: true };
    }
    return { abortedTransactions, isComplete: false };
  }

  /** Removes the entries whose marker is at or after `offset` (the log was truncated there). */
  async truncateTo(offset: bigint): Promise<void> {
    let keep = 0;
    while (keep < this.count && this.lastOffsetAt(keep) < offset) keep++;
    await this.truncateEntries(keep);
  }

  /** Removes every entry (before a rebuild). */
  async reset(): Promise<void> {
    await this.truncateEntries(0);
  }

  private async truncateEntries(keep: number): Promise<void> {
    this.count = keep;
    const bytes = keep * ABORTED_TXN_ENTRY_BYTES;
    if (this.file !== undefined && this.fileBytes !== bytes) {
      await this.file.truncate(bytes);
      this.fileBytes = bytes;
    }
  }

  /**
   * A problem that makes the index untrustworthy (the caller rebuilds it), or undefined: a torn
   * trailing entry, an unknown version, an entry before the segment, markers out of order, a
   * transaction that ends before it starts, or an LSO after its own marker.
   */
  sanityCheck(): string | undefined {
    if (this.fileBytes % ABORTED_TXN_ENTRY_BYTES !== 0) {
      return `transaction index ${this.filePath} size ${this.fileBytes} is not a multiple of ${ABORTED_TXN_ENTRY_BYTES}`;
    }
    let previousLast: bigint | undefined;
    for (let i = 0; i < this.count; i++) {
      const txn = decodeAbortedTxn(this.bytes, i * ABORTED_TXN_ENTRY_BYTES);
      const where = `entry ${i} of transaction index ${this.filePath}`;
      if (txn.version !== ABORTED_TXN_VERSION) return `${where} has unknown version ${txn.version}`;
      if (txn.lastOffset < this.startOffset) return `${where} ends at ${txn.lastOffset}, before the segment start ${this.startOffset}`;
      if (txn.firstOffset < 0n || txn.firstOffset > txn.lastOffset) return `${where} spans [${txn.firstOffset}, ${txn.lastOffset}]`;
      if (txn.producerId < 0n) return `${where} has producer id ${txn.producerId}`;
      if (txn.lastStableOffset < 0n || txn.lastStableOffset > txn.lastOffset + 1n) return `${where} has last stable offset ${txn.lastStableOffset} after its marker ${txn.lastOffset}`;
      if (previousLast !== undefined && txn.lastOffset <= previousLast) return `${where} ends at ${txn.lastOffset}, not after ${previousLast}`;
      previousLast = txn.lastOffset;
    }
    return undefined;
  }

  async flush(sync: IndexFileSync = (file) => file.datasync()): Promise<void> {
    if (this.file !== undefined) await sync(this.file, this.filePath);
  }

  async renameTo(filePath: string): Promise<void> {
    if (this.file !== undefined) await rename(this.filePath, filePath);
    this.filePath = filePath;
  }

  async close(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    await file?.close();
  }

  async delete(): Promise<void> {
    await this.close().catch(() => {});
    await rm(this.filePath, { force: true });
  }
}

/**
 * The aborted transactions overlapping [fetchOffset, upperBoundOffset) across a log's segments:
 * `indexes` are the transaction indexes of the segment holding fetchOffset and every later one,
 * in order; the search stops as soon as one says it is complete (Kafka's LocalLog).
 */
export function collectAbortedTransactions(indexes: Iterable<TransactionIndex>, fetchOffset: bigint, upperBoundOffset: bigint): AbortedTransaction[] {
  const collected: AbortedTransaction[] = [];
  for (const index of indexes) {
    const result = index.collectAbortedTransactions(fetchOffset, upperBoundOffset);
    collected.push(...result.abortedTransactions);
    if (result.isComplete) break;
  }
  return collected;
}
