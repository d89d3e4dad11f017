import type { GroupOffsets } from '../../src/group/group-coordinator.js';
import type { Ticker } from '../../src/replica/delayed-operations.js';

/** A ticker the test fires by hand; it records whether its owner keeps it running. */
export class ManualTicker implements Ticker {
  running = false;
  starts = 0;
  private onTick: (() => void) | undefined;
  start(_intervalMs: number, onTick: () => void): () => void {
    this.running = true;
    this.starts++;
    this.onTick = onTick;
    return () => {
      this.running = false;
      this.onTick = undefined;
    };
  }
  tick(): void {
    this.onTick?.();
  }
}

/** Committed offsets as the group coordinator sees them, kept in memory: which groups have any. */
export class MemoryOffsets implements GroupOffsets {
  readonly groups = new Set<string>();
  hasOffsets(groupId: string): boolean {
    return this.groups.has(groupId);
  }
  groupIds(): string[] {
    return [...this.groups];
  }
  async deleteGroup(groupId: string): Promise<void> {
    this.groups.delete(groupId);
  }
}
