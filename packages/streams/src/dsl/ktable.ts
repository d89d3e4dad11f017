import { map } from 'rxjs';
import type { Topology } from '../topology/topology.js';
import { KStream } from './kstream.js';
import type { StreamRecord } from './stream-record.js';
import { addSuppress, type Suppressed, type WindowedTableInfo } from './windows/suppressed.js';
import type { JoinKind } from './joins/join-kind.js';
import { addTableTableJoin, type TableJoinOptions } from './joins/join-nodes.js';

/**
 * A table: the latest value per key, as a stream of changes. Every update reaches downstream as a
 * record (key, new value), a deleted key as a null value (emit-on-update: each update is
 * forwarded as it is applied, no de-duplication per commit; see the README).
 *
 * Tables from `count`/`reduce`/`aggregate`/`app.table` are materialised in a store (`storeName`,
 * queryable with `app.store(name)`); `mapValues` and `filter` derive unmaterialised tables.
 */
export class KTable<K, V> {
  /** @internal */
  constructor(
    private readonly topology: Topology,
    /** @internal */
    readonly nodeId: number,
    /** The store that holds this table, when it is materialised. */
    readonly storeName: string | undefined,
    /** @internal Set on the table of a windowed aggregation: what `suppress` needs. */
    private readonly windowing?: WindowedTableInfo,
  ) {}

  /**
   * `suppress(untilWindowCloses())` on a windowed aggregation's table: each window's final result,
   * once, when stream time passes its end + grace (see the README, "Windows").
   */
  suppress(suppressed: Suppressed): KTable<K, V> {
    if (this.windowing === undefined) throw new TypeError('suppress(untilWindowCloses()) applies to the table of a windowed aggregation (windowedBy(...).count/reduce/aggregate)');
    const { nodeId, storeName } = addSuppress(this.topology, this.nodeId, this.windowing, suppressed);
    return new KTable<K, V>(this.topology, nodeId, storeName);
  }

  /** The table's changes as a stream: one record per update, a null value for a deleted key. */
  toStream(): KStream<K, V> {
    return new KStream<K, V>(this.topology, this.nodeId);
  }

  /** A table of mapped values; a deleted key stays deleted (the mapper never sees null). */
  mapValues<V2>(mapper: (value: V, record: StreamRecord<K, V>) => V2): KTable<K, V2> {
    const nodeId = this.topology.addNode([this.nodeId], ([input]) =>
      input!.pipe(
        map((entry) => {
          const record = entry as StreamRecord<K, V>;
          return { ...record, value: record.value === null ? null : mapper(record.value, record) };
        }),
      ),
    );
    return new KTable<K, V2>(this.topology, nodeId, undefined);
  }

  /**
   * Table–table join (both tables materialised and co-partitioned): an update of either side
   * joins with the other's current value; the result is materialised in the store `name` and
   * emitted on every change, a row that stops matching as a delete (see the README, "Joins").
   */
  join<VO, VR>(other: KTable<K, VO>, joiner: (value: V, otherValue: VO) => VR, options: TableJoinOptions<VR>): KTable<K, VR> {
    return this.joinOf('inner', other, joiner as (value: V | null, otherValue: VO | null) => VR, options);
  }

  /** As `join`, with a row for every key of this table (the other side may be null). */
  leftJoin<VO, VR>(other: KTable<K, VO>, joiner: (value: V, otherValue: VO | null) => VR, options: TableJoinOptions<VR>): KTable<K, VR> {
    return this.joinOf('left', other, joiner as (value: V | null, otherValue: VO | null) => VR, options);
  }

  /** As `join`, with a row for every key of either table (one side may be null). */
  outerJoin<VO, VR>(other: KTable<K, VO>, joiner: (value: V | null, otherValue: VO | null) => VR, options: TableJoinOptions<VR>): KTable<K, VR> {
    return this.joinOf('outer', other, joiner, options);
  }

  private joinOf<VO, VR>(kind: JoinKind, other: KTable<K, VO>, joiner: (value: V | null, otherValue: VO | null) => VR, options: TableJoinOptions<VR>): KTable<K, VR> {
    if (!(other instanceof KTable) || other.topology !== this.topology) throw new TypeError('a table join takes a KTable of the same app');
    const nodeId = addTableTableJoin(this.topology, this, other, kind, joiner as (left: unknown, right: unknown) => unknown, options as TableJoinOptions<unknown>);
    return new KTable<K, VR>(this.topology, nodeId, options.name);
  }

  /**
   * The rows that satisfy `predicate`: an update that does not is forwarded as a delete (null), so
   * a key that stops matching leaves the derived table, as in Kafka Streams.
   */
  filter(predicate: (record: StreamRecord<K, V> & { readonly value: V }) => boolean): KTable<K, V> {
    const nodeId = this.topology.addNode([this.nodeId], ([input]) =>
      input!.pipe(
        map((entry) => {
          const record = entry as StreamRecord<K, V>;
          if (record.value === null) return record;
          return predicate(record as StreamRecord<K, V> & { readonly value: V }) ? record : { ...record, value: null };
        }),
      ),
    );
    return new KTable<K, V>(this.topology, nodeId, undefined);
  }
}
