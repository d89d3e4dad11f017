/**
 * The one command: `npx --yes pnpm@10.34.8 --filter @defter/example-hot-partitions start`.
 * Starts a broker in this process on a data directory, creates the topics, writes a seeded
 * night of skewed movie views, runs the pipeline until every view is processed, then prints the
 * per-partition counts of both output topics side by side.
 */
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { partitionForKey, type RunningBroker } from '@defter/broker';
import { requireEmptyDirectory, runIfEntryPoint, startDemoBroker } from '@defter/example-common';
import { ApiKey, ErrorCode } from '@defter/protocol';
import { EmbeddedLog, type LogOption, type OutgoingRecord, type StreamLog } from '@defter/streams';
import { runUntilProcessed } from '@defter/streams/testing';
import { DEFAULT_MOVIE_VIEWS, generateMovieViews, type MovieViewsOptions } from './movie-views.js';
import { BY_MOVIE_TOPIC, hotPartitionsApp, SALT_BUCKETS_DEFAULT, SALTED_TOPIC, VIEWS_TOPIC } from './pipeline.js';

export interface HotPartitionsDemoOptions {
  /** An empty (or absent) directory the broker keeps its data in. */
  readonly dataDir: string;
  readonly views?: MovieViewsOptions;
  readonly partitions?: number;
  readonly saltBuckets?: number;
  /** Where the report goes, one line at a time (nowhere by default). */
  readonly print?: (line: string) => void;
}

/** Where one output topic's records landed. */
export interface TopicSpread {
  readonly topic: string;
  /** Records per partition, by partition number. */
  readonly counts: readonly number[];
  /** The fullest partition's count over the mean: 1 is perfectly even. */
  readonly skew: number;
}

export interface HotPartitionsDemoResult {
  readonly viewsCount: number;
  readonly blockbusterViews: number;
  readonly byMovie: TopicSpread;
  readonly salted: TopicSpread;
}

const PARTITIONS_DEFAULT = 8;
const PROCESSING_TIMEOUT_MS = 120_000;
const PRODUCE_CHUNK_RECORDS = 1_000;

export async function runHotPartitionsDemo(options: HotPartitionsDemoOptions): Promise<HotPartitionsDemoResult> {
  const print = options.print ?? (() => undefined);
  const partitions = options.partitions ?? PARTITIONS_DEFAULT;
  const views = generateMovieViews(options.views ?? DEFAULT_MOVIE_VIEWS);
  await requireEmptyDirectory(options.dataDir);

  const broker = await startDemoBroker(options.dataDir);
  try {
    const log = demoLog(broker);
    await log.connect();
    try {
      await log.createTopics([VIEWS_TOPIC, BY_MOVIE_TOPIC, SALTED_TOPIC].map((name) => ({ name, partitions })));
      // The input is keyed by user, as a player app would send it: evenly spread.
      await produceAll(
        log,
        views.map((view) => {
          const key = Buffer.from(view.userId, 'utf8');
          return { topic: VIEWS_TOPIC, partition: partitionForKey(key, partitions), key, value: Buffer.from(JSON.stringify(view)), headers: {}, timestamp: view.at };
        }),
      );
    } finally {
      await log.close();
    }

    const pipeline = hotPartitionsApp({ log: appLog(broker), saltBuckets: options.saltBuckets ?? SALT_BUCKETS_DEFAULT });
    await runUntilProcessed(pipeline, views.length, { timeoutMs: PROCESSING_TIMEOUT_MS });

    const byMovie = spreadOf(BY_MOVIE_TOPIC, await partitionEndOffsets(broker, BY_MOVIE_TOPIC, partitions));
    const salted = spreadOf(SALTED_TOPIC, await partitionEndOffsets(broker, SALTED_TOPIC, partitions));
    const blockbusterViews = views.filter((view) => view.movieId === 'm001').length;
    const result = { viewsCount: views.length, blockbusterViews, byMovie, salted };
    for (const line of report(result)) print(line);
    return result;
  } finally {
    await broker.close();
  }
}

/** The report the README shows: both topics' partitions side by side, and the skew of each. */
export function report(result: HotPartitionsDemoResult): string[] {
  const { byMovie, salted } = result;
  const share = ((100 * result.blockbusterViews) / result.viewsCount).toFixed(1);
  const lines = [
    `${result.viewsCount} views; the blockbuster m001 has ${result.blockbusterViews} of them (${share}%).`,
    '',
    `partition  ${byMovie.topic.padStart(14)}  ${salted.topic.padStart(14)}`,
  ];
  byMovie.counts.forEach((count, partition) => {
    lines.push(`${String(partition).padStart(9)}  ${String(count).padStart(14)}  ${String(salted.counts[partition] ?? 0).padStart(14)}`);
  });
  lines.push(`${'max/mean'.padStart(9)}  ${byMovie.skew.toFixed(2).padStart(14)}  ${salted.skew.toFixed(2).padStart(14)}`);
  return lines;
}

export function spreadOf(topic: string, counts: readonly number[]): TopicSpread {
  const total = counts.reduce((sum, count) => sum + count, 0);
  const mean = total / counts.length;
  return { topic, counts, skew: mean === 0 ? 0 : Math.max(...counts) / mean };
}

/** The log the demo creates topics and writes the input through. */
function demoLog(broker: RunningBroker): StreamLog {
  return new EmbeddedLog({ broker, clientId: 'hot-partitions-demo' });
}

/** The log the pipeline runs on: the same broker. With a real Kafka, `{ brokers: ['host:9092'] }`. */
function appLog(broker: RunningBroker): LogOption {
  return { broker };
}

async function produceAll(log: StreamLog, records: readonly OutgoingRecord[]): Promise<void> {
  const producer = await log.createProducer({});
  try {
    for (let index = 0; index < records.length; index += PRODUCE_CHUNK_RECORDS) {
      await producer.send(records.slice(index, index + PRODUCE_CHUNK_RECORDS));
    }
  } finally {
    await producer.close();
  }
}

/** Each partition's log end offset, i.e. its record count (the topics are new and never compacted). */
async function partitionEndOffsets(broker: RunningBroker, topic: string, partitions: number): Promise<number[]> {
  const response = await broker.client('hot-partitions-demo').send(ApiKey.ListOffsets, 7, {
    replicaId: -1,
    isolationLevel: 0,
    topics: [{ name: topic, partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp: -1n })) }],
  });
  const counts = new Array<number>(partitions).fill(0);
  for (const partition of response.topics[0]?.partitions ?? []) {
    if (partition.errorCode !== ErrorCode.NONE) throw new Error(`cannot read the end offset of ${topic}-${partition.partitionIndex}: error code ${partition.errorCode}`);
    counts[partition.partitionIndex] = Number(partition.offset);
  }
  return counts;
}

async function main(): Promise<void> {
  const dataDir = resolve('data-hot-partitions');
  // The demo's own directory: each run starts from nothing, so the counts are the ones the README shows.
  await rm(dataDir, { recursive: true, force: true });
  console.log(`data directory: ${dataDir}\n`);
  await runHotPartitionsDemo({ dataDir, print: (line) => console.log(line) });
}

runIfEntryPoint(import.meta.url, main);
