import type { TopicPartition } from '../log/stream-log.js';
import type { SubTopology } from '../topology/topology.js';
import type { TaskState } from './task-state.js';

/** A batch whose outputs were handed to the producer, waiting for its acknowledgement and the next commit. */
export interface UncommittedBatch extends TopicPartition {
  readonly nextOffset: bigint;
  readonly recordCount: number;
  /** Settles when every output (and dead letter) of the batch is acknowledged. */
  readonly acknowledged: Promise<void>;
  acked: boolean;
}

export interface TaskMetrics {
  readonly taskId: string;
  readonly subTopologyId: number;
  readonly partition: number;
  readonly recordsIn: number;
  readonly recordsOut: number;
  readonly recordsSkipped: number;
  readonly recordsDeadLettered: number;
  readonly batches: number;
  /** The largest batch fetched so far, in records. */
  readonly batchRecordsMax: number;
  /** Max event time seen (-1 before the first record). */
  readonly streamTimeMs: number;
  /** Records fetched and not yet committed. */
  readonly inFlightRecords: number;
  readonly inFlightRecordsMax: number;
  /** High watermark minus the next offset to process, summed over the task's input partitions. */
  readonly lag: number;
  readonly commits: number;
  readonly commitLatencyMsLast: number;
  /** Records processed per second, over the task's life. */
  readonly recordsPerSecond: number;
  /** Changelog records applied to this task's stores by restores, over the task's life. */
  readonly restoredRecords: number;
  /** Records windowed steps dropped because their window had closed (stream time past its end + grace), over the task's life. */
  readonly recordsLate: number;
}

/**
 * One (sub-topology, partition) pair: the unit of work that moves between instances. It counts,
 * keeps stream time, and holds the batches processed but not yet committed.
 */
export class StreamTask {
  readonly taskId: string;
  private uncommitted: UncommittedBatch[] = [];
  private readonly lagByTopic = new Map<string, number>();
  private streamTime = -1;
  private inFlight = 0;
  private counters = {
    recordsIn: 0,
    recordsOut: 0,
    recordsSkipped: 0,
    recordsDeadLettered: 0,
    batches: 0,
    batchRecordsMax: 0,
    inFlightRecordsMax: 0,
    commits: 0,
    commitLatencyMsLast: 0,
  };
  /** Whether the runtime paused the task's partitions (above the high-water mark). */
  paused = false;
  /** Bumped by `reset()`: a batch fetched before a reset no longer counts against the task. */
  epoch = 0;
  private taskState: TaskState | undefined;
  private lateTotal = 0;
  /** The position after the last batch emitted per input topic (uncommitted or committed): where an idle tick stands. */
  private readonly emittedPositions = new Map<string, bigint>();
  /** Settles when the stores are open and restored; batches wait for it. */
  stateReady: Promise<void> = Promise.resolve();
  private restoredTotal = 0;

  constructor(
    readonly subTopology: SubTopology,
    readonly partition: number,
    private readonly createdAtMs: number,
  ) {
    this.taskId = `${subTopology.subTopologyId}_${partition}`;
  }

  get streamTimeMs(): number {
    return this.streamTime;
  }

  /** The task's state stores while it is assigned (undefined for a stateless sub-topology or a revoked task). */
  get state(): TaskState | undefined {
    return this.taskState;
  }

  set state(state: TaskState | undefined) {
    this.taskState = state;
    if (state === undefined) return;
    state.onRecordsLate = (count) => {
      this.lateTotal += count;
    };
    state.streamTimeFloorMs = this.idleStreamTimeMs;
  }

  /** The stream time reached by idle advances (−Infinity: none); windowed steps take it as a floor. */
  private idleStreamTimeMs = Number.NEGATIVE_INFINITY;

  /**
   * Idle advance (`streamTimeIdleAdvanceMs`): stream time moves to `streamTimeMs` without a record,
   * so that windows close on a partition that went quiet. Never goes back.
   */
  advanceStreamTimeIdle(streamTimeMs: number): void {
    if (streamTimeMs <= this.streamTime) return;
    this.streamTime = streamTimeMs;
    this.idleStreamTimeMs = streamTimeMs;
    if (this.taskState !== undefined) this.taskState.streamTimeFloorMs = streamTimeMs;
  }

