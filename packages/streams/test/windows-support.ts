/**
 * Shared by the window tests: the window specifications they use and reference results computed
 * with plain loops over the records in arrival order (no code shared with the operators).
 */
export interface TimedRecord {
  readonly key: string;
  readonly timestampMs: number;
  readonly value: number;
}

export interface Reference {
  /** `<key>@<startMs>/<endMs>` → aggregate, for every window that holds a record at the end. */
  readonly table: Map<string, number>;
  readonly late: number;
}

const windowId = (key: string, startMs: number, endMs: number): string => `${key}@${startMs}/${endMs}`;

/** Tumbling/hopping windows [s, s + size), s a non-negative multiple of `advanceMs`; sum (or count with `count`). */
export function timeWindowsReference(records: readonly TimedRecord[], sizeMs: number, advanceMs: number, graceMs: number, count: boolean): Reference {
  const table = new Map<string, number>();
  let streamTimeMs = Number.NEGATIVE_INFINITY;
  let late = 0;
  for (const record of records) {
    const t = record.timestampMs;
    streamTimeMs = Math.max(streamTimeMs, t);
    let missed = false;
    for (let start = Math.floor(t / advanceMs) * advanceMs; start > t - sizeMs; start -= advanceMs) {
      if (start < 0) continue;
      if (streamTimeMs > start + sizeMs - 1 + graceMs) {
        missed = true;
        continue;
      }
      const id = windowId(record.key, start, start + sizeMs);
      table.set(id, (table.get(id) ?? 0) + (count ? 1 : record.value));
    }
    if (missed) late += 1;
  }
  return { table, late };
}

/** Sliding windows [s, s + d] (KIP-450): the left window of every record, the right window of a record with a successor within d; counts. */
export function slidingWindowsReference(records: readonly TimedRecord[], differenceMs: number, graceMs: number): Reference {
  const accepted = new Map<string, number[]>();
  let streamTimeMs = Number.NEGATIVE_INFINITY;
  let late = 0;
  for (const record of records) {
    streamTimeMs = Math.max(streamTimeMs, record.timestampMs);
    if (streamTimeMs > record.timestampMs + graceMs) {
      late += 1;
      continue;
    }
    const times = accepted.get(record.key) ?? [];
    times.push(record.timestampMs);
    accepted.set(record.key, times);
  }
  const table = new Map<string, number>();
  for (const [key, times] of accepted) {
    const starts = new Set<number>();
    for (const t of times) {
      starts.add(t - differenceMs);
      if (times.some((u) => u > t && u <= t + differenceMs)) starts.add(t + 1);
    }
    for (const start of starts) table.set(windowId(key, start, start + differenceMs), times.filter((t) => t >= start && t <= start + differenceMs).length);
  }
  return { table, late };
}

/** Session windows by simulation in arrival order (merge what the record bridges; late when stream time passed the merged end + grace); counts. */
export function sessionWindowsReference(records: readonly TimedRecord[], gapMs: number, graceMs: number): Reference {
  const sessions = new Map<string, Array<{ start: number; end: number; count: number }>>();
  let streamTimeMs = Number.NEGATIVE_INFINITY;
  let late = 0;
  for (const record of records) {
    const t = record.timestampMs;
    streamTimeMs = Math.max(streamTimeMs, t);
    const list = sessions.get(record.key) ?? [];
    const bridged = list.filter((session) => session.end >= t - gapMs && session.start <= t + gapMs);
    let start = t;
    let end = t;
    let count = 1;
    for (const session of bridged) {
      start = Math.min(start, session.start);
      end = Math.max(end, session.end);
      count += session.count;
    }
    if (streamTimeMs > end + graceMs) {
      late += 1;
      continue;
    }
    sessions.set(record.key, [...list.filter((session) => !bridged.includes(session)), { start, end, count }]);
  }
  const table = new Map<string, number>();
  for (const [key, list] of sessions) for (const session of list) table.set(windowId(key, session.start, session.end), session.count);
  return { table, late };
}

/** Sessions without lateness: the key's sorted times split where two neighbours are more than the gap apart. */
export function sessionClusters(records: readonly TimedRecord[], gapMs: number): Map<string, number> {
  const byKey = new Map<string, number[]>();
  for (const record of records) byKey.set(record.key, [...(byKey.get(record.key) ?? []), record.timestampMs]);
  const table = new Map<string, number>();
  for (const [key, times] of byKey) {
    times.sort((a, b) => a - b);
    let start = times[0]!;
    let count = 0;
    for (let index = 0; index < times.length; index += 1) {
      count += 1;
      const next = times[index + 1];
      if (next === undefined || next - times[index]! > gapMs) {
        table.set(windowId(key, start, times[index]!), count);
        if (next !== undefined) start = next;
        count = 0;
      }
    }
  }
  return table;
}
