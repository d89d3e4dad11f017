import { once } from 'node:events';
import { ClusterClient, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP } from './cluster-client.js';
import type { CliIo } from './io.js';
import { PartitionFetcher, type FetchPosition } from './partition-fetcher.js';
import { partitionsToRead } from './partition-option.js';
import { createProgress } from './progress.js';
import { compileRecordFormat } from './record-format.js';

/**
 * `defter consume TOPIC`: reads with Fetch over the raw protocol (no consumer group: groups do not
 * exist yet, and a console reader needs none). Starts at the latest offset, or the earliest with
 * `--from-beginning`, or `--offset N` (negative: N before the end); stops after `--max-messages`,
 * at the end of every partition with `--exit-at-end`, or on Ctrl-C.
 */

export interface ConsumeOptions {
  bootstrapServer: string;
  io: CliIo;
  fromBeginning: boolean;
  offset?: bigint;
  partition?: number;
  maxMessages?: number;
  format: string;
  exitAtEnd: boolean;
  quiet: boolean;
  /** Resolves when consuming should stop; SIGINT or SIGTERM by default. */
  stopSignal?: Promise<unknown>;
}

export async function consume(topic: string, options: ConsumeOptions): Promise<number> {
  const formatter = compileRecordFormat(options.format);
  if (options.fromBeginning && options.offset !== undefined) throw new Error('give either --from-beginning or --offset, not both');
  const client = await ClusterClient.connect(options.bootstrapServer);
  let consumed = 0;
  const progress = createProgress({ verb: 'consumed', quiet: options.quiet, ...(options.maxMessages === undefined ? {} : { total: options.maxMessages }) });
  let stopped = false;
  const stop = options.stopSignal ?? Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  void stop.then(() => (stopped = true));
  try {
    const info = await client.topic(topic);
    const partitions = partitionsToRead(info, options.partition);
    const positions = await startPositions(client, info, partitions, options);
    const fetcher = new PartitionFetcher(client, info, positions);
    while (!stopped) {
      if (options.exitAtEnd && fetcher.atEnd()) break;
      const records = await fetcher.fetchOnce();
      const wanted = options.maxMessages === undefined ? records : records.slice(0, options.maxMessages - consumed);
      if (wanted.length > 0) {
        options.io.out(wanted.map(formatter).join('\n'));
        consumed += wanted.length;
        progress.update(consumed);
      }
      if (options.maxMessages !== undefined && consumed >= options.maxMessages) break;
    }
  } finally {
    progress.stop();
    await client.close();
  }
  if (!options.quiet) options.io.err(`Consumed ${consumed} record(s) from ${topic}.`);
  return consumed;
}

async function startPositions(
  client: ClusterClient,
  info: Awaited<ReturnType<ClusterClient['topic']>>,
  partitions: readonly number[],
  options: ConsumeOptions,
): Promise<FetchPosition[]> {
  const earliest = await client.listOffsets(info, partitions, EARLIEST_TIMESTAMP);
  const latest = await client.listOffsets(info, partitions, LATEST_TIMESTAMP);
  return partitions.map((partition) => {
    const low = earliest.get(partition) ?? 0n;
    const high = latest.get(partition) ?? 0n;
    let offset: bigint;
    if (options.fromBeginning) offset = low;
    else if (options.offset === undefined) offset = high;
    else if (options.offset < 0n) offset = high + options.offset < low ? low : high + options.offset;
    else {
      offset = options.offset;
      if (offset < low || offset > high) {
        throw new Error(`offset ${offset} is outside partition ${partition} of '${info.name}', which holds offsets ${low} to ${high} (exclusive)`);
      }
    }
    return { partition, offset, highWatermark: -1n };
  });
}
