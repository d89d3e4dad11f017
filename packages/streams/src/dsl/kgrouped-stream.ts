import type { Observable } from 'rxjs';
import type { Serde } from '../serde/serde.js';
import { float64Serde } from '../serde/number-serdes.js';
import type { Topology } from '../topology/topology.js';
import type { KStream } from './kstream.js';
import { KTable } from './ktable.js';
import { aggregateByKey } from './operators/aggregate-by-key.js';
import type { StreamRecord } from './stream-record.js';
import { SessionWindowedKStream, TimeWindowedKStream } from './windows/windowed-kstreams.js';
import { SessionWindows, SlidingWindows, TimeWindows } from './windows/windows.js';

export interface GroupedOptions<K, V> {
  /** The key serde: the store's key bytes (and the repartition topic's, after `groupBy`). */
  readonly key: Serde<K>;
  /** The value serde: the repartition topic's (after `groupBy`) and `reduce`'s store. */
  readonly value: Serde<V>;
}

export interface GroupByOptions<K, V> extends GroupedOptions<K, V> {
  /** The repartition topic is `<applicationId>-<name>-repartition`; default: the aggregation's store name. */
  readonly name?: string;
  readonly partitions?: number;
}

/** Names the stateful step: its store and its changelog topic `<applicationId>-<name>-changelog`. Required, so that it never changes by accident. */
export interface StoreNameOptions {
  readonly name: string;
}

export interface AggregateOptions<A> extends StoreNameOptions {
  /** The aggregate's serde (store and changelog). */
  readonly value: Serde<A>;
}

/**
 * A stream grouped by key, waiting for its aggregation. After `groupBy` (a new key) the records go
 * through a repartition topic first, so that every record of a key meets in one task; after
 * `groupByKey` they are aggregated where they are (the input must be partitioned by that key).
 * Records with a null key, and for aggregations a null value, are dropped (Kafka Streams' rule).
 */
export class KGroupedStream<K, V> {
  /** @internal */
  constructor(
    private readonly topology: Topology,
    private readonly stream: KStream<K, V>,
    private readonly options: GroupedOptions<K, V>,
    private readonly rekey: { readonly selector: (record: StreamRecord<unknown, V>) => K | null; readonly name?: string; readonly partitions?: number } | undefined,
  ) {}

  /** The number of records per key. */
  count(options: StoreNameOptions): KTable<K, number> {
    return this.materialise<number>(options.name, float64Serde(), (current) => (current ?? 0) + 1);
  }

  /** Combines the values of a key: the first value is the start, then `reducer(aggregate, value)`. */
  reduce(reducer: (aggregate: V, value: V, record: StreamRecord<K, V>) => V, options: StoreNameOptions): KTable<K, V> {
    return this.materialise<V>(options.name, this.options.value, (current, record) => (current === null ? record.value : reducer(current, record.value as V, record)));
  }

  /** Folds the values of a key into an aggregate that starts as `initializer()`. */
  aggregate<A>(initializer: () => A, adder: (key: K, value: V, aggregate: A, record: StreamRecord<K, V>) => A, options: AggregateOptions<A>): KTable<K, A> {
    if (options.value === undefined) throw new RangeError('aggregate() needs a value serde for its store: { name, value }');
    return this.materialise<A>(options.name, options.value, (current, record) => adder(record.key as K, record.value as V, current ?? initializer(), record));
  }

  /** Windowed aggregations: tumbling/hopping (`TimeWindows`), sliding (`SlidingWindows`) or session (`SessionWindows`) windows on event time. */
  windowedBy(windows: TimeWindows | SlidingWindows): TimeWindowedKStream<K, V>;
  windowedBy(windows: SessionWindows): SessionWindowedKStream<K, V>;
  windowedBy(windows: TimeWindows | SlidingWindows | SessionWindows): TimeWindowedKStream<K, V> | SessionWindowedKStream<K, V> {
    const input = (name: string): KStream<K, V> => this.aggregationInput(name);
    if (windows instanceof SessionWindows) return new SessionWindowedKStream<K, V>(this.topology, input, this.options, windows);
    if (windows instanceof TimeWindows || windows instanceof SlidingWindows) return new TimeWindowedKStream<K, V>(this.topology, input, this.options, windows);
    throw new TypeError('windowedBy() takes TimeWindows, SlidingWindows or SessionWindows');
  }

  private materialise<A>(name: string, valueSerde: Serde<A>, next: (current: A | null, record: StreamRecord<K, V>) => A | null): KTable<K, A> {
    const input = this.aggregationInput(name);
    const nodeId = this.topology.addStatefulNode(
      input.nodeId,
      { name, keySerde: this.options.key as Serde<unknown>, valueSerde: valueSerde as Serde<unknown> },
      ([parent], context) => (parent as Observable<StreamRecord<K, V>>).pipe(aggregateByKey<K, V, A>(context, name, next, (record) => record.value === null)),
    );
    return new KTable<K, A>(this.topology, nodeId, name);
  }

  /** The stream an aggregation named `name` reads: after `groupBy`, through its repartition topic. */
  private aggregationInput(name: string): KStream<K, V> {
    if (typeof name !== 'string' || name.length === 0) throw new RangeError('a stateful step needs a name: { name: "..." } names its store and changelog topic');
    let input = this.stream;
    if (this.rekey !== undefined) {
      const { selector } = this.rekey;
      input = (this.stream as unknown as KStream<unknown, V>).selectKey((record) => selector(record)).repartition({
        key: this.options.key,
        value: this.options.value,
        name: this.rekey.name ?? name,
        ...(this.rekey.partitions !== undefined ? { partitions: this.rekey.partitions } : {}),
      });
    }
    return input;
  }
}
