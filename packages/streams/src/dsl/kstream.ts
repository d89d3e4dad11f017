import { filter, map, merge, type Observable, type OperatorFunction } from 'rxjs';
import type { Serde } from '../serde/serde.js';
import type { AnyRecord, Partitioner, Topology } from '../topology/topology.js';
import type { StreamRecord } from './stream-record.js';
import { mapValues } from './operators/map-values.js';
import { selectKey } from './operators/select-key.js';
import { flatMapValues } from './operators/flat-map-values.js';
import { peek } from './operators/peek.js';
import { filterRecords } from './operators/filter-records.js';
import { KGroupedStream, type GroupByOptions, type GroupedOptions } from './kgrouped-stream.js';
import { GlobalKTable } from './global-ktable.js';
import type { KTable } from './ktable.js';
import type { JoinWindows } from './joins/join-windows.js';
import { addStreamGlobalTableJoin, addStreamStreamJoin, addStreamTableJoin, type StreamJoinOptions } from './joins/join-nodes.js';

type Rec<K, V> = StreamRecord<K, V>;

export interface ToOptions<K, V> {
  readonly key: Serde<K>;
  readonly value: Serde<V>;
  /** Chooses the partition; by default murmur2 of the serialized key, like Kafka's producers. */
  readonly partitioner?: (record: StreamRecord<K, V>, keyBytes: Buffer | null, partitionCount: number) => number;
}

export interface RepartitionOptions<K, V> extends ToOptions<K, V> {
  /**
   * The topic is `<applicationId>-<name>-repartition`. The default is derived from the step's
   * position in the topology (`KSTREAM-REPARTITION-0000000005`): adding or reordering steps before
   * it renames the topic, and records still in the old one are left behind. Name it.
   */
  readonly name?: string;
  /** The topic's partitions; by default the most partitions among the topics upstream (Kafka Streams' default). */
  readonly partitions?: number;
}

/**
 * A stream of records, described lazily: every method adds a step to the app's topology and
 * returns a new `KStream`; nothing runs until `app.start()`. `pipe()` takes ordinary RxJS operators
 * whose last one yields records again (see the README, "RxJS and commits", for how they meet batches).
 */
export class KStream<K, V> {
  /** @internal */
  constructor(
    private readonly topology: Topology,
    /** @internal */
    readonly nodeId: number,
  ) {}

  pipe<K2, V2>(op1: OperatorFunction<Rec<K, V>, Rec<K2, V2>>): KStream<K2, V2>;
  pipe<A, K2, V2>(op1: OperatorFunction<Rec<K, V>, A>, op2: OperatorFunction<A, Rec<K2, V2>>): KStream<K2, V2>;
  pipe<A, B, K2, V2>(op1: OperatorFunction<Rec<K, V>, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, Rec<K2, V2>>): KStream<K2, V2>;
  pipe<A, B, C, K2, V2>(
    op1: OperatorFunction<Rec<K, V>, A>,
    op2: OperatorFunction<A, B>,
    op3: OperatorFunction<B, C>,
    op4: OperatorFunction<C, Rec<K2, V2>>,
  ): KStream<K2, V2>;
  pipe<A, B, C, D, K2, V2>(
    op1: OperatorFunction<Rec<K, V>, A>,
    op2: OperatorFunction<A, B>,
    op3: OperatorFunction<B, C>,
    op4: OperatorFunction<C, D>,
    op5: OperatorFunction<D, Rec<K2, V2>>,
  ): KStream<K2, V2>;
  pipe<A, B, C, D, E, K2, V2>(
    op1: OperatorFunction<Rec<K, V>, A>,
    op2: OperatorFunction<A, B>,
    op3: OperatorFunction<B, C>,
    op4: OperatorFunction<C, D>,
    op5: OperatorFunction<D, E>,
    op6: OperatorFunction<E, Rec<K2, V2>>,
  ): KStream<K2, V2>;
  /** More than six operators: the result's types are the caller's to state. */
  pipe<K2, V2>(...operators: Array<OperatorFunction<never, unknown>>): KStream<K2, V2>;
  pipe(...operators: Array<OperatorFunction<never, unknown>>): KStream<unknown, unknown> {
    // Each operator's input is the previous one's output; the overloads above check the chain.
    const chain = operators as unknown as Array<OperatorFunction<unknown, unknown>>;
    const nodeId = this.topology.addNode([this.nodeId], ([input]) =>
      chain.reduce<Observable<unknown>>((observable, operator) => operator(observable), input!),
    );
    return new KStream(this.topology, nodeId);
  }

  mapValues<V2>(mapper: (value: V | null, record: Rec<K, V>) => V2 | null): KStream<K, V2> {
    return this.pipe(mapValues(mapper));
  }

  selectKey<K2>(selector: (record: Rec<K, V>) => K2 | null): KStream<K2, V> {
    return this.pipe(selectKey(selector));
  }

