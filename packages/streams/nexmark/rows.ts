/**
 * The bench's rows for our own runtime, one function per row, each timed from its start until the
 * output topic holds the expected count (the output is polled, not consumed):
 * - `runAppRow`: the query as a streams app (`queries.ts`) on the embedded log;
 * - `runLoopRow`: a hand-written consume → transform → produce loop on the same log's consumer and
 *   producer (what a user without the DSL would write): per batch, deserialize, apply, serialize,
 *   send, await the acknowledgement, commit;
 * - `runCeilingRow`: no log at all — deserialize, apply, serialize over the encoded events in
 *   memory: the CPU ceiling of the per-event work.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { partitionForKey, type RunningBroker } from '@defter/broker';
import { EmbeddedLog, Serdes, app, type OutgoingRecord } from '../src/index.js';
import { nexmarkEventSerde } from './event-serde.js';
import { endOffsets } from './output-check.js';
import type { NexmarkQuery, NexmarkTopology } from './queries.js';

export interface RowTiming {
  readonly seconds: number;
  /** This process's CPU seconds (user + system) during the row: above `seconds` means more than one core worked. */
  readonly cpuSeconds: number;
}

export interface LogRowOptions {
  readonly broker: RunningBroker;
  readonly inputTopic: string;
  readonly outputTopic: string;
  readonly partitions: number;
  readonly expectedRecords: number;
  readonly pollIntervalMs: number;
  readonly timeoutMs: number;
}

/** Times `run` (which starts the client) until the output holds `expectedRecords`; `failure` is checked at each poll. */
export async function timeUntilOutput(options: LogRowOptions, start: () => Promise<void>, failure: () => Error | undefined): Promise<RowTiming> {
  const client = options.broker.client('nexmark-probe');
  const cpuAtStart = process.cpuUsage();
  const startedMs = performance.now();
  await start();
  const deadlineMs = startedMs + options.timeoutMs;
  for (;;) {
    const error = failure();
    if (error !== undefined) throw error;
    const written = (await endOffsets(client, options.outputTopic, options.partitions)).reduce((total, offset) => total + offset, 0n);
    if (written >= BigInt(options.expectedRecords)) break;
    if (performance.now() > deadlineMs) throw new Error(`gave up after ${options.timeoutMs} ms: ${options.outputTopic} holds ${written} of ${options.expectedRecords} records`);
    await sleep(options.pollIntervalMs);
  }
  const seconds = (performance.now() - startedMs) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/** `stateDir`: where a stateful query's stores live (the app's default, `./state`, otherwise). */
export async function runAppRow<R>(query: NexmarkTopology<R>, options: LogRowOptions & { readonly applicationId: string; readonly stateDir?: string }): Promise<RowTiming> {
  const streamsApp = app({ applicationId: options.applicationId, log: { broker: options.broker }, shutdownOnSignals: false, ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }) });
  const events = streamsApp.stream(options.inputTopic, { key: Serdes.string(), value: nexmarkEventSerde() });
  query.build(events).to(options.outputTopic, { key: Serdes.string(), value: Serdes.json<R>() });
  try {
    return await timeUntilOutput(options, () => streamsApp.start(), () => (streamsApp.state === 'ERROR' ? (streamsApp.error ?? new Error('the app stopped in ERROR')) : undefined));
  } finally {
    await streamsApp.close();
  }
}

export async function runLoopRow<R>(query: NexmarkQuery<R>, options: LogRowOptions & { readonly groupId: string }): Promise<RowTiming> {
  const log = new EmbeddedLog({ broker: options.broker, clientId: options.groupId });
  await log.connect();
  const producer = await log.createProducer({});
  const consumer = log.createConsumer({
    groupId: options.groupId,
    topics: [options.inputTopic],
    isolationLevel: 'read_uncommitted',
    fetchMaxBytesPerPartition: 1_048_576,
    fetchMaxWaitMs: 500,
    partitionsConcurrentlyMax: 4,
    sessionTimeoutMs: 30_000,
    heartbeatIntervalMs: 3_000,
    fromBeginning: true,
  });
  const serde = nexmarkEventSerde();
  let crash: Error | undefined;
  try {
    return await timeUntilOutput(
      options,
      () =>
        consumer.run({
          onAssigned: () => {},
          onRevoked: () => {},
          onCrash: (error) => {
            crash = error;
          },
          onBatch: async (batch) => {
            const context = { topic: batch.topic, role: 'value', partition: batch.partition } as const;
            const outputs: OutgoingRecord[] = [];
            for (const record of batch.records) {
              const result = query.apply(serde.deserialize(record.value, context)!);
              if (result === undefined) continue;
              const partition = record.key === null ? batch.partition : partitionForKey(record.key, options.partitions);
              outputs.push({ topic: options.outputTopic, partition, key: record.key, value: Buffer.from(JSON.stringify(result)), headers: {}, timestamp: record.timestamp });
            }
            if (outputs.length > 0) await producer.send(outputs);
            await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: batch.nextOffset }]);
          },
        }),
      () => crash,
    );
  } finally {
    await consumer.close();
    await producer.close();
    await log.close();
  }
}

export interface CeilingResult extends RowTiming {
  readonly outputs: Array<{ key: Buffer; value: Buffer }>;
}

/** The per-event work alone: `encoded` values (with their keys) deserialized, the query applied, results serialized. */
export function runCeilingRow<R>(query: NexmarkQuery<R>, encoded: ReadonlyArray<{ key: Buffer; value: Buffer }>, inputTopic: string): CeilingResult {
  const serde = nexmarkEventSerde();
  const context = { topic: inputTopic, role: 'value' } as const;
  const outputs: Array<{ key: Buffer; value: Buffer }> = [];
  const cpuAtStart = process.cpuUsage();
  const startedMs = performance.now();
  for (const { key, value } of encoded) {
    const result = query.apply(serde.deserialize(value, context)!);
    if (result !== undefined) outputs.push({ key, value: Buffer.from(JSON.stringify(result)) });
  }
  const seconds = (performance.now() - startedMs) / 1000;
  const cpu = process.cpuUsage(cpuAtStart);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, outputs };
}
