import { ignoreElements, merge, type Observable } from 'rxjs';
import { bytesSerde } from '../../serde/bytes-serde.js';
import type { Serde } from '../../serde/serde.js';
import type { AnyRecord, Topology } from '../../topology/topology.js';
import type { GlobalKTable } from '../global-ktable.js';
import type { StreamRecord } from '../stream-record.js';
import type { JoinKind } from './join-kind.js';
import type { JoinWindows } from './join-windows.js';
import { streamGlobalTableJoin } from './stream-global-table-join.js';
import { streamStreamJoin } from './stream-stream-join.js';
import { streamTableJoin } from './stream-table-join.js';
import { tableTableJoin } from './table-table-join.js';

/**
 * The topology nodes behind `KStream.join`/`leftJoin`/`outerJoin` and `KTable.join`/…: each adds
 * one node (parents: both sides, so that they share a sub-topology and its tasks) and declares the
 * co-partitioning the app checks at start. `KStream`/`KTable` wrap the returned node id.
 */

/** Options of a stream–stream join: its buffer store's name and the serdes it stores with. */
export interface StreamJoinOptions<K, V, VO> {
  /** Names the join buffer store and its changelog topic `<applicationId>-<name>-changelog`. */
  readonly name: string;
  readonly key: Serde<K>;
  /** This stream's values, as buffered. */
  readonly value: Serde<V>;
  /** The other stream's values, as buffered. */
  readonly otherValue: Serde<VO>;
}

/** Options of a table–table join: the joined table is materialised in the store `name`. */
export interface TableJoinOptions<VR> {
  readonly name: string;
  readonly value: Serde<VR>;
}

export function addStreamTableJoin(
  topology: Topology,
  streamNodeId: number,
  table: { readonly nodeId: number; readonly storeName: string | undefined },
  kind: 'inner' | 'left',
  joiner: (value: unknown, tableValue: unknown, record: StreamRecord<unknown, unknown>) => unknown,
): number {
  const tableStore = materialisedStore(table.storeName, 'a stream–table join');
  return topology.addJoinNode(
    [streamNodeId, table.nodeId],
    [],
    ([stream, tableChanges], context) =>
      merge(tableChanges!.pipe(ignoreElements()), (stream as Observable<AnyRecord>).pipe(streamTableJoin(context, tableStore, kind, joiner))),
    { description: `the stream–table join with the table "${tableStore}"`, sides: [streamNodeId, table.nodeId] },
  );
}

export function addStreamGlobalTableJoin(
  topology: Topology,
  streamNodeId: number,
  table: GlobalKTable<unknown, unknown>,
  keySelector: (record: StreamRecord<unknown, unknown>) => unknown,
  kind: 'inner' | 'left',
  joiner: (value: unknown, tableValue: unknown, record: StreamRecord<unknown, unknown>) => unknown,
): number {
  if (typeof keySelector !== 'function') throw new TypeError('a join with a global table needs a key selector: join(globalTable, (record) => key, joiner)');
  return topology.addNode([streamNodeId], ([stream]) =>
    (stream as Observable<AnyRecord>).pipe(streamGlobalTableJoin(table.replica, keySelector, kind, joiner)),
  );
}

export function addStreamStreamJoin(
  topology: Topology,
  leftNodeId: number,
  rightNodeId: number,
  kind: JoinKind,
  joiner: (left: unknown, right: unknown) => unknown,
  windows: JoinWindows,
  options: StreamJoinOptions<unknown, unknown, unknown>,
): number {
  if (windows === undefined || typeof windows.timeDifferenceMs !== 'number') {
    throw new TypeError('a stream–stream join needs a window: join(other, joiner, JoinWindows.ofTimeDifference(ms), { name, key, value, otherValue })');
  }
  if (options === undefined || options.key === undefined || options.value === undefined || options.otherValue === undefined) {
    throw new TypeError('a stream–stream join needs { name, key, value, otherValue }: the serdes its buffer stores records with');
  }
  const store = options.name;
  return topology.addJoinNode(
    [leftNodeId, rightNodeId],
    [{ name: store, keySerde: bytesSerde() as Serde<unknown>, valueSerde: bytesSerde() as Serde<unknown> }],
    ([left, right], context) =>
      streamStreamJoin(context, left!, right!, {
        store,
        kind,
        windows,
        serdes: { key: options.key, leftValue: options.value, rightValue: options.otherValue },
        joiner,
      }),
    { description: `the stream–stream join "${store}"`, sides: [leftNodeId, rightNodeId] },
  );
}

export function addTableTableJoin(
  topology: Topology,
  left: { readonly nodeId: number; readonly storeName: string | undefined },
  right: { readonly nodeId: number; readonly storeName: string | undefined },
  kind: JoinKind,
  joiner: (left: unknown, right: unknown) => unknown,
  options: TableJoinOptions<unknown>,
): number {
  const leftStore = materialisedStore(left.storeName, 'a table–table join');
  const rightStore = materialisedStore(right.storeName, 'a table–table join');
  if (options === undefined || options.value === undefined) throw new TypeError('a table–table join needs { name, value }: its result is materialised in the store "name"');
  const keySerde = topology.stores.find((spec) => spec.name === leftStore)!.keySerde;
  const stores = { left: leftStore, right: rightStore, joined: options.name };
  return topology.addJoinNode(
    [left.nodeId, right.nodeId],
    [{ name: options.name, keySerde, valueSerde: options.value }],
    ([leftChanges, rightChanges], context) => tableTableJoin(context, leftChanges!, rightChanges!, stores, kind, joiner),
    { description: `the table–table join "${options.name}"`, sides: [left.nodeId, right.nodeId] },
  );
}

function materialisedStore(storeName: string | undefined, what: string): string {
  if (storeName === undefined) {
    throw new TypeError(
      `${what} needs a materialised table (from app.table(), count, reduce, aggregate or a table join); tables from mapValues/filter are not materialised — join first, then map`,
    );
  }
  return storeName;
}
