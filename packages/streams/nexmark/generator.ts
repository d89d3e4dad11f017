/**
 * The standard NEXMark event generator, deterministic from a seed.
 *
 * The rules are the reference generator's (Apache Beam's `sdks/java/testing/nexmark` and the
 * Flink NEXMark project's `generator` package), written anew:
 * - Event ids run from `firstEventId`; an id's remainder modulo the proportions' total (1 + 3 + 46
 *   = 50) picks its kind: the first `personProportion` values a person, the next
 *   `auctionProportion` an auction, the rest a bid. So 2% persons, 6% auctions, 92% bids.
 * - The n-th event's time is `baseTimeMs + ⌊⌊n · interEventDelayUs⌋ / 1000⌋` with
 *   `interEventDelayUs = 10^6 / eventsPerSecond`: event time advances with the event count, never
 *   with the wall clock. With `outOfOrderGroupSize` > 1 events are shuffled within each group.
 * - Person and auction ids are dense: the person of epoch e (one epoch = one round of the
 *   proportions) is `FIRST_PERSON_ID + e`, its auctions `FIRST_AUCTION_ID + 3e … + 3e + 2`.
 * - A bid is on a hot auction with probability 1 − 1/hotAuctionRatio (the first of the latest
 *   hundred auctions), otherwise on one of the last `numInFlightAuctions` auctions or up to ten ids
 *   ahead. Bidders and sellers likewise: hot with probability 1 − 1/ratio (a hot bidder is the
 *   second of the latest hundred people, a hot seller the first), otherwise one of the last
 *   `numActivePeople` people or up to ten ids ahead.
 * - Prices are `round(10^(6u) · 100)` cents for a uniform u: one cent to ten thousand dollars,
 *   log-uniform. An auction's reserve is its initial bid plus another such price; it expires a
 *   random time after it opens, averaging the time in which `numInFlightAuctions` more auctions
 *   are generated.
 * - Names, cities and states come from short fixed lists (so that the queries find matches even on
 *   small runs); `extra` pads each event to its kind's average size.
 *
 * Where this generator differs: every event draws from its own `SeededRandom(seed, eventId)` (as
 * Beam's does per event id; Flink's shares one unseeded random), so `eventAt(n)` is random access
 * and two runs with one seed give the same events byte for byte; the channel URLs and the padding
 * text are drawn from the seed too. Flink adds FIRST_PERSON_ID to a bid's bidder twice; here a
 * bidder is a person id like a seller.
 */
import { SeededRandom } from './random.js';
import type { AuctionEvent, BidEvent, NexmarkEvent, PersonEvent } from './model.js';

export const FIRST_PERSON_ID = 1000;
export const FIRST_AUCTION_ID = 1000;
export const FIRST_CATEGORY_ID = 10;
/** Categories are few so that per-category queries (q4) find results on small runs. */
export const CATEGORY_COUNT = 5;
/** How many ids past the last generated person or auction a random reference may point to. */
export const ID_LEAD = 10;
/** Hot auctions, sellers and bidders are the first (bidders: the second) of each hundred ids. */
export const HOT_ID_BLOCK = 100;

export const US_STATES: readonly string[] = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'];
export const US_CITIES: readonly string[] = ['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend', 'Redmond', 'Seattle', 'Kent', 'Cheyenne'];
export const FIRST_NAMES: readonly string[] = ['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah', 'Deiter', 'Walter'];
export const LAST_NAMES: readonly string[] = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'];
export const HOT_CHANNELS: readonly string[] = ['Google', 'Facebook', 'Baidu', 'Apple'];
const CHANNEL_COUNT = 10_000;
/** One bid in HOT_CHANNEL_RATIO comes through a channel other than the hot ones. */
const HOT_CHANNEL_RATIO = 2;
const STRING_LENGTH_MIN = 3;
/** `extra` is a slice of one long random text, as the reference does (cheap, and realistic enough). */
const PADDING_TEXT_LENGTH = 1024 * 1024;
/** A reference instant: 2015-07-15T00:00:00Z. */
export const DEFAULT_BASE_TIME_MS = Date.UTC(2015, 6, 15);

