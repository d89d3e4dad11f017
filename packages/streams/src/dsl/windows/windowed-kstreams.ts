import type { Observable, OperatorFunction } from 'rxjs';
import { bytesSerde } from '../../serde/bytes-serde.js';
import { float64Serde } from '../../serde/number-serdes.js';
import type { Serde } from '../../serde/serde.js';
import type { RunContext, Topology } from '../../topology/topology.js';
import type { GroupedOptions, StoreNameOptions } from '../kgrouped-stream.js';
import type { KStream } from '../kstream.js';
import { KTable } from '../ktable.js';
import { sessionWindowAggregate } from '../operators/session-window-aggregate.js';
import { slidingWindowAggregate } from '../operators/sliding-window-aggregate.js';
import { timeWindowAggregate } from '../operators/time-window-aggregate.js';
import type { SegmentedStore } from '../operators/window-step.js';
import type { StreamRecord } from '../stream-record.js';
import type { WindowedTableInfo } from './suppressed.js';
import { SessionWindows, SlidingWindows, TimeWindows, type WindowBounds, type Windowed } from './windows.js';

export interface WindowedStoreOptions extends StoreNameOptions {
  /** How long windows stay in the store; at least (and by default) what the window size and grace need. */
  readonly retentionMs?: number;
}

export interface WindowedAggregateOptions<A> extends WindowedStoreOptions {
  /** The aggregate's serde (store, changelog, suppress buffer). */
  readonly value: Serde<A>;
}

/** Retention drops whole segments of this span (Kafka Streams' default). */
function segmentIntervalFor(retentionMs: number): number {
  return Math.max(Math.floor(retentionMs / 2), 60_000);
}

function retentionFor(neededMs: number, asked: number | undefined): number {
  if (asked !== undefined && !(Number.isSafeInteger(asked) && asked >= 0)) throw new RangeError(`retentionMs must be a non-negative integer, got ${String(asked)}`);
  return Math.max(neededMs, asked ?? 0);
}

/** The window-layout store of the step `name`: it keeps `neededMs`, or the retention asked if longer. */
function segmentedStore(name: string, neededMs: number, askedRetentionMs: number | undefined): SegmentedStore {
  const retentionMs = retentionFor(neededMs, askedRetentionMs);
  return { storeName: name, retentionMs, segmentIntervalMs: segmentIntervalFor(retentionMs) };
}

type Fold<K, V, A> = (current: A | null, key: K, value: V) => A;
type BuildStep<K, V, A> = (context: RunContext) => OperatorFunction<StreamRecord<K, V>, StreamRecord<Windowed<K>, A>>;

function addWindowedStep<K, V, A>(
  topology: Topology,
  input: KStream<K, V>,
  name: string,
  info: Omit<WindowedTableInfo, 'storeName' | 'keySerde'> & { readonly keySerde: Serde<K> },
  build: BuildStep<K, V, A>,
): KTable<Windowed<K>, A> {
  const nodeId = topology.addStatefulNode(input.nodeId, { name, keySerde: bytesSerde() as Serde<unknown>, valueSerde: bytesSerde() as Serde<unknown> }, ([parent], context) =>
    (parent as Observable<StreamRecord<K, V>>).pipe(build(context)),
  );
  return new KTable<Windowed<K>, A>(topology, nodeId, name, { storeName: name, keySerde: info.keySerde as Serde<unknown>, valueSerde: info.valueSerde, closesAfterMs: info.closesAfterMs });
}

const skipNullValues = (record: StreamRecord<unknown, unknown>): boolean => record.value === null;

/**
 * A grouped stream with tumbling, hopping (`TimeWindows`) or sliding (`SlidingWindows`) windows:
 * its aggregations give a `KTable<Windowed<K>, A>` whose changes are emitted per update (a
 * window's aggregate each time a record lands in it), or once per window after `suppress`.
 */
export class TimeWindowedKStream<K, V> {
  /** @internal */
  constructor(
    private readonly topology: Topology,
    private readonly input: (name: string) => KStream<K, V>,
    private readonly grouped: GroupedOptions<K, V>,
    readonly windows: TimeWindows | SlidingWindows,
  ) {}

  count(options: WindowedStoreOptions): KTable<Windowed<K>, number> {
    return this.materialise<number>(options, float64Serde(), (current) => (current ?? 0) + 1);
  }

  reduce(reducer: (aggregate: V, value: V) => V, options: WindowedStoreOptions): KTable<Windowed<K>, V> {
    return this.materialise<V>(options, this.grouped.value, (current, _key, value) => (current === null ? value : reducer(current, value)));
  }

