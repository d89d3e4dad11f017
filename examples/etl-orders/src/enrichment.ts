import type { Order } from './order.js';

/**
 * The reference data the pipeline joins in, kept in memory: small and fixed for the example. In
 * production the tiers would come from a table (`app.table('customers')`, issue 7) and the rates
 * from a rates topic.
 */

export type CustomerTier = 'standard' | 'silver' | 'gold';

export const CUSTOMER_TIERS: Readonly<Record<string, CustomerTier>> = {
  'c-001': 'gold',
  'c-002': 'silver',
  'c-003': 'standard',
  'c-004': 'gold',
  'c-005': 'silver',
  'c-006': 'standard',
};

/** Euros per unit of each currency: fixed, illustrative rates. */
export const EUR_RATES: Readonly<Record<string, number>> = {
  EUR: 1,
  USD: 0.92,
  GBP: 1.17,
  CHF: 1.05,
  JPY: 0.0061,
};

/** An order with what the pipeline adds: the customer's tier and the total in euros. */
export interface OrderEur {
  readonly orderId: string;
  readonly customerId: string;
  readonly customerTier: CustomerTier;
  /** Units over all items. */
  readonly itemCount: number;
  readonly currency: string;
  /** The order total in its own currency, rounded to cents. */
  readonly total: number;
  readonly eurRate: number;
  readonly totalEurCents: number;
  readonly createdAtMs: number;
}

/** The Avro schema of `orders-eur` values (registered under `orders-eur-value`). */
export const ORDER_EUR_SCHEMA = {
  type: 'record',
  name: 'OrderEur',
  namespace: 'dev.defter.examples',
  fields: [
    { name: 'orderId', type: 'string' },
    { name: 'customerId', type: 'string' },
    { name: 'customerTier', type: { type: 'enum', name: 'CustomerTier', symbols: ['standard', 'silver', 'gold'] } },
    { name: 'itemCount', type: 'int' },
    { name: 'currency', type: 'string' },
    { name: 'total', type: 'double' },
    { name: 'eurRate', type: 'double' },
    { name: 'totalEurCents', type: 'long' },
    { name: 'createdAtMs', type: 'long' },
  ],
} as const;

/** Thrown for an order in a currency the rate table does not know: a processing error, dead-lettered. */
export class UnknownCurrencyError extends Error {
  override readonly name = 'UnknownCurrencyError';
  constructor(readonly currency: string) {
    super(`there is no EUR rate for currency ${currency}`);
  }
}

export function customerTierOf(customerId: string): CustomerTier {
  return CUSTOMER_TIERS[customerId] ?? 'standard';
}

/** Enriches and converts one valid order. Sums in cents, so that 3 × 19.99 is 59.97 and not 59.9699…. */
export function toOrderEur(order: Order): OrderEur {
  const eurRate = EUR_RATES[order.currency];
  if (eurRate === undefined) throw new UnknownCurrencyError(order.currency);
  const totalCents = order.items.reduce((sum, item) => sum + item.qty * Math.round(item.unitPrice * 100), 0);
  return {
    orderId: order.orderId,
    customerId: order.customerId,
    customerTier: customerTierOf(order.customerId),
    itemCount: order.items.reduce((sum, item) => sum + item.qty, 0),
    currency: order.currency,
    total: totalCents / 100,
    eurRate,
    totalEurCents: Math.round(totalCents * eurRate),
    createdAtMs: Date.parse(order.createdAt),
  };
}
