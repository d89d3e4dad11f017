import type { Serde, SerdeContext } from '../../serde/serde.js';
import { readOrderedTimestamp, TIMESTAMP_BYTES, writeOrderedTimestamp } from '../../state/bytes.js';
import { encodeSegmentPrefix, windowSegmentId } from '../../state/window-key-layout.js';
import type { RunContext, StoreAccess } from '../../topology/topology.js';

/** A key range [from, to): an undefined bound is open. */
export interface KeyRange<K> {
  readonly from: K | undefined;
  readonly to: K | undefined;
}

/**
 * What the windowed steps share: their stores hold raw bytes (the steps lay out their own keys,
 * from `src/state/*-key-layout.ts`), and each store keeps the step's stream time under one
 * reserved key, so that lateness survives restarts (it is in the changelog like any write).
 *
 * The reserved key starts with eight 0xff bytes: above every window-layout segment, every
 * session key (a 4 GiB key length) and every suppress-buffer close time, so no range a step reads
 * or retention deletes reaches it.
 */
export const STREAM_TIME_KEY = Buffer.concat([Buffer.alloc(8, 0xff), Buffer.from('defter.stream-time', 'latin1')]);

/** The step's own stream time and the segment retention has dropped below (window layouts). */
export interface StepTime {
  streamTimeMs: number;
  droppedBelowSegment: number;
}

export function decodeStepTime(bytes: Buffer | null): StepTime {
  if (bytes === null || bytes.length !== 2 * TIMESTAMP_BYTES) return { streamTimeMs: Number.NEGATIVE_INFINITY, droppedBelowSegment: Number.NEGATIVE_INFINITY };
  return { streamTimeMs: readOrderedTimestamp(bytes, 0), droppedBelowSegment: readOrderedTimestamp(bytes, TIMESTAMP_BYTES) };
}

export function encodeStepTime(time: StepTime): Buffer {
  const bytes = Buffer.allocUnsafe(2 * TIMESTAMP_BYTES);
  writeOrderedTimestamp(bytes, 0, Number.isFinite(time.streamTimeMs) ? time.streamTimeMs : Number.MIN_SAFE_INTEGER);
  writeOrderedTimestamp(bytes, TIMESTAMP_BYTES, Number.isFinite(time.droppedBelowSegment) ? time.droppedBelowSegment : Number.MIN_SAFE_INTEGER);
  return bytes;
}

/** Serde contexts of a windowed store's keys and values (the store name stands for the topic). */
export function storeContexts(storeName: string): { readonly key: SerdeContext; readonly value: SerdeContext } {
  return { key: { topic: storeName, role: 'key' }, value: { topic: storeName, role: 'value' } };
}

export function keyBytesOf<K>(serde: Serde<K>, key: K, context: SerdeContext): Buffer {
  const bytes = serde.serialize(key, context);
  if (bytes === null) throw new RangeError(`store "${context.topic}": the key serde turned a key into null bytes`);
  return bytes;
}

/**
 * A step's synchronous view of its store. Writes are collected (reads see them) and applied after
 * `apply` returns, once the keys written but not preloaded — a merged session's new key — have
 * been preloaded too: the keys a batch writes are not all known before it runs.
 */
export interface StepView {
  get(key: Buffer): Buffer | null;
  put(key: Buffer, value: Buffer | null): void;
}

export interface StepStore {
  readonly access: StepView;
  /** Per range asked, the entries found (key order). */
  readonly found: ReadonlyArray<ReadonlyArray<{ readonly key: Buffer; readonly value: Buffer }>>;
  readonly time: StepTime;
}

/**
 * Runs a windowed step's batch in its store's turn: reads `ranges` (the sessions or records a
 * key has), preloads `keys`, the keys found and the stream-time key, then calls `apply`
 * synchronously. `moreRanges` (optional) asks for ranges that depend on the stored stream time.
 */
export async function inStepStore<R>(
  context: RunContext,
  storeName: string,
  keys: readonly Buffer[],
  ranges: ReadonlyArray<KeyRange<Buffer>>,
  apply: (store: StepStore) => R,
  moreRanges?: (time: StepTime) => ReadonlyArray<KeyRange<Buffer>>,
): Promise<R> {
  return context.exclusive([storeName], async (stores) => {
    const access = stores.get(storeName) as StoreAccess<Buffer, Buffer>;
    await access.preload([STREAM_TIME_KEY]);
    const time = decodeStepTime(access.get(STREAM_TIME_KEY));
    const floor = context.streamTimeFloorMs ?? Number.NEGATIVE_INFINITY;
    if (floor > time.streamTimeMs) time.streamTimeMs = floor;
    const allRanges = moreRanges === undefined ? ranges : [...ranges, ...moreRanges(time)];
    const found: Array<Array<{ key: Buffer; value: Buffer }>> = [];
    const preload: Buffer[] = [...keys];
    for (const range of allRanges) {
      const entries: Array<{ key: Buffer; value: Buffer }> = [];
      for await (const entry of access.range(range.from, range.to)) {
        entries.push({ key: entry.key, value: entry.value });
        preload.push(entry.key);
      }
      found.push(entries);
    }
    await access.preload(preload);
    const writes = new Map<string, { key: Buffer; value: Buffer | null }>();
    const view: StepView = {
      get: (key) => {
        const written = writes.get(key.toString('latin1'));
        return written !== undefined ? written.value : access.get(key);
      },
      put: (key, value) => {
        const id = key.toString('latin1');
        // Map order is first-write order; a key's last value wins.
        writes.delete(id);
        writes.set(id, { key, value });
      },
    };
    const result = apply({ access: view, found, time });
    view.put(STREAM_TIME_KEY, encodeStepTime(time));
    await access.preload([...writes.values()].map((write) => write.key));
    for (const { key, value } of writes.values()) access.put(key, value);
    return result;
  });
}

/** A store in the window layout (`src/state/window-key-layout.ts`) and the retention it keeps. */
export interface SegmentedStore {
  readonly storeName: string;
  readonly retentionMs: number;
  readonly segmentIntervalMs: number;
}

/**
 * `inStepStore` for a store in the window layout, with its retention: after `apply`, the segments
 * that start before stream time − retention are deleted, once each (the stored step time keeps
 * the segment retention has dropped below, so a restart does not delete them again).
 */
export async function inSegmentedStepStore<R>(
  context: RunContext,
  store: SegmentedStore,
  keys: readonly Buffer[],
  ranges: ReadonlyArray<KeyRange<Buffer>>,
  apply: (store: StepStore) => R,
): Promise<R> {
  let dropBelowSegment: number | undefined;
  const result = await inStepStore(context, store.storeName, keys, ranges, (step) => {
    const applied = apply(step);
    const { time } = step;
    const liveSegment = windowSegmentId(time.streamTimeMs - store.retentionMs, store.segmentIntervalMs);
    if (Number.isFinite(time.streamTimeMs) && liveSegment > time.droppedBelowSegment) {
      time.droppedBelowSegment = liveSegment;
      dropBelowSegment = liveSegment;
    }
    return applied;
  });
  if (dropBelowSegment !== undefined) await context.deleteBelow?.(store.storeName, encodeSegmentPrefix(dropBelowSegment));
  return result;
}
