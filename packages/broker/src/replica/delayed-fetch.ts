import type { DelayedOperation } from './delayed-operations.js';

/** Where a waiting fetch reads one partition, and the bytes of it that count toward minBytes. */
export interface WatchedPartition {
  readonly key: string;
  /** Bytes of this partition that count at most (its partitionMaxBytes). */
  readonly bytesMax: number;
}

/**
 * A Fetch waiting for `minBytes` (Kafka's DelayedFetch). It counts the bytes appended to its
 * partitions since its first read, each partition capped at its partitionMaxBytes, on top of
 * what that read found; the fetch itself is read again when it completes.
 */
export class DelayedFetch implements DelayedOperation<number> {
  readonly watchKeys: readonly string[];
  private readonly bytesMaxByKey = new Map<string, number>();
  private readonly bytesByKey = new Map<string, number>();
  private bytesTotal: number;

  constructor(
    partitions: readonly WatchedPartition[],
    readonly deadlineMs: number,
    private readonly minBytes: number,
    bytesAlreadyRead: number,
    private readonly onComplete: () => void,
  ) {
    for (const { key, bytesMax } of partitions) this.bytesMaxByKey.set(key, Math.max(bytesMax, this.bytesMaxByKey.get(key) ?? 0));
    this.watchKeys = [...this.bytesMaxByKey.keys()];
    this.bytesTotal = bytesAlreadyRead;
  }

  /** `bytesAppended` were appended to partition `key`. */
  onEvent(key: string, bytesAppended: number): boolean {
    const bytesMax = this.bytesMaxByKey.get(key);
    if (bytesMax === undefined) return false;
    const before = this.bytesByKey.get(key) ?? 0;
    const after = Math.min(bytesMax, before + bytesAppended);
    this.bytesByKey.set(key, after);
    this.bytesTotal += after - before;
    return this.bytesTotal >= this.minBytes;
  }

  complete(): void {
    this.onComplete();
  }
}
