/** An order event as the shop writes it to `orders`, JSON. */
export interface Order {
  readonly orderId: string;
  readonly customerId: string;
  readonly items: readonly OrderItem[];
  /** ISO 4217 code of every price in the order. */
  readonly currency: string;
  /** ISO-8601 time the order was placed. */
  readonly createdAt: string;
}

export interface OrderItem {
  readonly sku: string;
  readonly qty: number;
  /** Price of one unit in the order's currency. */
  readonly unitPrice: number;
}

/**
 * The validator the JSON serde runs on every order it reads. It throws, so that the reason —
 * one sentence — reaches the dead-letter record's `defter.error.message` header.
 */
export function assertOrder(value: unknown): asserts value is Order {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('an order must be a JSON object');
  const order = value as Record<string, unknown>;
  for (const field of ['orderId', 'customerId', 'currency', 'createdAt'] as const) {
    if (typeof order[field] !== 'string' || order[field] === '') throw new Error(`the order has no ${field}`);
  }
  if (!/^[A-Z]{3}$/.test(order.currency as string)) throw new Error(`currency "${String(order.currency)}" is not a three-letter code`);
  if (Number.isNaN(Date.parse(order.createdAt as string))) throw new Error(`createdAt "${String(order.createdAt)}" is not an ISO-8601 time`);
  if (!Array.isArray(order.items) || order.items.length === 0) throw new Error('the order has no items');
  order.items.forEach((item: unknown, index) => {
    if (typeof item !== 'object' || item === null) throw new Error(`item ${index} is not an object`);
    const { sku, qty, unitPrice } = item as Record<string, unknown>;
    if (typeof sku !== 'string' || sku === '') throw new Error(`item ${index} has no sku`);
    if (typeof qty !== 'number' || !Number.isInteger(qty) || qty <= 0) throw new Error(`item ${index} (${sku}) has quantity ${String(qty)}; it must be a positive integer`);
    if (typeof unitPrice !== 'number' || !Number.isFinite(unitPrice) || unitPrice < 0) throw new Error(`item ${index} (${sku}) has unit price ${String(unitPrice)}`);
  });
}