  aggregate<A>(initializer: () => A, adder: (key: K, value: V, aggregate: A) => A, options: WindowedAggregateOptions<A>): KTable<Windowed<K>, A> {
    if (options.value === undefined) throw new RangeError('aggregate() needs a value serde for its store: { name, value }');
    return this.materialise<A>(options, options.value, (current, key, value) => adder(key, value, current ?? initializer()));
  }

  private materialise<A>(options: WindowedStoreOptions, aggregateSerde: Serde<A>, next: Fold<K, V, A>): KTable<Windowed<K>, A> {
    const name = options.name;
    const input = this.input(name);
    const windows = this.windows;
    const closesAfterMs = (window: WindowBounds): number => windows.closesAfterMs(window);
    const info = { keySerde: this.grouped.key, valueSerde: aggregateSerde as Serde<unknown>, closesAfterMs };
    const fold = { keySerde: this.grouped.key, next, skip: skipNullValues };
    if (windows instanceof TimeWindows) {
      const store = segmentedStore(name, windows.sizeMs + windows.graceMs, options.retentionMs);
      return addWindowedStep<K, V, A>(this.topology, input, name, info, (context) => timeWindowAggregate<K, V, A>(context, { ...store, ...fold, windows, aggregateSerde }));
    }
    // A sliding record is needed until its own right window [t + 1, t + 1 + d] closes.
    const store = segmentedStore(name, windows.timeDifferenceMs + windows.graceMs + 2, options.retentionMs);
    return addWindowedStep<K, V, A>(this.topology, input, name, info, (context) => slidingWindowAggregate<K, V, A>(context, { ...store, ...fold, windows, valueSerde: this.grouped.value }));
  }
}

/**
 * A grouped stream with session windows: aggregations merge the sessions a record bridges (with
 * `merger` for `aggregate`) and emit a delete (null) for every session merged away, as Kafka does.
 */
export class SessionWindowedKStream<K, V> {
  /** @internal */
  constructor(
    private readonly topology: Topology,
    private readonly input: (name: string) => KStream<K, V>,
    private readonly grouped: GroupedOptions<K, V>,
    readonly windows: SessionWindows,
  ) {}

  count(options: WindowedStoreOptions): KTable<Windowed<K>, number> {
    return this.materialise<number>(options, float64Serde(), () => 0, (current) => (current ?? 0) + 1, (current, _key, other) => (current ?? 0) + other);
  }

  reduce(reducer: (aggregate: V, value: V) => V, options: WindowedStoreOptions): KTable<Windowed<K>, V> {
    return this.materialise<V>(
      options,
      this.grouped.value,
      () => null,
      (current, _key, value) => (current === null ? value : reducer(current, value)),
      (current, _key, other) => (current === null ? other : reducer(current, other)),
    );
  }

  aggregate<A>(initializer: () => A, adder: (key: K, value: V, aggregate: A) => A, merger: (key: K, aggregate: A, other: A) => A, options: WindowedAggregateOptions<A>): KTable<Windowed<K>, A> {
    if (options.value === undefined) throw new RangeError('aggregate() needs a value serde for its store: { name, value }');
    return this.materialise<A>(
      options,
      options.value,
      initializer,
      (current, key, value) => adder(key, value, current ?? initializer()),
      (current, key, other) => merger(key, current ?? initializer(), other),
    );
  }

  private materialise<A>(
    options: WindowedStoreOptions,
    aggregateSerde: Serde<A>,
    initial: () => A | null,
    add: (aggregate: A | null, key: K, value: V) => A,
    merge: (aggregate: A | null, key: K, other: A) => A,
  ): KTable<Windowed<K>, A> {
    const name = options.name;
    const input = this.input(name);
    const windows = this.windows;
    const retentionMs = retentionFor(windows.inactivityGapMs + windows.graceMs, options.retentionMs);
    const info = { keySerde: this.grouped.key, valueSerde: aggregateSerde as Serde<unknown>, closesAfterMs: (window: WindowBounds) => windows.closesAfterMs(window) };
    return addWindowedStep<K, V, A>(this.topology, input, name, info, (context) =>
      sessionWindowAggregate<K, V, A>(context, {
        storeName: name,
        windows,
        retentionMs,
        keySerde: this.grouped.key,
        aggregateSerde,
        initial,
        add,
        merge,
        skip: skipNullValues,
      }),
    );
  }
}
