/**
 * Shared by the join tests: seeded inputs and the plain-loop references each join is checked against.
 */
import { seededRandom } from './stateful-support.js';

export interface SideRecord {
  readonly side: 'L' | 'R';
  readonly key: string;
  readonly value: string;
  readonly timestamp: number;
}

export interface JoinOutput {
  readonly key: string | null;
  readonly value: string | null;
  readonly timestamp?: number;
}

/** A joined value, as the tests' joiners write it. */
export function joinText(left: string | null, right: string | null): string {
  return `${left ?? 'null'}+${right ?? 'null'}`;
}

/**
 * Records of both sides for `keys` keys, timestamps moving forward with jitter of up to `jitterMs`
 * backwards (out of order), in the order they are to be written.
 */
export function sideRecords(count: number, seed: number, options: { keys: number; startMs: number; stepMs: number; jitterMs: number }): SideRecord[] {
  const random = seededRandom(seed);
  let clockMs = options.startMs;
  return Array.from({ length: count }, (_, index) => {
    clockMs += Math.floor(random() * options.stepMs);
    return {
      side: random() < 0.5 ? 'L' : 'R',
      key: `k${Math.floor(random() * options.keys)}`,
      value: `v${index}`,
      timestamp: clockMs - Math.floor(random() * options.jitterMs),
    };
  });
}

/**
 * The stream–stream join by plain loops over one task's records in processing order: a record
 * older than stream time − grace is dropped; others join every earlier record of the other side
 * and key within ±timeDifference; at the end, records whose window closed (stream time >
 * timestamp + timeDifference + grace) and never matched are emitted by left (left side) and outer
 * (both) joins.
 */
export function streamStreamReference(
  records: readonly SideRecord[],
  kind: 'inner' | 'left' | 'outer',
  timeDifferenceMs: number,
  graceMs: number,
): JoinOutput[] {
  let streamTimeMs = Number.MIN_SAFE_INTEGER;
  const buffered: Array<SideRecord & { matched: boolean }> = [];
  const outputs: JoinOutput[] = [];
  for (const record of records) {
    if (record.timestamp < streamTimeMs - graceMs) continue;
    streamTimeMs = Math.max(streamTimeMs, record.timestamp);
    const own = { ...record, matched: false };
    for (const other of buffered) {
      if (other.side === record.side || other.key !== record.key || Math.abs(other.timestamp - record.timestamp) > timeDifferenceMs) continue;
      const [left, right] = record.side === 'L' ? [record.value, other.value] : [other.value, record.value];
      outputs.push({ key: record.key, value: joinText(left, right), timestamp: Math.max(record.timestamp, other.timestamp) });
      other.matched = true;
      own.matched = true;
    }
    buffered.push(own);
  }
  for (const record of buffered) {
    const closed = streamTimeMs > record.timestamp + timeDifferenceMs + graceMs;
    const emits = kind === 'outer' || (kind === 'left' && record.side === 'L');
    if (!closed || record.matched || !emits) continue;
    outputs.push({ key: record.key, value: record.side === 'L' ? joinText(record.value, null) : joinText(null, record.value), timestamp: record.timestamp });
  }
  return outputs;
}

/** How many of one task's records (in processing order) are late: older than stream time − grace. */
export function lateRecords(records: readonly SideRecord[], graceMs: number): number {
  let streamTimeMs = Number.MIN_SAFE_INTEGER;
  let late = 0;
  for (const record of records) {
    if (record.timestamp < streamTimeMs - graceMs) late += 1;
    else streamTimeMs = Math.max(streamTimeMs, record.timestamp);
  }
  return late;
}

/** Outputs as sorted strings: the multiset compared (order across keys is not defined). */
export function canonical(outputs: readonly JoinOutput[], withTimestamp = true): string[] {
  return outputs.map((output) => `${output.key}|${output.value}${withTimestamp ? `|${output.timestamp}` : ''}`).sort();
}
