import { createInterface } from 'node:readline';
import kafkajs, { type CompressionTypes, type IHeaders, type Message } from 'kafkajs';
import { partitionForKey } from '@defter/broker';
import type { CliIo } from './io.js';
import { describeClientError, createKafka } from './kafkajs-client.js';
import { createProgress } from './progress.js';
import { unknownTopicMessage } from './suggest.js';

/**
 * `defter produce TOPIC`: one record per line of standard input. With `--key-separator`, the text
 * before the first separator is the key (a line without it has a null key). Keyed records go to
 * Kafka's murmur2 partition for their key, unkeyed ones round-robin, `--partition` overrides both.
 * Lines are sent in chunks (records or bytes, whichever fills first), one chunk in flight at a time
 * so that records keep their order.
 */

export interface ProduceOptions {
  bootstrapServer: string;
  io: CliIo;
  keySeparator?: string;
  partition?: number;
  acks: string;
  headers: readonly string[];
  compression: string;
  batchRecords: number;
  batchBytes: number;
  quiet: boolean;
}

const ACKS: Readonly<Record<string, number>> = { '0': 0, '1': 1, '-1': -1, all: -1 };

export const COMPRESSION_NAMES: Readonly<Record<string, CompressionTypes>> = {
  none: kafkajs.CompressionTypes.None,
  gzip: kafkajs.CompressionTypes.GZIP,
  snappy: kafkajs.CompressionTypes.Snappy,
  lz4: kafkajs.CompressionTypes.LZ4,
  zstd: kafkajs.CompressionTypes.ZSTD,
};

/** Per-record overhead counted towards the chunk's byte budget (offset, timestamp, lengths). */
const RECORD_OVERHEAD_BYTES = 16;

export async function produce(topic: string, options: ProduceOptions): Promise<number> {
  const acks = ACKS[options.acks];
  if (acks === undefined) throw new Error(`--acks must be 0, 1, -1 or all, not '${options.acks}'`);
  const compression = COMPRESSION_NAMES[options.compression];
  if (compression === undefined) throw new Error(`--compression must be one of ${Object.keys(COMPRESSION_NAMES).join(', ')}, not '${options.compression}'`);
  if (options.keySeparator === '') throw new Error('--key-separator must not be empty');
  const headers = parseHeaders(options.headers);

  const kafka = createKafka(options.bootstrapServer);
  const admin = kafka.admin();
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false });
  let sent = 0;
  const progress = createProgress({ verb: 'produced', quiet: options.quiet });
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    if (!topics.includes(topic)) throw new UserError(unknownTopicMessage(topic, topics));
    const partitionCount = (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions.length ?? 0;
    if (partitionCount === 0) throw new UserError(`topic '${topic}' has no partitions`);
    if (options.partition !== undefined && options.partition >= partitionCount) {
      throw new UserError(`topic '${topic}' has ${partitionCount} partition(s): --partition must be below ${partitionCount}`);
    }
    await producer.connect();

    let roundRobin = 0;
    let chunk: Message[] = [];
    let chunkBytes = 0;
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return;
      await producer.send({ topic, messages: chunk, acks, compression });
      sent += chunk.length;
      progress.update(sent);
      chunk = [];
      chunkBytes = 0;
    };
    const lines = createInterface({ input: options.io.input, crlfDelay: Infinity });
    for await (const line of lines) {
      let key: string | null = null;
      let value = line;
      if (options.keySeparator !== undefined) {
        const at = line.indexOf(options.keySeparator);
        if (at >= 0) {
          key = line.slice(0, at);
          value = line.slice(at + options.keySeparator.length);
        }
      }
      const keyBytes = key === null ? null : Buffer.from(key);
      const partition =
        options.partition ?? (keyBytes !== null ? partitionForKey(keyBytes, partitionCount) : roundRobin++ % partitionCount);
      const valueBytes = Buffer.from(value);
      chunk.push({ key: keyBytes, value: valueBytes, partition, ...(headers === undefined ? {} : { headers }) });
      chunkBytes += (keyBytes?.length ?? 0) + valueBytes.length + RECORD_OVERHEAD_BYTES;
      if (chunk.length >= options.batchRecords || chunkBytes >= options.batchBytes) await flush();
    }
    await flush();
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new Error(`${describeClientError(error, options.bootstrapServer)}${sent > 0 ? ` (after ${sent} records were sent)` : ''}`);
  } finally {
    progress.stop();
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
  if (!options.quiet) options.io.err(`Produced ${sent} record(s) to ${topic}.`);
  return sent;
}

/** A failure already phrased for the user (not a kafkajs error to translate). */
class UserError extends Error {}

function parseHeaders(pairs: readonly string[]): IHeaders | undefined {
  if (pairs.length === 0) return undefined;
  const headers: IHeaders = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--header expects key=value, got '${pair}'`);
    const key = pair.slice(0, at);
    const value = Buffer.from(pair.slice(at + 1));
    const existing = headers[key];
    // kafkajs sends an array value as repeated headers with one key, as Kafka allows.
    headers[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing as Buffer]), value];
  }
  return headers;
}
