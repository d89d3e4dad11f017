/**
 * How a row knows it is done without consuming the output: it polls the output topic's end
 * offsets and the group's committed offsets. Two probes — the in-process client (the embedded row;
 * no socket) and a kafkajs admin (the network rows) — answer the same two questions.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { ApiKey, ErrorCode } from '@defter/protocol';
import type { InProcessClient, RunningBroker } from '@defter/broker';

export interface OffsetProbe {
  /** The end offset of each partition a read_committed reader sees (the last stable offset). */
  endOffsets(topic: string, partitions: number): Promise<bigint[]>;
  /** The group's committed offset of each partition (-1 where nothing is committed). */
  committedOffsets(groupId: string, topic: string, partitions: number): Promise<bigint[]>;
  close(): Promise<void>;
}

const LATEST_TIMESTAMP = -1n;
const READ_COMMITTED = 1;

/** Asks a broker of this process through its in-process client. */
export class InProcessOffsetProbe implements OffsetProbe {
  private readonly client: InProcessClient;

  constructor(broker: RunningBroker) {
    this.client = broker.client('bench-probe');
  }

  async endOffsets(topic: string, partitions: number): Promise<bigint[]> {
    const response = await this.client.send(ApiKey.ListOffsets, 7, {
      replicaId: -1,
      isolationLevel: READ_COMMITTED,
      topics: [{ name: topic, partitions: indexes(partitions).map((partitionIndex) => ({ partitionIndex, currentLeaderEpoch: -1, timestamp: LATEST_TIMESTAMP })) }],
    });
    const answered = response.topics[0]?.partitions ?? [];
    return indexes(partitions).map((index) => {
      const partition = answered.find((entry) => entry.partitionIndex === index);
      if (partition === undefined || partition.errorCode !== ErrorCode.NONE || partition.offset === undefined) {
        throw new Error(`ListOffsets for ${topic}-${index} failed with error code ${String(partition?.errorCode)}`);
      }
      return partition.offset;
    });
  }

  async committedOffsets(groupId: string, topic: string, partitions: number): Promise<bigint[]> {
    const response = await this.client.send(ApiKey.OffsetFetch, 7, { groupId, topics: [{ name: topic, partitionIndexes: indexes(partitions) }], requireStable: false });
    const answered = response.topics?.[0]?.partitions ?? [];
    return indexes(partitions).map((index) => answered.find((entry) => entry.partitionIndex === index)?.committedOffset ?? -1n);
  }

  async close(): Promise<void> {}
}

/** Asks a broker over the network through a kafkajs admin client. */
export class KafkajsOffsetProbe implements OffsetProbe {
  private readonly admin: Admin;

  private constructor(admin: Admin) {
    this.admin = admin;
  }

  static async connect(bootstrap: string): Promise<KafkajsOffsetProbe> {
    const admin = new Kafka({ clientId: 'bench-probe', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    return new KafkajsOffsetProbe(admin);
  }

  async endOffsets(topic: string, partitions: number): Promise<bigint[]> {
    // kafkajs's ListOffsets is read_committed: `offset` is the last stable offset.
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return indexes(partitions).map((index) => BigInt(offsets.find((entry) => entry.partition === index)?.offset ?? '-1'));
  }

  async committedOffsets(groupId: string, topic: string, partitions: number): Promise<bigint[]> {
    const [result] = await this.admin.fetchOffsets({ groupId, topics: [topic] });
    return indexes(partitions).map((index) => BigInt(result?.partitions.find((entry) => entry.partition === index)?.offset ?? '-1'));
  }

  async close(): Promise<void> {
    await this.admin.disconnect();
  }
}

export interface CompletionOptions {
  readonly probe: OffsetProbe;
  readonly pollIntervalMs: number;
  /** The wait gives up (rejects) after this long. */
  readonly timeoutMs: number;
  /** Checked at every poll: a row whose client failed stops waiting at once. */
  readonly failure: () => Error | undefined;
}

/** Resolves once the sum of `topic`'s end offsets reaches `records`; resolves with that sum. */
export async function waitForOutput(options: CompletionOptions, topic: string, partitions: number, records: number): Promise<bigint> {
  let total = 0n;
  await pollUntil(options, `${records} records in ${topic}`, async () => {
    total = sum(await options.probe.endOffsets(topic, partitions));
    return total >= BigInt(records);
  });
  return total;
}

/** Resolves once the group's committed offsets of `topic` equal `endOffsets`, partition by partition. */
export async function waitForCommitted(options: CompletionOptions, groupId: string, topic: string, endOffsets: readonly bigint[]): Promise<void> {
  await pollUntil(options, `group ${groupId} to commit ${topic} up to ${endOffsets.join(',')}`, async () => {
    const committed = await options.probe.committedOffsets(groupId, topic, endOffsets.length);
    return committed.every((offset, index) => offset === endOffsets[index]);
  });
}

async function pollUntil(options: CompletionOptions, what: string, done: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    const failure = options.failure();
    if (failure !== undefined) throw failure;
    if (await done()) return;
    if (performance.now() > deadline) throw new Error(`gave up after ${options.timeoutMs} ms waiting for ${what}`);
    await sleep(options.pollIntervalMs);
  }
}

export function sum(values: readonly bigint[]): bigint {
  return values.reduce((total, value) => total + value, 0n);
}

function indexes(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}
