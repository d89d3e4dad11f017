/**
 * The one command: `npx --yes pnpm@10.34.8 --filter @defter/example-etl-orders start`.
 * Starts a schema registry on a free port and a broker in this process on a data directory,
 * writes a morning of JSON orders (four of them bad), runs the ETL pipeline until every order is
 * processed, then prints `orders-eur` decoded with the registry and the dead letters with their errors.
 */
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { partitionForKey, type RunningBroker } from '@defter/broker';
import { requireEmptyDirectory, runIfEntryPoint, startDemoBroker } from '@defter/example-common';
import { DEAD_LETTER_HEADERS, deserializeAsync, EmbeddedLog, readConfluentHeader, Serdes, type OutgoingRecord, type StreamLog } from '@defter/streams';
import { readTopic, runUntilProcessed, SchemaRegistryServer, type StoredRecord } from '@defter/streams/testing';
import type { OrderEur } from './enrichment.js';
import { DEAD_LETTER_TOPIC, ordersEtlApp, ORDERS_EUR_TOPIC, ORDERS_TOPIC } from './pipeline.js';
import { DEFAULT_SAMPLE_ORDERS, sampleOrders, type SampleOrdersOptions } from './sample-orders.js';

export interface EtlOrdersDemoOptions {
  /** An empty (or absent) directory the broker keeps its data in. */
  readonly dataDir: string;
  /** A running schema registry; by default the demo starts one (in memory) on a free port. */
  readonly registryUrl?: string;
  readonly orders?: SampleOrdersOptions;
  /** Where the report goes, one line at a time (nowhere by default). */
  readonly print?: (line: string) => void;
}

/** An `orders-eur` record, decoded. */
export interface ConvertedOrder {
  readonly key: string | null;
  readonly partition: number;
  readonly timestamp: number;
  /** The registry id in the record's Confluent header. */
  readonly schemaId: number;
  readonly value: OrderEur;
}

/** An `orders-dlq` record: the original bytes and the error headers. */
export interface DeadLetter {
  readonly key: string | null;
  readonly value: string | null;
  readonly timestamp: number;
  readonly headers: Readonly<Record<string, string>>;
}

export interface EtlOrdersDemoResult {
  readonly ordersIn: number;
  readonly converted: readonly ConvertedOrder[];
  readonly deadLetters: readonly DeadLetter[];
}

const PARTITIONS = { [ORDERS_TOPIC]: 3, [ORDERS_EUR_TOPIC]: 3, [DEAD_LETTER_TOPIC]: 1 } as const;
const PROCESSING_TIMEOUT_MS = 120_000;
const READ_OPTIONS = { clientId: 'etl-orders-demo' } as const;

export async function runEtlOrdersDemo(options: EtlOrdersDemoOptions): Promise<EtlOrdersDemoResult> {
  const print = options.print ?? (() => undefined);
  const events = sampleOrders(options.orders ?? DEFAULT_SAMPLE_ORDERS);
  await requireEmptyDirectory(options.dataDir);

  const registry = options.registryUrl === undefined ? await SchemaRegistryServer.start() : undefined;
  const registryUrl = options.registryUrl ?? registry!.url;
  let broker: RunningBroker | undefined;
  try {
    broker = await startDemoBroker(options.dataDir);
    const log: StreamLog = new EmbeddedLog({ broker, clientId: 'etl-orders-demo' });
    await log.connect();
    try {
      await log.createTopics(Object.entries(PARTITIONS).map(([name, partitions]) => ({ name, partitions })));
      const producer = await log.createProducer({});
      await producer.send(
        events.map((event): OutgoingRecord => {
          const key = event.key === null ? null : Buffer.from(event.key, 'utf8');
          return {
            topic: ORDERS_TOPIC,
            // An order without a customer has no key: partition 0, as the demo chooses.
            partition: key === null ? 0 : partitionForKey(key, PARTITIONS[ORDERS_TOPIC]),
            key,
            value: Buffer.from(event.value, 'utf8'),
            headers: { source: 'webshop' },
            timestamp: event.timestampMs,
          };
        }),
      );
      await producer.close();
    } finally {
      await log.close();
    }

    // The app shares the demo's broker; against a real Kafka it would be `{ brokers: ['host:9092'] }`.
    await runUntilProcessed(ordersEtlApp({ log: { broker }, registryUrl }), events.length, { timeoutMs: PROCESSING_TIMEOUT_MS });

    const converted = await decodeOrders(await readTopic(broker, ORDERS_EUR_TOPIC, PARTITIONS[ORDERS_EUR_TOPIC], READ_OPTIONS), registryUrl);
    const deadLetters = (await readTopic(broker, DEAD_LETTER_TOPIC, PARTITIONS[DEAD_LETTER_TOPIC], READ_OPTIONS)).map(
      (record): DeadLetter => ({ key: record.key?.toString('utf8') ?? null, value: record.value?.toString('utf8') ?? null, timestamp: record.timestamp, headers: record.headers }),
    );
    const result: EtlOrdersDemoResult = {
      ordersIn: events.length,
      converted: [...converted].sort((a, b) => a.timestamp - b.timestamp),
      deadLetters: [...deadLetters].sort((a, b) => a.timestamp - b.timestamp),
    };
    for (const line of report(result)) print(line);
    return result;
  } finally {
    await broker?.close();
    await registry?.close();
  }
}

