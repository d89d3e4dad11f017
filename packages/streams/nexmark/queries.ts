/**
 * The NEXMark queries, written with the DSL as a user would, over the stream of every event
 * (`nexmark-events`, keyed by `eventKey`). Each query also names its per-event transform (`apply`):
 * the baselines and the peers run exactly that function, so every row does the same work.
 *
 * q0–q2 are stateless (here). q3, q5 and q8 are stateful (`stateful-queries.ts`: topologies only).
 * The rest are not written yet or need what the DSL lacks: `PENDING_QUERIES` says so, query by
 * query, and the bench prints it instead of a number.
 */
import type { KStream } from '../src/index.js';
import type { BidEvent, NexmarkEvent } from './model.js';

/** q0's output: the bid's columns as Flink's q0 selects them (auction, bidder, price, dateTime, extra). */
export interface PassThroughBid {
  readonly auction: number;
  readonly bidder: number;
  readonly price: number;
  readonly dateTime: number;
  readonly extra: string;
}

/** q1's output: q0's columns with the price in euros, to three decimals (Flink's DECIMAL(23, 3)). */
export type EuroBid = PassThroughBid;

/** q2's output. */
export interface SelectedBid {
  readonly auction: number;
  readonly price: number;
}

export const DOLLARS_TO_EUROS = 0.908;
/** q2 keeps the bids on auctions whose id is a multiple of this. */
export const Q2_AUCTION_MODULUS = 123;

export type StatelessQueryName = 'q0' | 'q1' | 'q2';
export type StatefulQueryName = 'q3' | 'q5' | 'q8';
export type QueryName = StatelessQueryName | StatefulQueryName;

/** What the app row runs: a query as a topology. */
export interface NexmarkTopology<R> {
  readonly name: QueryName;
  /** What it computes, in a few words. */
  readonly title: string;
  /** The query as a topology: events in, results out, keyed by a string. */
  build(events: KStream<string, NexmarkEvent>): KStream<string, R>;
}

/** A stateless query: a topology (the key is the input's) and the same work as one function per event. */
export interface NexmarkQuery<R> extends NexmarkTopology<R> {
  readonly name: StatelessQueryName;
  /** The same query on one event: its result, or undefined when it yields none. */
  apply(event: NexmarkEvent): R | undefined;
}

function asBid(event: NexmarkEvent | null): BidEvent {
  if (event?.kind !== 'bid') throw new TypeError(`expected a bid, got ${event === null ? 'a tombstone' : `a ${event.kind}`}`);
  return event;
}

const isBid = (event: NexmarkEvent | null): event is BidEvent => event?.kind === 'bid';

export function passThrough(bid: BidEvent): PassThroughBid {
  return { auction: bid.auction, bidder: bid.bidder, price: bid.price, dateTime: bid.dateTime, extra: bid.extra };
}

/** Cents × 0.908, rounded to three decimals: exact decimal arithmetic, as a DECIMAL column would give. */
export function inEuros(bid: BidEvent): EuroBid {
  return { auction: bid.auction, bidder: bid.bidder, price: Math.round(bid.price * DOLLARS_TO_EUROS * 1000) / 1000, dateTime: bid.dateTime, extra: bid.extra };
}

export const isSelectedAuction = (bid: BidEvent): boolean => bid.auction % Q2_AUCTION_MODULUS === 0;

export const q0: NexmarkQuery<PassThroughBid> = {
  name: 'q0',
  title: 'pass-through (every bid)',
  build: (events) => events.filter((record) => isBid(record.value)).mapValues((event) => passThrough(asBid(event))),
  apply: (event) => (isBid(event) ? passThrough(event) : undefined),
};

export const q1: NexmarkQuery<EuroBid> = {
  name: 'q1',
  title: 'currency conversion (price × 0.908)',
  build: (events) => events.filter((record) => isBid(record.value)).mapValues((event) => inEuros(asBid(event))),
  apply: (event) => (isBid(event) ? inEuros(event) : undefined),
};

export const q2: NexmarkQuery<SelectedBid> = {
  name: 'q2',
  title: 'selection (auction % 123 = 0)',
  build: (events) =>
    events
      .filter((record) => isBid(record.value) && isSelectedAuction(record.value))
      .mapValues((event) => {
        const bid = asBid(event);
        return { auction: bid.auction, price: bid.price };
      }),
  apply: (event) => (isBid(event) && isSelectedAuction(event) ? { auction: event.auction, price: event.price } : undefined),
};

export const STATELESS_QUERIES = [q0, q1, q2] as const;

export interface PendingQuery {
  readonly name: string;
  readonly title: string;
  /** What the DSL lacks for it. */
  readonly needs: string;
}

/** The queries not measured yet, and what each needs. */
export const PENDING_QUERIES: readonly PendingQuery[] = [
  {
    name: 'q4',
    title: 'average price per category',
    needs:
      'the winning bid per closed auction (an auction ⋈ bid join kept to bids before expiry, then a max that is final only at expiry), then an average per category over those finals: the DSL has no KTable.groupBy with a subtractor, so the running maxes would each count; not written yet',
  },
  { name: 'q6', title: 'average selling price by seller', needs: "q4's winning bids per closed auction, then an `aggregate` over each seller's last 10 (expressible once q4's first stage is); not written yet" },
  {
    name: 'q7',
    title: 'highest bid per window',
    needs: 'a global max per tumbling window (one key, through a repartition topic): exact only with suppress(untilWindowCloses()) and a grace that covers how the partitions interleave; not written yet',
  },
  { name: 'q11', title: 'user sessions', needs: 'session windows over bids re-keyed by bidder (expressible: SessionWindows); not written yet' },
  { name: 'q12', title: 'processing-time windows', needs: 'processing-time windows' },
];

/** Apache Flink's published NEXMark throughput per core (8 task managers, RocksDB state), events/s. */
export const FLINK_EVENTS_PER_SECOND_PER_CORE: Readonly<Record<string, number>> = {
  q0: 155_000,
  q1: 158_000,
  q2: 175_000,
  q4: 34_000,
  q5: 22_000,
  q7: 12_300,
  q8: 146_000,
  q11: 39_700,
};