export interface NexmarkConfig {
  /** Seeds every event's random draws and the channel and padding tables. A whole number in [0, 2^32). */
  readonly seed: number;
  /** The id of event number 0. */
  readonly firstEventId: number;
  /** The rate event time advances at: event n is n / eventsPerSecond seconds after `baseTimeMs`. */
  readonly eventsPerSecond: number;
  readonly baseTimeMs: number;
  readonly personProportion: number;
  readonly auctionProportion: number;
  readonly bidProportion: number;
  /** Average encoded sizes the `extra` padding aims at (the reference's byte sizes). */
  readonly avgPersonByteSize: number;
  readonly avgAuctionByteSize: number;
  readonly avgBidByteSize: number;
  /** A bid is on a hot auction with probability 1 − 1/hotAuctionRatio. */
  readonly hotAuctionRatio: number;
  readonly hotSellersRatio: number;
  readonly hotBiddersRatio: number;
  /** Random bidders and sellers are drawn from the latest this-many people. */
  readonly numActivePeople: number;
  /** Random bids go to the latest this-many auctions (and auctions last about that long). */
  readonly numInFlightAuctions: number;
  /** Events are shuffled in event time within groups of this size (1: in order). */
  readonly outOfOrderGroupSize: number;
}

/** The reference defaults, with the Flink NEXMark suite's event rate (10 million events/s). */
export const DEFAULT_NEXMARK_CONFIG: NexmarkConfig = {
  seed: 0,
  firstEventId: 0,
  eventsPerSecond: 10_000_000,
  baseTimeMs: DEFAULT_BASE_TIME_MS,
  personProportion: 1,
  auctionProportion: 3,
  bidProportion: 46,
  avgPersonByteSize: 200,
  avgAuctionByteSize: 500,
  avgBidByteSize: 100,
  hotAuctionRatio: 2,
  hotSellersRatio: 4,
  hotBiddersRatio: 4,
  numActivePeople: 1000,
  numInFlightAuctions: 100,
  outOfOrderGroupSize: 1,
};

/** The defaults with `options` on top, checked: a bad setting is a RangeError naming it. */
export function nexmarkConfig(options: Partial<NexmarkConfig> = {}): NexmarkConfig {
  const config = { ...DEFAULT_NEXMARK_CONFIG, ...options };
  const wholeAtLeast = (name: keyof NexmarkConfig, minimum: number) => {
    const value = config[name];
    if (!Number.isSafeInteger(value) || value < minimum) throw new RangeError(`the NEXMark setting ${name} must be a whole number ≥ ${minimum}, not ${String(value)}`);
  };
  if (!Number.isInteger(config.seed) || config.seed < 0 || config.seed >= 2 ** 32) throw new RangeError(`the NEXMark seed must be a whole number in [0, 2^32), not ${String(config.seed)}`);
  wholeAtLeast('firstEventId', 0);
  wholeAtLeast('baseTimeMs', 0);
  for (const name of ['personProportion', 'auctionProportion', 'bidProportion', 'hotAuctionRatio', 'hotSellersRatio', 'hotBiddersRatio'] as const) wholeAtLeast(name, 1);
  for (const name of ['numActivePeople', 'numInFlightAuctions', 'outOfOrderGroupSize'] as const) wholeAtLeast(name, 1);
  for (const name of ['avgPersonByteSize', 'avgAuctionByteSize', 'avgBidByteSize'] as const) wholeAtLeast(name, 0);
  if (!(config.eventsPerSecond > 0) || !Number.isFinite(config.eventsPerSecond)) {
    throw new RangeError(`the NEXMark setting eventsPerSecond must be a number above 0, not ${String(config.eventsPerSecond)}`);
  }
  return config;
}

const totalProportion = (config: NexmarkConfig) => config.personProportion + config.auctionProportion + config.bidProportion;

