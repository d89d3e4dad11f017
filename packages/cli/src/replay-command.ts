import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { startBroker, type RunningBroker } from '@defter/broker';
import { LogDirectoryLockedError } from '@defter/log';
import { ClusterClient, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, READ_COMMITTED, type TopicInfo } from './cluster-client.js';
import type { CliIo } from './io.js';
import { OrderedReader, type PartitionRange } from './ordered-reader.js';
import { partitionsToRead } from './partition-option.js';
import { createProgress } from './progress.js';
import { compileRecordFormat, type FormattableRecord, type RecordFormatter } from './record-format.js';
import { formatRecordJson } from './record-json.js';
import { InProcessTransport, type RequestTransport } from './request-transport.js';
import { nearest } from './suggest.js';
import { describeLogPosition, parseLogPosition, type LogPosition } from './time-spec.js';
import { TopicWriter } from './topic-writer.js';

/**
 * `defter replay TOPIC --from X [--to Y]`: re-reads a slice of a topic, in order, for debugging —
 * to stdout, to a file (`--out`) or into another topic (`--to-topic`). The slice is fixed when the
 * replay starts (`--to` defaults to the end then), so a replay terminates; each partition's
 * bounds are offsets, times resolved per partition with ListOffsets. Records are read
 * read_committed and merged by timestamp across partitions (see `OrderedReader`).
 *
 * `--brokers` reaches a running broker over the network; `--data-dir` opens a stopped broker's
 * data directory in this process (no sockets) and closes it again at the end.
 */

export interface ReplayOptions {
  io: CliIo;
  /** Where to start: an offset or a time (see `parseLogPosition`). */
  from: string;
  /** Where to stop (exclusive); the end of each partition when the replay starts by default. */
  to?: string;
  /** Only this partition. */
  partition?: number;
  /** Write the records to this topic (which must exist). */
  toTopic?: string;
  /** Write the records to this file (JSON lines unless `format`). */
  out?: string;
  /** `consume`'s placeholders instead of JSON lines. */
  format?: string;
  /** A running broker (`host:port[,host:port…]`). */
  bootstrapServer?: string;
  /** A stopped broker's data directory, opened in this process. */
  dataDir?: string;
  quiet: boolean;
  /** What relative times (`-15m`) count back from; now by default. */
  nowMs?: bigint;
}

export interface ReplaySummary {
  readonly records: number;
  readonly partitions: number;
  /** Smallest and largest timestamp replayed (undefined without records). */
  readonly timestampMsMin: bigint | undefined;
  readonly timestampMsMax: bigint | undefined;
}

interface RecordSink {
  /** Where the records go, for the summary ('' for stdout). */
  readonly destination: string;
  write(records: readonly FormattableRecord[]): Promise<void>;
  close(): Promise<void>;
}

export async function replay(topic: string, options: ReplayOptions): Promise<ReplaySummary> {
  if (options.out !== undefined && options.toTopic !== undefined) throw new Error('give either --out or --to-topic, not both');
  if (options.format !== undefined && options.toTopic !== undefined) throw new Error('--format applies to --out and stdout, not to --to-topic (which keeps the records as they are)');
  if (options.dataDir !== undefined && options.bootstrapServer !== undefined) throw new Error('give either --brokers (a running broker) or --data-dir (a stopped one), not both');
  const nowMs = options.nowMs ?? BigInt(Date.now());
  const from = parseLogPosition(options.from, nowMs, '--from');
  const to = options.to === undefined ? undefined : parseLogPosition(options.to, nowMs, '--to');
  if (to !== undefined && from.kind === to.kind && positionValue(from) >= positionValue(to)) {
    throw new Error(`--from (${describeLogPosition(from)}) must come before --to (${describeLogPosition(to)}), which is exclusive`);
  }
  const formatter: RecordFormatter = options.format === undefined ? formatRecordJson : compileRecordFormat(options.format);

  const connection = await connect(options);
  let sink: RecordSink | undefined;
  let summary: ReplaySummary;
  try {
    const { client } = connection;
    const info = await client.topic(topic);
    const partitions = partitionsToRead(info, options.partition);
    const target = options.toTopic === undefined ? undefined : await targetTopic(client, options.toTopic);
    const ranges = await resolveRanges(client, info, partitions, from, to);
    sink =
      target !== undefined
        ? topicSink(new TopicWriter(client, target, { sourcePartitionCount: info.partitions.length }), target.name)
        : options.out !== undefined
          ? await fileSink(options.out, formatter)
          : stdoutSink(options.io, formatter);
    summary = await copy(new OrderedReader(client, info, ranges), sink, ranges, options.quiet);
  } finally {
    await sink?.close();
    await connection.close();
  }
  if (!options.quiet) options.io.err(summaryLine(topic, summary, sink.destination));
  return summary;
}

async function copy(reader: OrderedReader, sink: RecordSink, ranges: readonly PartitionRange[], quiet: boolean): Promise<ReplaySummary> {
  const total = ranges.reduce((sum, range) => sum + Number(range.end - range.start), 0);
  // A bar only where someone watches it: not in a pipe or a log file.
  const progress = createProgress({ verb: 'replayed', total, quiet: quiet || process.stderr.isTTY !== true });
  let records = 0;
  const partitions = new Set<number>();
  let timestampMsMin: bigint | undefined;
  let timestampMsMax: bigint | undefined;
  try {
    for (let chunk = await reader.next(); chunk.length > 0; chunk = await reader.next()) {
      await sink.write(chunk);
      for (const record of chunk) {
        partitions.add(record.partition);
        if (timestampMsMin === undefined || record.timestamp < timestampMsMin) timestampMsMin = record.timestamp;
        if (timestampMsMax === undefined || record.timestamp > timestampMsMax) timestampMsMax = record.timestamp;
      }
      records += chunk.length;
      progress.update(records);
    }
  } finally {
    progress.stop();
  }
  return { records, partitions: partitions.size, timestampMsMin, timestampMsMax };
}

