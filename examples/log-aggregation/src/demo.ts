/**
 * The one command: `npx --yes pnpm@10.34.8 --filter @defter/example-log-aggregation start`.
 * Starts a broker in this process on a data directory, ships half an hour of three services'
 * logs to `logs-raw`, runs the pipeline until every line is routed, closes the broker, then
 * replays the incident window of `logs-error` from the stopped data directory — what
 * `defter replay logs-error --from <t1> --to <t2> --out <file> --data-dir <dir>` does — and
 * prints the incident's lines.
 */
import { readFile, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { partitionForKey } from '@defter/broker';
import { replay, type CliIo, type RecordJson } from '@defter/cli';
import { requireEmptyDirectory, runIfEntryPoint, startDemoBroker } from '@defter/example-common';
import { EmbeddedLog, type StreamLog } from '@defter/streams';
import { readTopic, runUntilProcessed, type StoredRecord } from '@defter/streams/testing';
import type { LogEntry } from './log-line.js';
import { LEVEL_TOPICS, logAggregationApp, PARSE_PROBLEM_HEADER, RAW_TOPIC, UNPARSED_TOPIC } from './pipeline.js';
import { DEFAULT_SAMPLE_LOGS, sampleLogs, type SampleLogsOptions } from './sample-logs.js';

export interface LogAggregationDemoOptions {
  /** An empty (or absent) directory the broker keeps its data in. */
  readonly dataDir: string;
  /** Where the replay writes the incident's error lines (JSON lines). */
  readonly incidentFile: string;
  /** The incident window, ISO-8601 UTC; `to` is exclusive. */
  readonly incident?: { readonly from: string; readonly to: string };
  readonly logs?: SampleLogsOptions;
  /** Where the report goes, one line at a time (nowhere by default). */
  readonly print?: (line: string) => void;
}

/** A record of an output topic, decoded for the report. */
export interface RoutedLine {
  readonly partition: number;
  readonly offset: bigint;
  readonly timestamp: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string>>;
}

/** One line of the replay's output file, as `defter replay` writes it. */
export type ReplayedRecord = RecordJson;

export interface LogAggregationDemoResult {
  readonly linesIn: number;
  /** Each output topic's records, in time order (ties by partition, then offset). */
  readonly topics: Readonly<Record<string, readonly RoutedLine[]>>;
  readonly incident: { readonly from: string; readonly to: string; readonly command: string; readonly records: readonly ReplayedRecord[] };
}

export const DEFAULT_INCIDENT = { from: '2026-11-23T10:12:00Z', to: '2026-11-23T10:18:00Z' } as const;
const PARTITIONS = 3;
const PROCESSING_TIMEOUT_MS = 120_000;
const OUTPUT_TOPICS = [LEVEL_TOPICS.ERROR, LEVEL_TOPICS.WARN, LEVEL_TOPICS.INFO, UNPARSED_TOPIC] as const;

export async function runLogAggregationDemo(options: LogAggregationDemoOptions): Promise<LogAggregationDemoResult> {
  const print = options.print ?? (() => undefined);
  const incident = options.incident ?? DEFAULT_INCIDENT;
  const lines = sampleLogs(options.logs ?? DEFAULT_SAMPLE_LOGS);
  await requireEmptyDirectory(options.dataDir);

  const topics: Record<string, RoutedLine[]> = {};
  const broker = await startDemoBroker(options.dataDir);
  try {
    const log: StreamLog = new EmbeddedLog({ broker, clientId: 'log-aggregation-demo' });
    await log.connect();
    try {
      await log.createTopics([RAW_TOPIC, ...OUTPUT_TOPICS].map((name) => ({ name, partitions: PARTITIONS })));
      const producer = await log.createProducer({});
      await producer.send(
        lines.map((line) => {
          const key = Buffer.from(line.service, 'utf8');
          return { topic: RAW_TOPIC, partition: partitionForKey(key, PARTITIONS), key, value: Buffer.from(line.text, 'utf8'), headers: {}, timestamp: line.shippedAtMs };
        }),
      );
      await producer.close();
    } finally {
      await log.close();
    }

    // The app shares the demo's broker; against a real Kafka it would be `{ brokers: ['host:9092'] }`.
    await runUntilProcessed(logAggregationApp({ log: { broker } }), lines.length, { timeoutMs: PROCESSING_TIMEOUT_MS });
    for (const topic of OUTPUT_TOPICS) topics[topic] = inTimeOrder(await readTopic(broker, topic, PARTITIONS, { clientId: 'log-aggregation-demo' })).map(routedLine);
  } finally {
    // The replay opens the data directory itself: the broker must have let go of it.
    await broker.close();
  }

  const command = `defter replay ${LEVEL_TOPICS.ERROR} --from ${incident.from} --to ${incident.to} --out ${options.incidentFile} --data-dir ${options.dataDir}`;
  await replay(LEVEL_TOPICS.ERROR, { io: silentIo(), from: incident.from, to: incident.to, out: options.incidentFile, dataDir: options.dataDir, quiet: true });
  const replayed = (await readFile(options.incidentFile, 'utf8'))
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as ReplayedRecord);

  const result: LogAggregationDemoResult = { linesIn: lines.length, topics, incident: { ...incident, command, records: replayed } };
  for (const line of report(result)) print(line);
  return result;
}

