/**
 * The cleaner's summary of the dirty section: for each key, the offset of its latest record.
 * Kafka hashes keys into a fixed buffer (and accepts the rare hash collision); defter keys the
 * map by the exact key bytes, so a collision can never drop a key's latest value, and bounds it
 * by entry count instead (`entriesMax`, Kafka's log.cleaner.dedupe.buffer.size in spirit).
 */
export class OffsetMap {
  private readonly latestByKey = new Map<string, bigint>();
  private latest = -1n;

  constructor(readonly entriesMax: number) {
    if (!Number.isSafeInteger(entriesMax) || entriesMax < 1) {
      throw new RangeError(`offset map entriesMax ${entriesMax} must be a positive integer`);
    }
  }

  get size(): number {
    return this.latestByKey.size;
  }

  /** The largest offset put so far; -1n when empty. */
  get latestOffset(): bigint {
    return this.latest;
  }

  /** Whether `keyCount` more keys fit, assuming every one is new. */
  hasRoomFor(keyCount: number): boolean {
    return this.latestByKey.size + keyCount <= this.entriesMax;
  }

  /** Records `offset` for `key`, keeping the larger offset if the key is already there. */
  put(key: Buffer, offset: bigint): void {
    const id = keyId(key);
    const known = this.latestByKey.get(id);
    if (known === undefined || offset > known) this.latestByKey.set(id, offset);
    if (offset > this.latest) this.latest = offset;
  }

  get(key: Buffer): bigint | undefined {
    return this.latestByKey.get(keyId(key));
  }
}

/** latin1 maps each byte to one UTF-16 unit, so distinct byte strings stay distinct. */
function keyId(key: Buffer): string {
  return key.toString('latin1');
}
