import type { Observable } from 'rxjs';
import { bytesSerde } from '../../serde/bytes-serde.js';
import type { Serde } from '../../serde/serde.js';
import type { Topology } from '../../topology/topology.js';
import { suppressUntilWindowCloses } from '../operators/suppress-until-window-closes.js';
import type { StreamRecord } from '../stream-record.js';
import type { WindowBounds, Windowed } from './windows.js';

/** `suppress(untilWindowCloses())`: one final result per window, emitted when it closes. */
export interface Suppressed {
  readonly kind: 'until-window-closes';
  /** The buffer's store (and changelog) name; default `<table store>-suppress`. */
  readonly name: string | undefined;
}

export function untilWindowCloses(options: { readonly name?: string } = {}): Suppressed {
  return { kind: 'until-window-closes', name: options.name };
}

/**
 * What a windowed aggregation's table knows that `suppress` needs: its store, its serdes and
 * when a window closes.
 * @internal
 */
export interface WindowedTableInfo {
  readonly storeName: string;
  readonly keySerde: Serde<unknown>;
  readonly valueSerde: Serde<unknown>;
  readonly closesAfterMs: (window: WindowBounds) => number;
}

/** Adds the suppress step after `parentNodeId`; returns its node id and store name. @internal */
export function addSuppress(topology: Topology, parentNodeId: number, info: WindowedTableInfo, suppressed: Suppressed): { nodeId: number; storeName: string } {
  if (suppressed?.kind !== 'until-window-closes') throw new TypeError('suppress() takes untilWindowCloses()');
  const storeName = suppressed.name ?? `${info.storeName}-suppress`;
  const nodeId = topology.addStatefulNode(parentNodeId, { name: storeName, keySerde: bytesSerde() as Serde<unknown>, valueSerde: bytesSerde() as Serde<unknown> }, ([parent], context) =>
    (parent as Observable<StreamRecord<Windowed<unknown>, unknown>>).pipe(
      suppressUntilWindowCloses(context, { storeName, keySerde: info.keySerde, valueSerde: info.valueSerde, closesAfterMs: info.closesAfterMs }),
    ),
  );
  return { nodeId, storeName };
}
