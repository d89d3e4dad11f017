import type { ClusterClient, TopicInfo } from './cluster-client.js';
import { PartitionFetcher, type FetchPosition, type PartitionFetcherOptions } from './partition-fetcher.js';
import type { FormattableRecord } from './record-format.js';
import type { RequestTransport } from './request-transport.js';

/**
 * Reads fixed offset ranges of several partitions of a topic as one sequence: merged by timestamp
 * (ties by partition, then offset), each partition's own offset order kept (a record is never
 * passed by a later record of its partition, whatever their timestamps). With one partition that
 * is offset order.
 *
 * Memory is bounded by one fetch window per partition: every partition holds the records of its
 * last fetch; records are emitted while every unfinished partition has one to compare, and only
 * the partitions that ran out are fetched again (read_committed, through `PartitionFetcher`).
 */

export interface PartitionRange {
  readonly partition: number;
  /** First offset to read. */
  readonly start: bigint;
  /** First offset not to read. */
  readonly end: bigint;
}

export interface OrderedReaderOptions extends PartitionFetcherOptions {
  /** Fetch rounds in a row in which a partition may not move before the reader gives up on it. */
  stalledRoundsMax?: number;
}

const STALLED_ROUNDS_MAX_DEFAULT = 50;
/** Short: the ranges end below the last stable offset, so a fetch only waits when something is wrong. */
const MAX_WAIT_MS_DEFAULT = 100;

interface PartitionState {
  readonly range: PartitionRange;
  readonly position: FetchPosition;
  /** Fetched records not yet emitted, in offset order, all below `range.end`. */
  buffered: FormattableRecord[];
  /** Index of the next record of `buffered` to emit. */
  next: number;
  stalledRounds: number;
}

export class OrderedReader {
  private readonly fetcher: PartitionFetcher;
  private readonly partitions: PartitionState[];
  private readonly stalledRoundsMax: number;
  private readonly topicName: string;

  constructor(client: ClusterClient<RequestTransport>, topic: TopicInfo, ranges: readonly PartitionRange[], options: OrderedReaderOptions = {}) {
    this.partitions = ranges
      .filter((range) => range.start < range.end)
      .map((range) => ({ range, position: { partition: range.partition, offset: range.start, highWatermark: -1n }, buffered: [], next: 0, stalledRounds: 0 }));
    this.fetcher = new PartitionFetcher(
      client,
      topic,
      this.partitions.map((state) => state.position),
      { maxWaitMs: MAX_WAIT_MS_DEFAULT, ...options },
    );
    this.stalledRoundsMax = options.stalledRoundsMax ?? STALLED_ROUNDS_MAX_DEFAULT;
    this.topicName = topic.name;
  }

  /** The next records in order (at least one), or an empty array once every range is read. */
  async next(): Promise<FormattableRecord[]> {
    for (;;) {
      await this.refill();
      const unfinished = this.partitions.filter((state) => !finished(state));
      if (unfinished.length === 0) return [];
      const out: FormattableRecord[] = [];
      // Emit while every unfinished partition has a record to compare; stop at the first that runs dry.
      for (;;) {
        let best: PartitionState | undefined;
        for (const state of unfinished) {
          if (finished(state)) continue;
          if (state.next >= state.buffered.length) {
            best = undefined;
            break;
          }
          if (best === undefined || comesBefore(state.buffered[state.next]!, best.buffered[best.next]!)) best = state;
        }
        if (best === undefined) break;
        out.push(best.buffered[best.next]!);
        best.next += 1;
      }
      for (const state of unfinished) {
        if (state.next >= state.buffered.length) {
          state.buffered = [];
          state.next = 0;
        }
      }
      if (out.length > 0) return out;
    }
  }

  /** Fetches the partitions that have nothing buffered and more to read, until each has a record or is done. */
  private async refill(): Promise<void> {
    for (;;) {
      const empty = this.partitions.filter((state) => state.next >= state.buffered.length && state.position.offset < state.range.end);
      if (empty.length === 0) return;
      const before = new Map(empty.map((state) => [state, state.position.offset]));
      const records = await this.fetcher.fetchOnce(new Set(empty.map((state) => state.range.partition)));
      const byPartition = new Map(empty.map((state) => [state.range.partition, state]));
      for (const record of records) {
        const state = byPartition.get(record.partition);
        if (state !== undefined && record.offset < state.range.end) state.buffered.push(record);
      }
      for (const state of empty) {
        if (state.position.offset > before.get(state)!) state.stalledRounds = 0;
        else if (++state.stalledRounds >= this.stalledRoundsMax) {
          throw new Error(
            `partition ${state.range.partition} of '${this.topicName}' returned nothing at offset ${state.position.offset} in ${state.stalledRounds} fetches, below the end of the range (${state.range.end})`,
          );
        }
      }
    }
  }
}

function finished(state: PartitionState): boolean {
  return state.next >= state.buffered.length && state.position.offset >= state.range.end;
}

/** Timestamp order; ties by partition, then offset. */
function comesBefore(a: FormattableRecord, b: FormattableRecord): boolean {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp;
  if (a.partition !== b.partition) return a.partition < b.partition;
  return a.offset < b.offset;
}
