import { SeededRandom } from '@defter/example-common';
import { EUR_RATES } from './enrichment.js';
import type { Order, OrderItem } from './order.js';

/** One input record as the demo writes it to `orders`: the raw JSON text, keyed by customer. */
export interface OrderEvent {
  readonly key: string | null;
  readonly value: string;
  readonly timestampMs: number;
}

export interface SampleOrdersOptions {
  readonly count: number;
  readonly seed: number;
  readonly startMs: number;
}

export const DEFAULT_SAMPLE_ORDERS: SampleOrdersOptions = { count: 30, seed: 7, startMs: Date.UTC(2026, 10, 23, 9, 0, 0) };

/** The catalogue, priced in euros; other currencies' prices follow from the rate table. */
const CATALOGUE: ReadonlyArray<{ readonly sku: string; readonly priceEur: number }> = [
  { sku: 'MUG-01', priceEur: 12.5 },
  { sku: 'TEE-02', priceEur: 24.9 },
  { sku: 'CAP-03', priceEur: 18 },
  { sku: 'BOOK-04', priceEur: 32.4 },
  { sku: 'LAMP-05', priceEur: 89 },
  { sku: 'SOCKS-06', priceEur: 7.95 },
];
const CURRENCIES = ['EUR', 'EUR', 'EUR', 'USD', 'USD', 'GBP', 'CHF', 'JPY'] as const;
const CUSTOMERS = ['c-001', 'c-002', 'c-003', 'c-004', 'c-005', 'c-006', 'c-007'] as const;

/**
 * Which orders the demo spoils, and how: one of each kind of bad record. The first three fail in
 * the JSON serde (deserialization), the last in the conversion (processing).
 */
export const SPOILED_ORDERS: Readonly<Record<number, 'truncated' | 'no-customer' | 'negative-quantity' | 'unknown-currency'>> = {
  4: 'truncated',
  9: 'no-customer',
  15: 'negative-quantity',
  22: 'unknown-currency',
};

/**
 * A morning of orders from a few customers in five currencies, with four bad records among them
 * (`SPOILED_ORDERS`). Deterministic for a given seed.
 */
export function sampleOrders(options: SampleOrdersOptions = DEFAULT_SAMPLE_ORDERS): OrderEvent[] {
  const random = new SeededRandom(options.seed);
  const events: OrderEvent[] = [];
  let createdAtMs = options.startMs;
  for (let index = 0; index < options.count; index += 1) {
    createdAtMs += 1_000 * (1 + random.nextInt(300));
    const currency = CURRENCIES[random.nextInt(CURRENCIES.length)]!;
    const itemsCount = 1 + random.nextInt(3);
    const items: OrderItem[] = [];
    for (let item = 0; item < itemsCount; item += 1) {
      const product = CATALOGUE[random.nextInt(CATALOGUE.length)]!;
      items.push({ sku: product.sku, qty: 1 + random.nextInt(4), unitPrice: priceIn(product.priceEur, currency) });
    }
    const order: Order = {
      orderId: `o-${1000 + index}`,
      customerId: CUSTOMERS[random.nextInt(CUSTOMERS.length)]!,
      items,
      currency,
      createdAt: new Date(createdAtMs).toISOString(),
    };
    events.push(spoil(order, SPOILED_ORDERS[index], createdAtMs));
  }
  return events;
}

function spoil(order: Order, how: (typeof SPOILED_ORDERS)[number] | undefined, timestampMs: number): OrderEvent {
  switch (how) {
    case undefined:
      return { key: order.customerId, value: JSON.stringify(order), timestampMs };
    case 'truncated': {
      // A writer that died half-way through: the text stops in the middle of the items.
      const text = JSON.stringify(order);
      return { key: order.customerId, value: text.slice(0, text.indexOf('"qty"')), timestampMs };
    }
    case 'no-customer': {
      const { customerId: _dropped, ...rest } = order;
      return { key: null, value: JSON.stringify(rest), timestampMs };
    }
    case 'negative-quantity':
      return { key: order.customerId, value: JSON.stringify({ ...order, items: order.items.map((item, index) => (index === 0 ? { ...item, qty: -2 } : item)) }), timestampMs };
    case 'unknown-currency':
      return { key: order.customerId, value: JSON.stringify({ ...order, currency: 'BTC' }), timestampMs };
  }
}

/** A catalogue price in another currency: cents, or whole yen. */
function priceIn(priceEur: number, currency: string): number {
  const price = priceEur / EUR_RATES[currency]!;
  return currency === 'JPY' ? Math.round(price) : Math.round(price * 100) / 100;
}