/** The kind the event with this id is (by the id's place in its epoch). */
export function kindOfEventId(config: NexmarkConfig, eventId: number): NexmarkEvent['kind'] {
  const offset = eventId % totalProportion(config);
  if (offset < config.personProportion) return 'person';
  if (offset < config.personProportion + config.auctionProportion) return 'auction';
  return 'bid';
}

/** The latest person id (from 0) generated at or before event `eventId`: its own id if it is a person. */
export function lastBase0PersonId(config: NexmarkConfig, eventId: number): number {
  const total = totalProportion(config);
  const epoch = Math.floor(eventId / total);
  const offset = Math.min(eventId % total, config.personProportion - 1);
  return epoch * config.personProportion + offset;
}

/** The latest auction id (from 0) generated at or before event `eventId`: its own id if it is an auction. */
export function lastBase0AuctionId(config: NexmarkConfig, eventId: number): number {
  const total = totalProportion(config);
  let epoch = Math.floor(eventId / total);
  let offset = eventId % total;
  if (offset < config.personProportion) {
    // A person: the last auction is the previous epoch's last (−1 before the first auction).
    epoch -= 1;
    offset = config.auctionProportion - 1;
  } else if (offset >= config.personProportion + config.auctionProportion) {
    offset = config.auctionProportion - 1;
  } else {
    offset -= config.personProportion;
  }
  return epoch * config.auctionProportion + offset;
}

/** A random recent person (from 0): one of the latest `numActivePeople`, or up to ID_LEAD ahead. */
export function nextBase0PersonId(config: NexmarkConfig, eventId: number, random: SeededRandom): number {
  const peopleSoFar = lastBase0PersonId(config, eventId) + 1;
  const activePeople = Math.min(peopleSoFar, config.numActivePeople);
  return peopleSoFar - activePeople + random.nextLong(activePeople + ID_LEAD);
}

/** A random in-flight auction (from 0): one of the latest `numInFlightAuctions`, or up to ID_LEAD ahead. */
export function nextBase0AuctionId(config: NexmarkConfig, eventId: number, random: SeededRandom): number {
  const lastAuction = lastBase0AuctionId(config, eventId);
  const firstAuction = Math.max(lastAuction - config.numInFlightAuctions, 0);
  return firstAuction + random.nextLong(lastAuction - firstAuction + 1 + ID_LEAD);
}

/** `round(10^(6u) · 100)`: a log-uniform price in cents, from 100 (one dollar) to 10^8. */
export function nextPrice(random: SeededRandom): number {
  return Math.round(10 ** (random.nextDouble() * 6) * 100);
}

/** A random string of 3 … maxLength − 1 letters, one in 13 replaced by `special`, trimmed. */
function nextString(random: SeededRandom, maxLength: number, special = ' '): string {
  let length = STRING_LENGTH_MIN + random.nextInt(maxLength - STRING_LENGTH_MIN);
  let text = '';
  while (length-- > 0) text += random.nextInt(13) === 0 ? special : String.fromCharCode(97 + random.nextInt(26));
  return text.trim();
}

/** Tables drawn once per seed: the padding text and the channel URLs. */
class SeedTables {
  readonly paddingText: string;
  readonly hotUrls: readonly string[];
  readonly channelNames: readonly string[];
  readonly channelUrls: readonly string[];

  constructor(seed: number) {
    // Stream ids far past any event id keep these draws apart from the events'.
    const random = new SeededRandom(seed, 2 ** 52);
    const letters = new Array<string>(PADDING_TEXT_LENGTH);
    for (let index = 0; index < PADDING_TEXT_LENGTH; index += 1) letters[index] = String.fromCharCode(97 + random.nextInt(26));
    this.paddingText = letters.join('');
    const baseUrl = () => `https://www.nexmark.com/${nextString(random, 5, '_')}/${nextString(random, 5, '_')}/${nextString(random, 5, '_')}/item.htm?query=1`;
    this.hotUrls = HOT_CHANNELS.map(() => baseUrl());
    const names: string[] = [];
    const urls: string[] = [];
    for (let channel = 0; channel < CHANNEL_COUNT; channel += 1) {
      const url = baseUrl();
      names.push(`channel-${channel}`);
      urls.push(random.nextInt(10) > 0 ? `${url}&channel_id=${Math.abs(reverseBits32(channel))}` : url);
    }
    this.channelNames = names;
    this.channelUrls = urls;
  }

