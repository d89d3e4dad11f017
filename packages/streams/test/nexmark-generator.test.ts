/**
 * The NEXMark generator against the reference generator's rules: the 1:3:46 proportions, dense
 * person and auction ids, event times from the event rate, references to existing (or up to ten
 * ahead) auctions and people, field ranges — and determinism from the seed. Also the event serde.
 */
import test from 'ava';
import { SerdeError } from '../src/index.js';
import { nexmarkEventSerde } from '../nexmark/event-serde.js';
import {
  CATEGORY_COUNT,
  FIRST_AUCTION_ID,
  FIRST_CATEGORY_ID,
  FIRST_PERSON_ID,
  HOT_ID_BLOCK,
  ID_LEAD,
  NexmarkGenerator,
  US_CITIES,
  US_STATES,
  kindOfEventId,
  lastBase0AuctionId,
  lastBase0PersonId,
  nexmarkConfig,
} from '../nexmark/generator.js';
import { eventKey, type NexmarkEvent } from '../nexmark/model.js';

const EVENTS = 50_000;
const context = { topic: 'nexmark-events', role: 'value' } as const;

test('events come in the proportions 1:3:46 (persons:auctions:bids), by event id', (t) => {
  const counts = { person: 0, auction: 0, bid: 0 };
  for (const event of new NexmarkGenerator().events(EVENTS)) counts[event.kind] += 1;
  t.deepEqual(counts, { person: 1_000, auction: 3_000, bid: 46_000 });
  const config = nexmarkConfig();
  t.deepEqual([0, 1, 2, 3, 4, 49, 50, 53, 54].map((eventId) => kindOfEventId(config, eventId)), ['person', 'auction', 'auction', 'auction', 'bid', 'bid', 'person', 'auction', 'bid']);
});

test('the last person and auction ids follow the epochs (the reference rules)', (t) => {
  const config = nexmarkConfig();
  t.deepEqual([0, 1, 4, 49, 50, 99, 100].map((eventId) => lastBase0PersonId(config, eventId)), [0, 0, 0, 0, 1, 1, 2]);
  // Before the first auction there is none (−1); an auction event is its own last auction.
  t.deepEqual([0, 1, 2, 3, 4, 49, 50, 51, 54].map((eventId) => lastBase0AuctionId(config, eventId)), [-1, 0, 1, 2, 2, 2, 2, 3, 5]);
});

test('the same seed gives the same events, in order or by random access; another seed does not', (t) => {
  const first = Array.from(new NexmarkGenerator({ seed: 42 }).events(2_000));
  const again = Array.from(new NexmarkGenerator({ seed: 42 }).events(2_000));
  t.deepEqual(again, first);
  const generator = new NexmarkGenerator({ seed: 42 });
  for (const eventNumber of [1_999, 0, 777, 1_234]) t.deepEqual(generator.eventAt(eventNumber), first[eventNumber]);
  const serde = nexmarkEventSerde();
  const bytes = (events: readonly NexmarkEvent[]) => Buffer.concat(events.map((event) => serde.serialize(event, context)!));
  t.true(bytes(again).equals(bytes(first)));
  const other = Array.from(new NexmarkGenerator({ seed: 43 }).events(2_000));
  t.notDeepEqual(other, first);
  // Kinds and ids depend on the event id only, not on the seed.
  t.deepEqual(other.map((event) => event.kind), first.map((event) => event.kind));
});

