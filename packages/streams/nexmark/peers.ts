/**
 * The TypeScript peers a user would otherwise pick, running the same queries against the same
 * broker — over loopback, since neither can use an in-process log:
 *
 * - `@kafkats/flow` 0.12 (on `@kafkats/client`, pure TypeScript): a Kafka Streams-like DSL
 *   (`stream().filter().mapValues().to()`), with its own `json()`/`string()` codecs. It has
 *   tables, windows and joins too, so it could express q3–q12; this bench runs q0–q2 on both
 *   sides until our DSL has them.
 * - `kafka-streams` 5.0 (nodefluent): cannot run here. Its JavaScript client is sinek's deprecated
 *   kafka-node path, which speaks Fetch v0–v2 and reads only the old message-set format (magic 0/1),
 *   while a defter broker serves Fetch v4+ with record batches (magic 2); its other client needs the
 *   native `node-rdkafka` bindings (sinek 9: Node ≤ 12). So it is not installed, and the bench prints
 *   that instead of a number.
 */
import { KafkaClient } from '@kafkats/client';
import { flow, json, string } from '@kafkats/flow';
import type { NexmarkEvent } from './model.js';
import type { NexmarkQuery } from './queries.js';
import { timeUntilOutput, type LogRowOptions, type RowTiming } from './rows.js';

export const KAFKA_STREAMS_VERDICT =
  'kafka-streams 5.0 cannot run against a defter broker: its JavaScript client (sinek → kafka-node 5) speaks only Fetch v0–v2 and the pre-0.11 message-set format, and its other client needs the native node-rdkafka bindings (Node ≤ 12).';

export async function runKafkatsRow<R>(query: NexmarkQuery<R>, options: LogRowOptions & { readonly applicationId: string }): Promise<RowTiming> {
  const client = new KafkaClient({ brokers: [`127.0.0.1:${options.broker.port}`], clientId: options.applicationId, logLevel: 'error' });
  const flowApp = flow({ applicationId: options.applicationId, client, consumer: { autoOffsetReset: 'earliest' } });
  const apply = query.apply;
  flowApp
    .stream<string, NexmarkEvent>(options.inputTopic, { key: string(), value: json<NexmarkEvent>() })
    .mapValues((event) => (event === null ? null : (apply(event) ?? null)))
    .filter((_key, result) => result !== null)
    .to(options.outputTopic, { key: string(), value: json<NonNullable<R>>() });
  try {
    return await timeUntilOutput(options, () => flowApp.start(), () => (flowApp.state() === 'ERROR' ? new Error('the @kafkats/flow app stopped in ERROR') : undefined));
  } finally {
    await flowApp.close();
    await client.disconnect();
  }
}
