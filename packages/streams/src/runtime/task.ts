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
  /** The task's state stores while it is assigned (undefined for a stateless sub-topology or a revoked task). */
  state: TaskState | undefined;
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
    };
  }
}