test('ids are dense, times follow the event rate, and every reference points at an existing id or up to ten ahead', (t) => {
  const baseTimeMs = Date.UTC(2020, 0, 1);
  const generator = new NexmarkGenerator({ seed: 7, eventsPerSecond: 1_000, baseTimeMs });
  let nextPersonId = FIRST_PERSON_ID;
  let nextAuctionId = FIRST_AUCTION_ID;
  let lastTime = -Infinity;
  let hotAuctionBids = 0;
  let bids = 0;
  const auctionsById = new Map<number, number>();
  for (let eventNumber = 0; eventNumber < EVENTS; eventNumber += 1) {
    const event = generator.eventAt(eventNumber);
    // 1 000 events/s: event n happens n ms after the base time.
    t.is(event.dateTime, baseTimeMs + eventNumber);
    t.true(event.dateTime >= lastTime);
    lastTime = event.dateTime;
    if (event.kind === 'person') {
      t.is(event.id, nextPersonId++);
      t.true(US_STATES.includes(event.state) && US_CITIES.includes(event.city));
      t.regex(event.creditCard, /^\d{4} \d{4} \d{4} \d{4}$/);
      t.regex(event.emailAddress, /^[a-z ]*@[a-z ]*\.com$/);
    } else if (event.kind === 'auction') {
      t.is(event.id, nextAuctionId++);
      auctionsById.set(event.id, event.dateTime);
      t.true(event.expires > event.dateTime);
      t.true(event.category >= FIRST_CATEGORY_ID && event.category < FIRST_CATEGORY_ID + CATEGORY_COUNT);
      t.true(event.reserve > event.initialBid);
      t.true(event.seller >= FIRST_PERSON_ID && event.seller < nextPersonId + ID_LEAD, `seller ${event.seller} with ${nextPersonId} people so far`);
    } else {
      bids += 1;
      t.true(event.auction >= FIRST_AUCTION_ID && event.auction < nextAuctionId + ID_LEAD, `auction ${event.auction} with ${nextAuctionId} auctions so far`);
      t.true(event.bidder >= FIRST_PERSON_ID && event.bidder < nextPersonId + ID_LEAD, `bidder ${event.bidder} with ${nextPersonId} people so far`);
      t.true(Number.isInteger(event.price) && event.price >= 100 && event.price <= 100_000_000);
      if ((event.auction - FIRST_AUCTION_ID) % HOT_ID_BLOCK === 0) hotAuctionBids += 1;
      t.true(event.url.startsWith('https://www.nexmark.com/'));
    }
  }
  t.is(nextPersonId - FIRST_PERSON_ID, 1_000);
  t.is(nextAuctionId - FIRST_AUCTION_ID, 3_000);
  // hotAuctionRatio 2: about half the bids go to the hot auction of their hundred (plus random hits).
  t.true(hotAuctionBids / bids > 0.45 && hotAuctionBids / bids < 0.56, `hot share ${hotAuctionBids / bids}`);
});

test('the ten-million-events-per-second default packs ten thousand events per millisecond', (t) => {
  const generator = new NexmarkGenerator();
  t.is(generator.eventAt(9_999).dateTime, generator.config.baseTimeMs);
  t.is(generator.eventAt(10_000).dateTime, generator.config.baseTimeMs + 1);
});

test('bids are keyed by their auction, persons and auctions by their id; bad settings are refused in one sentence', (t) => {
  const events = Array.from(new NexmarkGenerator().events(50));
  t.is(eventKey(events[0]!), '1000');
  t.is(eventKey(events[1]!), '1000');
  const bid = events.find((event) => event.kind === 'bid')!;
  t.is(eventKey(bid), String(bid.kind === 'bid' ? bid.auction : -1));
  t.throws(() => new NexmarkGenerator({ seed: -1 }), { instanceOf: RangeError, message: 'the NEXMark seed must be a whole number in [0, 2^32), not -1' });
  t.throws(() => new NexmarkGenerator({ bidProportion: 0 }), { instanceOf: RangeError, message: 'the NEXMark setting bidProportion must be a whole number ≥ 1, not 0' });
  t.throws(() => new NexmarkGenerator({ eventsPerSecond: 0 }), { instanceOf: RangeError, message: 'the NEXMark setting eventsPerSecond must be a number above 0, not 0' });
  t.throws(() => new NexmarkGenerator().eventAt(-1), { instanceOf: RangeError });
});

test('out-of-order groups shuffle event times within each group only', (t) => {
  const generator = new NexmarkGenerator({ outOfOrderGroupSize: 10, eventsPerSecond: 1_000 });
  const times = Array.from(generator.events(100), (event) => event.dateTime - generator.config.baseTimeMs);
  for (let group = 0; group < 10; group += 1) {
    t.deepEqual([...times.slice(group * 10, group * 10 + 10)].sort((a, b) => a - b), Array.from({ length: 10 }, (_, index) => group * 10 + index));
  }
  t.notDeepEqual(times, Array.from({ length: 100 }, (_, index) => index));
});

test('the event serde round-trips every kind and refuses foreign bytes with a SerdeError', (t) => {
  const serde = nexmarkEventSerde();
  for (const event of new NexmarkGenerator({ seed: 3 }).events(100)) t.deepEqual(serde.deserialize(serde.serialize(event, context), context), event);
  t.is(serde.deserialize(null, context), null);
  const bad = (text: string) => t.throws(() => serde.deserialize(Buffer.from(text), context), { instanceOf: SerdeError });
  bad('not json');
  bad('[1,2]');
  bad('{"kind":"offer","id":1}');
  bad('{"kind":"bid","auction":"1000","bidder":1,"price":1,"dateTime":0,"channel":"","url":"","extra":""}');
  t.throws(() => serde.deserialize(Buffer.from([0xff, 0xfe]), context), { instanceOf: SerdeError, message: /not valid UTF-8/ });
});