  flatMapValues<V2>(mapper: (value: V | null, record: Rec<K, V>) => Iterable<V2 | null>): KStream<K, V2> {
    return this.pipe(flatMapValues(mapper));
  }

  filter(predicate: (record: Rec<K, V>) => boolean): KStream<K, V> {
    return this.pipe(filterRecords(predicate));
  }

  peek(action: (record: Rec<K, V>) => void): KStream<K, V> {
    return this.pipe(peek(action));
  }

  /** One stream with the records of this one and the others (of the same app), in arrival order. */
  merge(...others: Array<KStream<K, V>>): KStream<K, V> {
    for (const other of others) {
      if (other.topology !== this.topology) throw new Error('merge() joins streams of one app only');
    }
    const nodeId = this.topology.addNode([this.nodeId, ...others.map((other) => other.nodeId)], (inputs) => merge(...inputs));
    return new KStream(this.topology, nodeId);
  }

  /**
   * Splits the stream: each record goes to the stream of the first predicate it satisfies, and is
   * dropped when it satisfies none (Kafka Streams' `branch`). Each predicate runs at most once per record.
   */
  branch(...predicates: Array<(record: Rec<K, V>) => boolean>): Array<KStream<K, V>> {
    if (predicates.length === 0) throw new RangeError('branch() needs at least one predicate');
    const routerId = this.topology.addNode([this.nodeId], ([input]) =>
      input!.pipe(map((record) => ({ branchIndex: predicates.findIndex((predicate) => predicate(record as Rec<K, V>)), record }))),
    );
    return predicates.map((_, index) => {
      const nodeId = this.topology.addNode([routerId], ([routed]) =>
        (routed as Observable<{ branchIndex: number; record: unknown }>).pipe(
          filter((entry) => entry.branchIndex === index),
          map((entry) => entry.record),
        ),
      );
      return new KStream<K, V>(this.topology, nodeId);
    });
  }

  /**
   * Named branches: `split({ eu: r => …, us: r => … })` gives `{ eu, us, rest }`, where `rest`
   * holds the records no predicate accepted (nothing is dropped silently).
   */
  split<N extends string>(branches: Readonly<Record<N, (record: Rec<K, V>) => boolean>>): Record<N | 'rest', KStream<K, V>> {
    const names = Object.keys(branches) as N[];
    if ((names as string[]).includes('rest')) throw new RangeError('"rest" is the name of the unmatched branch; choose another');
    const streams = this.branch(...names.map((name) => branches[name]), () => true);
    const result = {} as Record<N | 'rest', KStream<K, V>>;
    names.forEach((name, index) => {
      result[name] = streams[index]!;
    });
    result.rest = streams[names.length]!;
    return result;
  }

  /**
   * Writes every record to `topic` (an existing topic) and gives the stream read back from it: what
   * follows runs in the tasks of the topic's partitions (a sub-topology boundary), with the key,
   * value, headers and timestamp (written as the CreateTime) as written. Records are partitioned as
   * by `to()`: murmur2 of the serialized key unless a `partitioner` is given.
   */
  through(topic: string, options: ToOptions<K, V>): KStream<K, V> {
    if (typeof topic !== 'string' || topic.length === 0) throw new RangeError('through() needs a topic name');
    const nodeId = this.topology.addThrough(this.nodeId, sinkSerdes(topic, options));
    return new KStream<K, V>(this.topology, nodeId);
  }

