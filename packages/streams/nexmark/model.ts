/**
 * The NEXMark data model: an online auction site's people, the auctions they open and the bids
 * placed on them. Field names are the specification's (as Beam's and Flink's NEXMark use them);
 * times are milliseconds since the epoch. An event carries its kind inline (`kind`), which is also
 * how it is written as JSON.
 */

export interface Person {
  readonly id: number;
  readonly name: string;
  readonly emailAddress: string;
  readonly creditCard: string;
  readonly city: string;
  readonly state: string;
  readonly dateTime: number;
  readonly extra: string;
}

export interface Auction {
  readonly id: number;
  readonly itemName: string;
  readonly description: string;
  readonly initialBid: number;
  readonly reserve: number;
  readonly dateTime: number;
  /** When the auction closes: `dateTime` plus a random length. */
  readonly expires: number;
  /** A person id. */
  readonly seller: number;
  readonly category: number;
  readonly extra: string;
}

export interface Bid {
  /** An auction id. */
  readonly auction: number;
  /** A person id. */
  readonly bidder: number;
  /** In cents (dollars × 100). */
  readonly price: number;
  readonly channel: string;
  readonly url: string;
  readonly dateTime: number;
  readonly extra: string;
}

export interface PersonEvent extends Person {
  readonly kind: 'person';
}
export interface AuctionEvent extends Auction {
  readonly kind: 'auction';
}
export interface BidEvent extends Bid {
  readonly kind: 'bid';
}

export type NexmarkEvent = PersonEvent | AuctionEvent | BidEvent;
export type NexmarkEventKind = NexmarkEvent['kind'];

/**
 * The record key an event is written with: the person's id, the auction's id, the bid's auction.
 * Bids and their auction meet in one partition (what q4–q7 join on); a person and the auctions
 * they sell do not (q3 and q8 re-key by seller first).
 */
export function eventKey(event: NexmarkEvent): string {
  switch (event.kind) {
    case 'person':
    case 'auction':
      return String(event.id);
    case 'bid':
      return String(event.auction);
  }
}