/** Decodes `orders-eur` as any consumer would: the schema id in each record's header, the schema from the registry. */
async function decodeOrders(records: readonly StoredRecord[], registryUrl: string): Promise<ConvertedOrder[]> {
  const serde = Serdes.avro<OrderEur>({ registry: registryUrl });
  const decoded: ConvertedOrder[] = [];
  for (const record of records) {
    if (record.value === null) continue;
    const value = await deserializeAsync(serde, record.value, { topic: ORDERS_EUR_TOPIC, role: 'value', partition: record.partition, offset: record.offset });
    const header = readConfluentHeader(record.value);
    if (!header.ok) throw new Error(`${ORDERS_EUR_TOPIC}-${record.partition} offset ${record.offset} is not in the Confluent wire format: ${header.problem}`);
    // avsc decodes into instances of a generated class; the report wants plain data.
    decoded.push({ key: record.key?.toString('utf8') ?? null, partition: record.partition, timestamp: record.timestamp, schemaId: header.schemaId, value: { ...value! } });
  }
  return decoded;
}

/** The report the README shows. */
export function report(result: EtlOrdersDemoResult): string[] {
  const schemaIds = [...new Set(result.converted.map((order) => order.schemaId))].join(', ');
  const lines = [
    `${result.ordersIn} orders read from "${ORDERS_TOPIC}": ${result.converted.length} written to "${ORDERS_EUR_TOPIC}" (Avro, schema id ${schemaIds}), ` +
      `${result.deadLetters.length} sent to "${DEAD_LETTER_TOPIC}".`,
    '',
    `${ORDERS_EUR_TOPIC} (decoded with the schema registry):`,
  ];
  for (const { value: order } of result.converted) {
    const original = `${order.currency} ${order.total.toFixed(2).padStart(9)}`;
    const eur = `EUR ${(order.totalEurCents / 100).toFixed(2).padStart(7)}`;
    lines.push(`  ${order.orderId}  ${order.customerId}  ${order.customerTier.padEnd(8)}  ${String(order.itemCount).padStart(2)} units  ${original} × ${String(order.eurRate).padEnd(6)} = ${eur}`);
  }
  lines.push('', `${DEAD_LETTER_TOPIC}:`);
  for (const letter of result.deadLetters) {
    const headers = letter.headers;
    const source = `${headers[DEAD_LETTER_HEADERS.topic]}-${headers[DEAD_LETTER_HEADERS.partition]}@${headers[DEAD_LETTER_HEADERS.offset]}`;
    const kind = headers[DEAD_LETTER_HEADERS.reason] ?? headers[DEAD_LETTER_HEADERS.errorClass];
    lines.push(`  ${source}  key ${letter.key ?? '(none)'}  ${headers[DEAD_LETTER_HEADERS.stage]}/${kind}: ${headers[DEAD_LETTER_HEADERS.message]}`);
  }
  return lines;
}

async function main(): Promise<void> {
  const dataDir = resolve('data-etl-orders');
  // The demo's own directory: each run starts from nothing, so the output is the one the README shows.
  await rm(dataDir, { recursive: true, force: true });
  console.log(`data directory: ${dataDir}\n`);
  await runEtlOrdersDemo({ dataDir, print: (line) => console.log(line) });
}

runIfEntryPoint(import.meta.url, main);