/** The report the README shows. */
export function report(result: LogAggregationDemoResult): string[] {
  const count = (topic: string): number => result.topics[topic]?.length ?? 0;
  const routed = OUTPUT_TOPICS.map((topic) => `${topic} ${count(topic)}`).join(', ');
  const debugDropped = result.linesIn - OUTPUT_TOPICS.reduce((sum, topic) => sum + count(topic), 0);
  const lines = [`${result.linesIn} lines from 3 services in ${RAW_TOPIC}: ${routed}; ${debugDropped} DEBUG lines dropped.`, '', `${UNPARSED_TOPIC}:`];
  for (const record of result.topics[UNPARSED_TOPIC] ?? []) {
    lines.push(`  ${(record.key ?? '').padEnd(8)} ${JSON.stringify(record.value)}: ${record.headers[PARSE_PROBLEM_HEADER]}`);
  }
  lines.push('', `The incident, ${result.incident.from} to ${result.incident.to}:`, `$ ${result.incident.command}`);
  for (const record of result.incident.records) {
    const entry = JSON.parse(record.value ?? 'null') as LogEntry;
    lines.push(`  ${entry.at}  ${entry.service.padEnd(8)} ${entry.message}${formatFields(entry.fields)}`);
  }
  lines.push(`${result.incident.records.length} error lines replayed, in time order.`);
  return lines;
}

function formatFields(fields: Readonly<Record<string, unknown>>): string {
  const pairs = Object.entries(fields).map(([name, value]) => `${name}=${String(value)}`);
  return pairs.length === 0 ? '' : ` ${pairs.join(' ')}`;
}

function inTimeOrder(records: StoredRecord[]): StoredRecord[] {
  return [...records].sort((a, b) => a.timestamp - b.timestamp || a.partition - b.partition || Number(a.offset - b.offset));
}

function routedLine(record: StoredRecord): RoutedLine {
  return {
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestamp,
    key: record.key?.toString('utf8') ?? null,
    value: record.value?.toString('utf8') ?? null,
    headers: record.headers,
  };
}

/** The replay's messages are not part of the demo's report; errors still reject. */
function silentIo(): CliIo {
  return { out: () => undefined, err: () => undefined, input: Readable.from([]), env: {} };
}

async function main(): Promise<void> {
  const dataDir = resolve('data-log-aggregation');
  const incidentFile = resolve('incident.jsonl');
  // The demo's own directory and file: each run starts from nothing, so the output is the one the README shows.
  await rm(dataDir, { recursive: true, force: true });
  await rm(incidentFile, { force: true });
  console.log(`data directory: ${dataDir}\n`);
  await runLogAggregationDemo({ dataDir, incidentFile, print: (line) => console.log(line) });
}

runIfEntryPoint(import.meta.url, main);