function summaryLine(topic: string, summary: ReplaySummary, destination: string): string {
  const to = destination === '' ? '' : ` to ${destination}`;
  if (summary.records === 0) return `Replayed 0 records from ${topic}${to}: the range holds none.`;
  const range =
    summary.timestampMsMin === summary.timestampMsMax
      ? `at ${isoTime(summary.timestampMsMin!)}`
      : `from ${isoTime(summary.timestampMsMin!)} to ${isoTime(summary.timestampMsMax!)}`;
  return `Replayed ${summary.records} record(s) from ${summary.partitions} partition(s) of ${topic}${to}, timestamps ${range}.`;
}

function isoTime(timestampMs: bigint): string {
  const date = new Date(Number(timestampMs));
  return Number.isNaN(date.getTime()) ? `${timestampMs} ms` : date.toISOString();
}

function positionValue(position: LogPosition): bigint {
  return position.kind === 'offset' ? position.offset : position.timestampMs;
}

/**
 * Each partition's [start, end): offsets clamped to the log (end at most the last stable offset
 * when the replay starts, as read_committed sees it); a time is the first offset at or after it,
 * or the end when no record is that recent.
 */
async function resolveRanges(
  client: ClusterClient<RequestTransport>,
  info: TopicInfo,
  partitions: readonly number[],
  from: LogPosition,
  to: LogPosition | undefined,
): Promise<PartitionRange[]> {
  const earliest = await client.listOffsets(info, partitions, EARLIEST_TIMESTAMP, READ_COMMITTED);
  const latest = await client.listOffsets(info, partitions, LATEST_TIMESTAMP, READ_COMMITTED);
  const resolve = async (position: LogPosition): Promise<(partition: number) => bigint> => {
    if (position.kind === 'offset') return () => position.offset;
    const found = await client.listOffsets(info, partitions, position.timestampMs, READ_COMMITTED);
    return (partition) => {
      const offset = found.get(partition) ?? -1n;
      return offset < 0n ? latest.get(partition)! : offset;
    };
  };
  const startOf = await resolve(from);
  const endOf = to === undefined ? (partition: number) => latest.get(partition)! : await resolve(to);
  return partitions.map((partition) => {
    const low = earliest.get(partition)!;
    const high = latest.get(partition)!;
    const start = clamp(startOf(partition), low, high);
    const end = clamp(endOf(partition), start, high);
    return { partition, start, end };
  });
}

function clamp(value: bigint, low: bigint, high: bigint): bigint {
  return value < low ? low : value > high ? high : value;
}

async function targetTopic(client: ClusterClient<RequestTransport>, name: string): Promise<TopicInfo> {
  const existing = await client.topicNames();
  if (!existing.includes(name)) {
    const suggestion = nearest(name, existing);
    throw new Error(
      `the --to-topic topic '${name}' does not exist` +
        (suggestion === undefined ? `: create it first (defter topics create ${name})` : `. Did you mean '${suggestion}'?`),
    );
  }
  return client.topic(name);
}

interface Connection {
  readonly client: ClusterClient<RequestTransport>;
  close(): Promise<void>;
}

/** A running broker over the network, or a data directory opened in this process. */
async function connect(options: ReplayOptions): Promise<Connection> {
  if (options.dataDir !== undefined) return openDataDir(options.dataDir);
  const addresses = (options.bootstrapServer ?? '').split(',').map((address) => address.trim()).filter((address) => address.length > 0);
  if (addresses.length === 0) throw new Error('--brokers needs at least one host:port');
  let failure: unknown;
  for (const address of addresses) {
    try {
      const client = await ClusterClient.connect(address);
      return { client, close: () => client.close() };
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}

async function openDataDir(dataDir: string): Promise<Connection> {
  // startBroker would create a missing directory: a typo must not replay an empty log.
  if (!existsSync(dataDir)) throw new Error(`data directory '${dataDir}' does not exist`);
  let broker: RunningBroker;
  try {
    broker = await startBroker({ dataDir, listen: false, logLevel: 'error' });
  } catch (error) {
    if (error instanceof LogDirectoryLockedError) {
      throw new Error(`${error.message}: to replay from a running broker, use --brokers host:port`);
    }
    throw error;
  }
  try {
    const client = ClusterClient.inProcess(await InProcessTransport.open(broker.client('defter-replay')));
    return {
      client,
      close: async () => {
        await client.close();
        await broker.close();
      },
    };
  } catch (error) {
    await broker.close();
    throw error;
  }
}

function stdoutSink(io: CliIo, formatter: RecordFormatter): RecordSink {
  return {
    destination: '',
    write: async (records) => io.out(records.map(formatter).join('\n')),
    close: async () => undefined,
  };
}

async function fileSink(path: string, formatter: RecordFormatter): Promise<RecordSink> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'w');
  } catch (error) {
    throw new Error(`cannot write to '${path}': ${describeFileError(error)}`);
  }
  return {
    destination: path,
    write: async (records) => {
      await handle.write(records.map(formatter).join('\n') + '\n');
    },
    close: () => handle.close(),
  };
}

function topicSink(writer: TopicWriter, topic: string): RecordSink {
  return { destination: `topic ${topic}`, write: (records) => writer.write(records), close: async () => undefined };
}

function describeFileError(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOENT':
      return 'its directory does not exist';
    case 'EISDIR':
      return 'it is a directory';
    case 'EROFS':
      return 'the file system is read-only';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}
