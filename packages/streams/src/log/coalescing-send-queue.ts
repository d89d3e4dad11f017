export interface CoalescingSendQueueOptions<R> {
  /** The most record bytes one request carries, as `recordBytes` counts them (a single larger record still goes alone). */
  readonly requestBytesMax: number;
  /** The bytes a record counts for against `requestBytesMax`. */
  readonly recordBytes: (record: R) => number;
  /** Writes these records, in this order, as one request; resolves once all of them are acknowledged. */
  readonly writeRequest: (records: readonly R[]) => Promise<void>;
}

interface PendingSend<R> {
  readonly records: readonly R[];
  /** Records of this send not yet acknowledged. */
  remaining: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/**
 * The pending `send(records)` calls of one producer, written one request at a time (the idempotent
 * producer's order): sends that arrive while a request is in flight are coalesced into the next one
 * up to `requestBytesMax`, a send larger than that is split across requests, and a send resolves
 * once all its records are acknowledged — so after every earlier send. A failed request fails every
 * queued send and every later one: the order of the records after it is lost.
 */
export class CoalescingSendQueue<R> {
  private readonly queue: Array<PendingSend<R>> = [];
  /** Index of the next record to write in `queue[0]`. */
  private headRecordIndex = 0;
  private draining: Promise<void> | undefined;
  private failureError: Error | undefined;

  constructor(private readonly options: CoalescingSendQueueOptions<R>) {}

  /** The error of the request that failed, after which every send fails. */
  get failure(): Error | undefined {
    return this.failureError;
  }

  send(records: readonly R[]): Promise<void> {
    if (this.failureError !== undefined) return Promise.reject(this.failureError);
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, remaining: records.length, resolve, reject });
      this.startDrain();
    });
  }

  /** Resolves once every queued send is written; rejects with the failure if a request failed. */
  async idle(): Promise<void> {
    while (this.draining !== undefined) await this.draining;
    if (this.failureError !== undefined) throw this.failureError;
  }

  /**
   * One drain at a time. A send made while a drain is finishing (its last send's caller runs before
   * the drain's promise settles) is picked up by a new drain from the finally.
   */
  private startDrain(): void {
    if (this.draining !== undefined) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.queue.length > 0 && this.failureError === undefined) this.startDrain();
    });
  }

  private async drain(): Promise<void> {
    const { requestBytesMax, recordBytes } = this.options;
    while (this.queue.length > 0 && this.failureError === undefined) {
      const taken: Array<{ send: PendingSend<R>; count: number }> = [];
      const records: R[] = [];
      let bytes = 0;
      let sendIndex = 0;
      let recordIndex = this.headRecordIndex;
      // The first record always goes, whatever its size: a request is never empty.
      while (sendIndex < this.queue.length && (taken.length === 0 || bytes < requestBytesMax)) {
        const send = this.queue[sendIndex]!;
        let count = 0;
        while (recordIndex < send.records.length && (bytes < requestBytesMax || (taken.length === 0 && count === 0))) {
          const record = send.records[recordIndex]!;
          bytes += recordBytes(record);
          records.push(record);
          recordIndex += 1;
          count += 1;
        }
        taken.push({ send, count });
        if (recordIndex < send.records.length) break;
        sendIndex += 1;
        recordIndex = 0;
      }
      try {
        await this.options.writeRequest(records);
      } catch (error) {
        this.fail(asError(error));
        return;
      }
      for (const { send, count } of taken) {
        send.remaining -= count;
        if (send.remaining === 0) {
          this.queue.shift();
          send.resolve();
        }
      }
      this.headRecordIndex = this.queue.length > 0 && taken.at(-1)!.send === this.queue[0] ? recordIndex : 0;
    }
  }

  private fail(error: Error): void {
    this.failureError ??= error;
    for (const send of this.queue.splice(0)) send.reject(error);
    this.headRecordIndex = 0;
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