  /** `length` letters of the padding text from a random place. */
  exactString(random: SeededRandom, length: number): string {
    if (length <= 0) return '';
    const offset = random.nextInt(this.paddingText.length - length);
    return this.paddingText.slice(offset, offset + length);
  }

  /** Padding that brings `currentBytes` to `averageBytes` on average (± 20%). */
  extra(random: SeededRandom, currentBytes: number, averageBytes: number): string {
    if (currentBytes > averageBytes) return '';
    const wanted = averageBytes - currentBytes;
    const delta = Math.round(wanted * 0.2);
    return this.exactString(random, wanted - delta + (delta === 0 ? 0 : random.nextInt(2 * delta)));
  }
}

/** Java's Integer.reverse as a signed 32-bit value (the reference's channel ids). */
function reverseBits32(value: number): number {
  let input = value >>> 0;
  let reversed = 0;
  for (let bit = 0; bit < 32; bit += 1) {
    reversed = (reversed << 1) | (input & 1);
    input >>>= 1;
  }
  return reversed | 0;
}

const tablesBySeed = new Map<number, SeedTables>();
function tablesFor(seed: number): SeedTables {
  let tables = tablesBySeed.get(seed);
  if (tables === undefined) {
    tables = new SeedTables(seed);
    tablesBySeed.set(seed, tables);
  }
  return tables;
}

export class NexmarkGenerator {
  readonly config: NexmarkConfig;
  private readonly tables: SeedTables;
  private readonly interEventDelayUs: number;
  private readonly total: number;

  constructor(options: Partial<NexmarkConfig> = {}) {
    this.config = nexmarkConfig(options);
    this.tables = tablesFor(this.config.seed);
    this.interEventDelayUs = 1_000_000 / this.config.eventsPerSecond;
    this.total = totalProportion(this.config);
  }

  /** Event time of event number `eventNumber` (in generation order, before any shuffling). */
  timestampForEvent(eventNumber: number): number {
    return this.config.baseTimeMs + Math.floor(Math.floor(eventNumber * this.interEventDelayUs) / 1000);
  }

  /** The event number whose time and id event number `eventNumber` carries (itself unless shuffled). */
  adjustedEventNumber(eventNumber: number): number {
    const groupSize = this.config.outOfOrderGroupSize;
    if (groupSize === 1) return eventNumber;
    return Math.floor(eventNumber / groupSize) * groupSize + ((eventNumber * 953) % groupSize);
  }

  /** The id of event number `eventNumber`. */
  eventIdAt(eventNumber: number): number {
    return this.config.firstEventId + this.adjustedEventNumber(eventNumber);
  }

  /** Event number `eventNumber` (from 0): the same event every time, whatever was generated before. */
  eventAt(eventNumber: number): NexmarkEvent {
    if (!Number.isSafeInteger(eventNumber) || eventNumber < 0) throw new RangeError(`an event number is a whole number ≥ 0, not ${String(eventNumber)}`);
    const adjusted = this.adjustedEventNumber(eventNumber);
    const eventId = this.config.firstEventId + adjusted;
    const timestamp = this.timestampForEvent(adjusted);
    const random = new SeededRandom(this.config.seed, eventId);
    const offset = eventId % this.total;
    if (offset < this.config.personProportion) return this.person(eventId, random, timestamp);
    if (offset < this.config.personProportion + this.config.auctionProportion) return this.auction(adjusted, eventId, random, timestamp);
    return this.bid(eventId, random, timestamp);
  }

  /** `count` events from event number `from`, in order. */
  *events(count: number, from = 0): Generator<NexmarkEvent> {
    for (let eventNumber = from; eventNumber < from + count; eventNumber += 1) yield this.eventAt(eventNumber);
  }

