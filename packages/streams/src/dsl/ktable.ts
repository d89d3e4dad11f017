import { map } from 'rxjs';
import type { Topology } from '../topology/topology.js';
import { KStream } from './kstream.js';
import type { StreamRecord } from './stream-record.js';

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
  ) {}

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
