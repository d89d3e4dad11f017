/**
 * The queries' expected outputs, computed with plain loops over the generated events — written
 * apart from `queries.ts` (no shared code) so that a mistake in one shows up as a difference.
 * Results are grouped by their record key (the input's key) in input order: whatever partitioner
 * a client uses, one key's records stay in one partition, in order.
 */
import type { NexmarkEvent } from './model.js';
import type { QueryName } from './queries.js';

export interface ReferenceOutput {
  readonly count: number;
  /** Results per record key, in input order. */
  readonly byKey: ReadonlyMap<string, readonly unknown[]>;
}

export function referenceOutput(query: QueryName, events: readonly NexmarkEvent[]): ReferenceOutput {
  const byKey = new Map<string, unknown[]>();
  let count = 0;
  for (const event of events) {
    if (event.kind !== 'bid') continue;
    let value: unknown;
    if (query === 'q0') {
      value = { auction: event.auction, bidder: event.bidder, price: event.price, dateTime: event.dateTime, extra: event.extra };
    } else if (query === 'q1') {
      // 0.908 × cents to three decimals, in whole thousandths: price × 908 is exact.
      value = { auction: event.auction, bidder: event.bidder, price: (event.price * 908) / 1000, dateTime: event.dateTime, extra: event.extra };
    } else {
      if (event.auction % 123 !== 0) continue;
      value = { auction: event.auction, price: event.price };
    }
    // A bid's record key is its auction id.
    const key = String(event.auction);
    let results = byKey.get(key);
    if (results === undefined) byKey.set(key, (results = []));
    results.push(value);
    count += 1;
  }
  return { count, byKey };
}
