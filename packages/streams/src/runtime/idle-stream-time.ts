import type { FetchedBatch } from '../log/stream-log.js';
import type { Scheduler } from './scheduler.js';
import type { StreamTask } from './task.js';

/**
 * The idle advance of stream time (`streamTimeIdleAdvanceMs`). Stream time moves only with
 * records, so on a partition that goes quiet the last windows never close and
 * `suppress(untilWindowCloses())` never emits them. With the option set, a stateful task that
 * received no record for `idleMs` of wall-clock time has its stream time advanced by the
 * wall-clock time elapsed (from its last record, then from the previous advance), and a batch
 * without records runs through its sub-topology so that windowed steps close what is due.
 *
 * This trades determinism for liveness: what closes then depends on when the app ran, not only
 * on the input (a record that arrives after a pause may find its window closed and be dropped as
 * late). Off by default.
 */
export class IdleStreamTimeAdvance {
  private readonly seen = new WeakMap<StreamTask, { recordsIn: number; lastRecordAtMs: number; advancedAtMs: number | undefined }>();

  constructor(readonly idleMs: number) {
    if (!(Number.isSafeInteger(idleMs) && idleMs > 0)) throw new RangeError(`streamTimeIdleAdvanceMs must be a positive integer, got ${idleMs}`);
  }

  /** How often the app looks for idle tasks. */
  get tickIntervalMs(): number {
    return Math.max(1, Math.min(Math.floor(this.idleMs / 2), 1_000));
  }

  /** One look at `tasks` at `nowMs`: advances the idle ones and returns a batch without records for each. */
  tick(tasks: Iterable<StreamTask>, nowMs: number): FetchedBatch[] {
    const batches: FetchedBatch[] = [];
    for (const task of tasks) {
      if (task.subTopology.stores.length === 0) continue;
      const recordsIn = task.metrics(nowMs).recordsIn;
      const seen = this.seen.get(task);
      if (seen === undefined || seen.recordsIn !== recordsIn) {
        this.seen.set(task, { recordsIn, lastRecordAtMs: nowMs, advancedAtMs: undefined });
        continue;
      }
      if (nowMs - seen.lastRecordAtMs < this.idleMs) continue;
      const position = task.idleTickPosition();
      // Before its first record (or first emitted batch since an assignment) a task has no stream time to advance.
      if (position === undefined || task.streamTimeMs < 0) continue;
      const elapsedMs = Math.floor(nowMs - (seen.advancedAtMs ?? seen.lastRecordAtMs));
      if (elapsedMs <= 0) continue;
      task.advanceStreamTimeIdle(task.streamTimeMs + elapsedMs);
      seen.advancedAtMs = nowMs;
      batches.push({
        topic: position.topic,
        partition: task.partition,
        records: [],
        nextOffset: position.nextOffset,
        highWatermark: position.nextOffset + BigInt(position.lag),
      });
    }
    return batches;
  }
}

/** Starts the idle advance on the scheduler; returns the function that stops it. */
export function startIdleStreamTimeAdvance(
  idleMs: number,
  scheduler: Scheduler,
  tasks: () => Iterable<StreamTask>,
  runBatch: (batch: FetchedBatch) => void,
): () => void {
  const advance = new IdleStreamTimeAdvance(idleMs);
  return scheduler.every(advance.tickIntervalMs, () => {
    for (const batch of advance.tick(tasks(), scheduler.now())) runBatch(batch);
  });
}
