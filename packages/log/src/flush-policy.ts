/*
 * When to fsync, from Kafka's flush.messages and flush.ms: after `flushMessages` records since
 * the last flush, or when the last flush is `flushMs` old and something is unflushed. The
 * defaults (both "never") leave durability to replication and the OS, as Kafka does;
 * flushMessages = 1 fsyncs every append (group commit makes that one fsync per group).
 */
export interface FlushSettings {
  flushMessages: number;
  flushMs: number;
}

export class FlushPolicy {
  private unflushed = 0;
  private lastFlushMs: number;

  constructor(
    private settings: FlushSettings,
    nowMs: number,
  ) {
    this.lastFlushMs = nowMs;
  }

  updateSettings(settings: FlushSettings): void {
    this.settings = settings;
  }

  get unflushedMessages(): number {
    return this.unflushed;
  }

  recordAppended(recordCount: number): void {
    this.unflushed += recordCount;
  }

  shouldFlush(nowMs: number): boolean {
    if (this.unflushed === 0) return false;
    return this.unflushed >= this.settings.flushMessages || nowMs - this.lastFlushMs >= this.settings.flushMs;
  }

  flushed(nowMs: number): void {
    this.unflushed = 0;
    this.lastFlushMs = nowMs;
  }
}