  private person(eventId: number, random: SeededRandom, timestamp: number): PersonEvent {
    const id = lastBase0PersonId(this.config, eventId) + FIRST_PERSON_ID;
    const name = `${pick(random, FIRST_NAMES)} ${pick(random, LAST_NAMES)}`;
    const emailAddress = `${nextString(random, 7)}@${nextString(random, 5)}.com`;
    const creditCard = [0, 1, 2, 3].map(() => String(random.nextInt(10_000)).padStart(4, '0')).join(' ');
    const city = pick(random, US_CITIES);
    const state = pick(random, US_STATES);
    const currentBytes = 8 + name.length + emailAddress.length + creditCard.length + city.length + state.length;
    const extra = this.tables.extra(random, currentBytes, this.config.avgPersonByteSize);
    return { kind: 'person', id, name, emailAddress, creditCard, city, state, dateTime: timestamp, extra };
  }

  private auction(eventNumber: number, eventId: number, random: SeededRandom, timestamp: number): AuctionEvent {
    const config = this.config;
    const id = lastBase0AuctionId(config, eventId) + FIRST_AUCTION_ID;
    const seller =
      FIRST_PERSON_ID +
      (random.nextInt(config.hotSellersRatio) > 0
        ? Math.floor(lastBase0PersonId(config, eventId) / HOT_ID_BLOCK) * HOT_ID_BLOCK
        : nextBase0PersonId(config, eventId, random));
    const category = FIRST_CATEGORY_ID + random.nextInt(CATEGORY_COUNT);
    const initialBid = nextPrice(random);
    const expires = timestamp + this.auctionLengthMs(eventNumber, random, timestamp);
    const itemName = nextString(random, 20);
    const description = nextString(random, 100);
    const reserve = initialBid + nextPrice(random);
    const currentBytes = 8 + itemName.length + description.length + 8 + 8 + 8 + 8 + 8;
    const extra = this.tables.extra(random, currentBytes, config.avgAuctionByteSize);
    return { kind: 'auction', id, itemName, description, initialBid, reserve, dateTime: timestamp, expires, seller, category, extra };
  }

  /** 1 + a random time averaging how long the next `numInFlightAuctions` auctions take to appear. */
  private auctionLengthMs(eventNumber: number, random: SeededRandom, timestamp: number): number {
    const eventsForInFlightAuctions = Math.floor((this.config.numInFlightAuctions * this.total) / this.config.auctionProportion);
    const horizonMs = this.timestampForEvent(eventNumber + eventsForInFlightAuctions) - timestamp;
    return 1 + random.nextLong(Math.max(horizonMs * 2, 1));
  }

  private bid(eventId: number, random: SeededRandom, timestamp: number): BidEvent {
    const config = this.config;
    const auction =
      FIRST_AUCTION_ID +
      (random.nextInt(config.hotAuctionRatio) > 0
        ? Math.floor(lastBase0AuctionId(config, eventId) / HOT_ID_BLOCK) * HOT_ID_BLOCK
        : nextBase0AuctionId(config, eventId, random));
    const bidder =
      FIRST_PERSON_ID +
      (random.nextInt(config.hotBiddersRatio) > 0
        ? Math.floor(lastBase0PersonId(config, eventId) / HOT_ID_BLOCK) * HOT_ID_BLOCK + 1
        : nextBase0PersonId(config, eventId, random));
    const price = nextPrice(random);
    let channel: string;
    let url: string;
    if (random.nextInt(HOT_CHANNEL_RATIO) > 0) {
      const hot = random.nextInt(HOT_CHANNELS.length);
      channel = HOT_CHANNELS[hot]!;
      url = this.tables.hotUrls[hot]!;
    } else {
      const other = random.nextInt(CHANNEL_COUNT);
      channel = this.tables.channelNames[other]!;
      url = this.tables.channelUrls[other]!;
    }
    const extra = this.tables.extra(random, 8 + 8 + 8 + 8, config.avgBidByteSize);
    return { kind: 'bid', auction, bidder, price, channel, url, dateTime: timestamp, extra };
  }
}

function pick(random: SeededRandom, values: readonly string[]): string {
  return values[random.nextInt(values.length)]!;
}
