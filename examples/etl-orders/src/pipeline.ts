import { app, definePipeline, Serdes, type LogOption, type StreamsApp } from '@defter/streams';
import { ORDER_EUR_SCHEMA, toOrderEur, type OrderEur } from './enrichment.js';
import { assertOrder, type Order } from './order.js';

export const ORDERS_TOPIC = 'orders';
export const ORDERS_EUR_TOPIC = 'orders-eur';
export const DEAD_LETTER_TOPIC = 'orders-dlq';
export const APPLICATION_ID = 'orders-etl';

export interface OrdersEtlOptions {
  readonly log: LogOption;
  /** The schema registry `orders-eur`'s Avro schema is registered with (Confluent's REST API). */
  readonly registryUrl: string;
}

/**
 * orders (JSON) → validate → enrich with the customer tier → convert the total to EUR →
 * orders-eur (Avro, Confluent wire format, keyed by order id). A record that cannot be read (not
 * JSON, or failing `assertOrder`) or processed (a currency without a rate) goes, bytes untouched,
 * to orders-dlq with the error in its headers; the others carry on.
 */
export function ordersEtlApp(options: OrdersEtlOptions): StreamsApp {
  const deadLetters = { deadLetterTopic: DEAD_LETTER_TOPIC };
  const etl = app({ applicationId: APPLICATION_ID, log: options.log, deserializationErrors: deadLetters, processingErrors: deadLetters });
  etl
    .stream(ORDERS_TOPIC, { key: Serdes.string(), value: Serdes.json<Order>({ validate: assertOrder }) })
    // A null value is a tombstone: nothing to convert.
    .filter((record) => record.value !== null)
    .mapValues((order) => toOrderEur(order!))
    .selectKey((record) => record.value!.orderId)
    .to(ORDERS_EUR_TOPIC, { key: Serdes.string(), value: Serdes.avro<OrderEur>({ registry: options.registryUrl, schema: ORDER_EUR_SCHEMA }) });
  return etl;
}

/**
 * The pipeline file: `defter run examples/etl-orders/src/pipeline.ts -- <registry URL>`
 * (default `http://localhost:8081`, Confluent's usual address).
 */
export default definePipeline((context) => ordersEtlApp({ log: context.log, registryUrl: context.args[0] ?? 'http://localhost:8081' }));