  /**
   * Where an idle tick (a batch without records) can stand: an input topic and the position after
   * the last batch this task emitted from it, with the lag then; undefined before any.
   */
  idleTickPosition(): { readonly topic: string; readonly nextOffset: bigint; readonly lag: number } | undefined {
    for (const [topic, nextOffset] of this.emittedPositions) return { topic, nextOffset, lag: this.lagByTopic.get(topic) ?? 0 };
    return undefined;
  }

  get inFlightRecords(): number {
    return this.inFlight;
  }

  /** The partitions this task reads. */
  inputPartitions(): TopicPartition[] {
    return [...this.subTopology.topics].map((topic) => ({ topic, partition: this.partition }));
  }

  fetched(recordCount: number, lagAfterBatch: number, topic: string): void {
    this.inFlight += recordCount;
    this.counters.inFlightRecordsMax = Math.max(this.counters.inFlightRecordsMax, this.inFlight);
    this.counters.batches += 1;
    this.counters.batchRecordsMax = Math.max(this.counters.batchRecordsMax, recordCount);
    this.counters.recordsIn += recordCount;
    this.lagByTopic.set(topic, lagAfterBatch);
  }

  observeTimestamp(timestampMs: number): void {
    if (timestampMs > this.streamTime) this.streamTime = timestampMs;
  }

  produced(outputCount: number, skipped: number, deadLettered: number): void {
    this.counters.recordsOut += outputCount;
    this.counters.recordsSkipped += skipped;
    this.counters.recordsDeadLettered += deadLettered;
  }

  /** A batch that will never be committed by this task (discarded at a rebalance, or not emitted). */
  dropped(recordCount: number, epoch: number): void {
    if (epoch === this.epoch) this.inFlight -= recordCount;
  }

  addUncommitted(batch: UncommittedBatch): void {
    this.uncommitted.push(batch);
    const known = this.emittedPositions.get(batch.topic);
    if (known === undefined || batch.nextOffset > known) this.emittedPositions.set(batch.topic, batch.nextOffset);
  }

  /** The uncommitted batches, oldest first. */
  pending(): readonly UncommittedBatch[] {
    return this.uncommitted;
  }

  /** After a commit of `batches`: they leave the task and stop counting as in flight. */
  committed(batches: ReadonlySet<UncommittedBatch>, latencyMs: number): void {
    if (batches.size === 0) return;
    let released = 0;
    this.uncommitted = this.uncommitted.filter((batch) => {
      if (!batches.has(batch)) return true;
      released += batch.recordCount;
      return false;
    });
    if (released === 0) return;
    this.inFlight -= released;
    this.counters.commits += 1;
    this.counters.commitLatencyMsLast = latencyMs;
  }

  restoredRecordsAdd(count: number): void {
    this.restoredTotal += count;
  }

  /** At a rebalance: positions go back to the committed offsets, so nothing uncommitted survives. */
  reset(): void {
    this.epoch += 1;
    this.uncommitted = [];
    this.inFlight = 0;
    this.paused = false;
    // Positions go back to the committed offsets, which this task does not know: no idle tick until a batch is emitted again.
    this.emittedPositions.clear();
  }

  metrics(nowMs: number): TaskMetrics {
    const elapsedSeconds = Math.max((nowMs - this.createdAtMs) / 1000, 1e-3);
    let lag = 0;
    for (const value of this.lagByTopic.values()) lag += value;
    return {
      taskId: this.taskId,
      subTopologyId: this.subTopology.subTopologyId,
      partition: this.partition,
      ...this.counters,
      streamTimeMs: this.streamTime,
      inFlightRecords: this.inFlight,
      lag,
      recordsPerSecond: this.counters.recordsIn / elapsedSeconds,
      restoredRecords: this.restoredTotal,
      recordsLate: this.lateTotal,
    };
  }
}