  /**
   * `through()` an internal topic, `<applicationId>-<name>-repartition`, that the app creates at
   * `start()`: after `selectKey`, every record of a key meets the others in one partition, hence one
   * task. Under exactly_once its writes are part of each commit's transaction.
   */
  repartition(options: RepartitionOptions<K, V>): KStream<K, V> {
    const nodeId = this.topology.addRepartition(this.nodeId, {
      keySerde: options.key as Serde<unknown>,
      valueSerde: options.value as Serde<unknown>,
      partitioner: options.partitioner as Partitioner | undefined,
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.partitions !== undefined ? { partitions: options.partitions } : {}),
    });
    return new KStream<K, V>(this.topology, nodeId);
  }

  /**
   * Groups by the current key for `count`/`reduce`/`aggregate`. No repartition: the records must
   * already be partitioned by this key (read from a topic keyed so, or after `repartition`).
   */
  groupByKey(options: GroupedOptions<K, V>): KGroupedStream<K, V> {
    return new KGroupedStream<K, V>(this.topology, this, options, undefined);
  }

  /**
   * Groups by a new key: `selector(record)` becomes the key and the records go through the
   * repartition topic `<applicationId>-<name>-repartition` (default name: the aggregation's), so
   * that each key's records meet in one task.
   */
  groupBy<K2>(selector: (record: Rec<K, V>) => K2 | null, options: GroupByOptions<K2, V>): KGroupedStream<K2, V> {
    return new KGroupedStream<K2, V>(this.topology, this as unknown as KStream<K2, V>, options, {
      selector: selector as (record: Rec<unknown, V>) => K2 | null,
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.partitions !== undefined ? { partitions: options.partitions } : {}),
    });
  }

  /**
   * Joins (see the README, "Joins"). With a `KTable`: each record joins the table's current value
   * for its key (co-partitioned; records whose key is not in the table are dropped). With a
   * `GlobalKTable`: the key selector picks the table key. With a `KStream`: records of both
   * streams with one key whose timestamps differ by at most the window's time difference.
   */
  join<VT, VR>(table: KTable<K, VT>, joiner: (value: V, tableValue: VT, record: Rec<K, V>) => VR): KStream<K, VR>;
  join<KG, VG, VR>(table: GlobalKTable<KG, VG>, keySelector: (record: Rec<K, V>) => KG | null, joiner: (value: V, tableValue: VG, record: Rec<K, V>) => VR): KStream<K, VR>;
  join<VO, VR>(other: KStream<K, VO>, joiner: (value: V, otherValue: VO) => VR, windows: JoinWindows, options: StreamJoinOptions<K, V, VO>): KStream<K, VR>;
  join(other: unknown, second: unknown, third?: unknown, fourth?: unknown): KStream<K, unknown> {
    return this.joinOf('inner', other, second, third, fourth);
  }

  /** As `join`, but a record without a partner joins with null (for a stream–stream join: once its window closed unmatched). */
  leftJoin<VT, VR>(table: KTable<K, VT>, joiner: (value: V, tableValue: VT | null, record: Rec<K, V>) => VR): KStream<K, VR>;
  leftJoin<KG, VG, VR>(
    table: GlobalKTable<KG, VG>,
    keySelector: (record: Rec<K, V>) => KG | null,
    joiner: (value: V, tableValue: VG | null, record: Rec<K, V>) => VR,
  ): KStream<K, VR>;
  leftJoin<VO, VR>(other: KStream<K, VO>, joiner: (value: V, otherValue: VO | null) => VR, windows: JoinWindows, options: StreamJoinOptions<K, V, VO>): KStream<K, VR>;
  leftJoin(other: unknown, second: unknown, third?: unknown, fourth?: unknown): KStream<K, unknown> {
    return this.joinOf('left', other, second, third, fourth);
  }

  /** Stream–stream only: records of either side without a partner join with null once their window closed. */
  outerJoin<VO, VR>(other: KStream<K, VO>, joiner: (value: V | null, otherValue: VO | null) => VR, windows: JoinWindows, options: StreamJoinOptions<K, V, VO>): KStream<K, VR> {
    if (!(other instanceof KStream)) throw new TypeError('outerJoin() joins two streams; for tables use KTable.outerJoin()');
    return this.joinOf('outer', other, joiner, windows, options) as KStream<K, VR>;
  }

  private joinOf(kind: 'inner' | 'left' | 'outer', other: unknown, second: unknown, third: unknown, fourth: unknown): KStream<K, unknown> {
    type Joiner = (a: unknown, b: unknown, record?: StreamRecord<unknown, unknown>) => unknown;
    let nodeId: number;
    if (other instanceof KStream) {
      if (other.topology !== this.topology) throw new Error('join() joins streams of one app only');
      nodeId = addStreamStreamJoin(this.topology, this.nodeId, other.nodeId, kind, second as Joiner, third as JoinWindows, fourth as StreamJoinOptions<unknown, unknown, unknown>);
    } else if (other instanceof GlobalKTable) {
      nodeId = addStreamGlobalTableJoin(this.topology, this.nodeId, other, second as (record: AnyRecord) => unknown, kind === 'left' ? 'left' : 'inner', third as Joiner);
    } else if (typeof other === 'object' && other !== null && 'storeName' in other && 'nodeId' in other) {
      const table = other as { readonly nodeId: number; readonly storeName: string | undefined };
      nodeId = addStreamTableJoin(this.topology, this.nodeId, table, kind === 'left' ? 'left' : 'inner', second as Joiner);
    } else {
      throw new TypeError('join() takes a KTable, a GlobalKTable or a KStream of the same app');
    }
    return new KStream(this.topology, nodeId);
  }

  /** Writes every record to `topic` (or to the topic the function names for it). */
  to(topic: string | ((record: Rec<K, V>) => string), options: ToOptions<K, V>): void {
    if (typeof topic === 'string' && topic.length === 0) throw new RangeError('to() needs a topic name');
    this.topology.addSink(this.nodeId, sinkSerdes(topic as string | ((record: AnyRecord) => string), options));
  }
}

function sinkSerdes<T extends string | ((record: AnyRecord) => string), K, V>(
  topic: T,
  options: ToOptions<K, V>,
): { topic: T; keySerde: Serde<unknown>; valueSerde: Serde<unknown>; partitioner: Partitioner | undefined } {
  return {
    topic,
    keySerde: options.key as Serde<unknown>,
    valueSerde: options.value as Serde<unknown>,
    partitioner: options.partitioner as Partitioner | undefined,
  };
}
