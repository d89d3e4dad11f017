/**
 * The queries' expected outputs, computed with plain loops over the generated events — written
 * apart from `queries.ts` (no shared code) so that a mistake in one shows up as a difference.
 * Results are grouped by their record key in input order: whatever partitioner a client uses, one
 * key's records stay in one partition, in order. (The joins' outputs for one key may come in
 * another order — the two sides meet in batch-arrival order — which the check tells apart from a
 * wrong result.)
 */
import type { NexmarkEvent, PersonEvent } from './model.js';
import type { QueryName } from './queries.js';

export interface ReferenceOutput {
  readonly count: number;
  /** Results per record key, in input order. */
  readonly byKey: ReadonlyMap<string, readonly unknown[]>;
}

export function referenceOutput(query: QueryName, events: readonly NexmarkEvent[]): ReferenceOutput {
  switch (query) {
    case 'q0':
    case 'q1':
    case 'q2':
      return statelessReference(query, events);
    case 'q3':
      return localItemSuggestions(events);
    case 'q5':
      return bidsPerAuctionWindow(events);
    case 'q8':
      return newSellers(events);
  }
}

/** Collects results per key in the order they are pushed. */
class Results {
  readonly byKey = new Map<string, unknown[]>();
  count = 0;

  push(key: string, value: unknown): void {
    let results = this.byKey.get(key);
    if (results === undefined) this.byKey.set(key, (results = []));
    results.push(value);
    this.count += 1;
  }
}

function statelessReference(query: 'q0' | 'q1' | 'q2', events: readonly NexmarkEvent[]): ReferenceOutput {
  const results = new Results();
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
    results.push(String(event.auction), value);
  }
  return results;
}

/** q3: every auction of category 10 whose seller (anywhere in the run) lives in OR, ID or CA; keyed by the seller. */
function localItemSuggestions(events: readonly NexmarkEvent[]): ReferenceOutput {
  const sellers = new Map<number, PersonEvent>();
  for (const event of events) if (event.kind === 'person' && (event.state === 'OR' || event.state === 'ID' || event.state === 'CA')) sellers.set(event.id, event);
  const results = new Results();
  for (const event of events) {
    if (event.kind !== 'auction' || event.category !== 10) continue;
    const seller = sellers.get(event.seller);
    if (seller !== undefined) results.push(String(seller.id), { name: seller.name, city: seller.city, state: seller.state, id: event.id });
  }
  return results;
}

/** q5 (first stage): for each bid, the new count of its auction in each 10 s window (every 2 s) holding it, oldest window first. */
function bidsPerAuctionWindow(events: readonly NexmarkEvent[]): ReferenceOutput {
  const sizeMs = 10_000;
  const advanceMs = 2_000;
  const counts = new Map<string, number>();
  const results = new Results();
  for (const event of events) {
    if (event.kind !== 'bid') continue;
    const starts: number[] = [];
    for (let start = event.dateTime - (event.dateTime % advanceMs); start > event.dateTime - sizeMs && start >= 0; start -= advanceMs) starts.push(start);
    for (const start of starts.reverse()) {
      const key = `${event.auction}@${start}/${start + sizeMs}`;
      const bids = (counts.get(key) ?? 0) + 1;
      counts.set(key, bids);
      results.push(key, { auction: event.auction, startMs: start, bids });
    }
  }
  return results;
}

/** q8: each person who opened an auction in the 10 s tumbling window they registered in, once; keyed by the person. */
function newSellers(events: readonly NexmarkEvent[]): ReferenceOutput {
  const windowOf = (timestampMs: number) => Math.floor(timestampMs / 10_000) * 10_000;
  const persons = new Map<number, PersonEvent>();
  for (const event of events) if (event.kind === 'person') persons.set(event.id, event);
  const emitted = new Set<number>();
  const results = new Results();
  for (const event of events) {
    if (event.kind !== 'auction') continue;
    const person = persons.get(event.seller);
    if (person === undefined || emitted.has(person.id) || windowOf(person.dateTime) !== windowOf(event.dateTime)) continue;
    emitted.add(person.id);
    results.push(String(person.id), { id: person.id, name: person.name, startMs: windowOf(person.dateTime) });
  }
  return results;
}
