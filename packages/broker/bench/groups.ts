/**
 * Consumer groups, measured on loopback against a broker in its own process:
 *
 * - formation: 10 members join a group on a 100-partition topic at once; the time until every
 *   member holds its partitions of one generation (raw-protocol members, written here: JoinGroup
 *   with the MEMBER_ID_REQUIRED round trip, a leader that assigns round-robin, SyncGroup, heartbeats);
 * - rebalance after a crash: one member's socket is destroyed without a LeaveGroup; the time until
 *   the nine survivors hold all 100 partitions, minus the session timeout the coordinator must wait;
 * - commit throughput: OffsetCommit requests pipelined on one connection and spread over ten (one
 *   partition per request, and 100 per request), and kafkajs `commitOffsets` from a group member as
 *   the baseline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import {
  ApiKey,
  ErrorCode,
  FrameDecoder,
  Reader,
  Writer,
  decodeResponse,
  encodeRequest,
  type RequestDataByApiKey,
  type ResponseDataByApiKey,
} from '@defter/protocol';

const MEMBERS = 10;
const PARTITIONS = 100;
const TOPIC = 'group-bench';
const SESSION_TIMEOUT_MS = 1_000;
const HEARTBEAT_INTERVAL_MS = 100;
const REBALANCE_TIMEOUT_MS = 10_000;
const COMMITS_IN_FLIGHT = 100;
/** Connections of the multi-connection commit rows (a group-commit opportunity for the broker). */
const COMMIT_CONNECTIONS = 10;
const WAIT_MS_MAX = 60_000;

const JOIN_VERSION = 5;
const SYNC_VERSION = 3;
const HEARTBEAT_VERSION = 3;
const LEAVE_VERSION = 3;
const COMMIT_VERSION = 7;

type ApiKeyWithResponse = keyof RequestDataByApiKey & keyof ResponseDataByApiKey;

/** One connection that pipelines requests and matches responses by correlation id. */
class BenchConnection {
  private readonly frames = new FrameDecoder();
  private readonly pending = new Map<number, { resolve: (frame: Buffer) => void; reject: (error: Error) => void }>();
  private nextCorrelationId = 1;
  private failure: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.frames.push(chunk)) {
        const correlationId = frame.readInt32BE(0);
        const request = this.pending.get(correlationId);
        this.pending.delete(correlationId);
        request?.resolve(frame);
      }
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static async open(port: number): Promise<BenchConnection> {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    await once(socket, 'connect');
    return new BenchConnection(socket);
  }

  async send<K extends ApiKeyWithResponse>(apiKey: K, apiVersion: number, body: RequestDataByApiKey[K]): Promise<ResponseDataByApiKey[K]> {
    if (this.failure !== undefined) throw this.failure;
    const correlationId = this.nextCorrelationId++;
    const frame = await new Promise<Buffer>((resolve, reject) => {
      this.pending.set(correlationId, { resolve, reject });
      this.socket.write(encodeRequest({ apiKey, apiVersion, correlationId, clientId: 'group-bench' }, body));
    });
    return decodeResponse(frame, apiKey, apiVersion).body;
  }

  /** Drops the connection without a word, as a crashed process does. */
  destroy(): void {
    this.socket.destroy();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const request of this.pending.values()) request.reject(this.failure);
    this.pending.clear();
  }
}

function subscription(topic: string): Buffer {
  return new Writer().int16(0).arrayLength(1).string(topic).nullableBytes(null).finish();
}

function assignmentBytes(topic: string, partitions: readonly number[]): Buffer {
  const writer = new Writer().int16(0).arrayLength(1).string(topic).arrayLength(partitions.length);
  for (const partition of partitions) writer.int32(partition);
  return writer.nullableBytes(null).finish();
}

function decodeAssignment(bytes: Buffer): number[] {
  if (bytes.length === 0) return [];
  const reader = new Reader(bytes);
  reader.int16();
  const partitions: number[] = [];
  const topics = reader.arrayLength(6) ?? 0;
  for (let i = 0; i < topics; i++) {
    reader.string();
    const count = reader.arrayLength(4) ?? 0;
    for (let j = 0; j < count; j++) partitions.push(reader.int32());
  }
  return partitions;
}

/**
 * A consumer-group member speaking the protocol directly: join (and rejoin when a heartbeat says the
 * group is rebalancing), assign round-robin when leading, sync, heartbeat.
 */
class RawMember {
  memberId = '';
  generationId = -1;
  partitions: number[] = [];
  /** An unexpected error of the background heartbeats (and rejoins). */
  failure: unknown;
  private stopped = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly connection: BenchConnection,
    private readonly groupId: string,
  ) {}

  /** Joins and syncs until assigned, then heartbeats in the background. */
  async start(): Promise<void> {
    await this.joinAndSync();
    this.scheduleHeartbeat();
  }

  private async joinAndSync(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const joined = await this.connection.send(ApiKey.JoinGroup, JOIN_VERSION, {
        groupId: this.groupId,
        sessionTimeoutMs: SESSION_TIMEOUT_MS,
        rebalanceTimeoutMs: REBALANCE_TIMEOUT_MS,
        memberId: this.memberId,
        groupInstanceId: null,
        protocolType: 'consumer',
        protocols: [{ name: 'roundrobin', metadata: subscription(TOPIC) }],
      });
      if (joined.errorCode === ErrorCode.MEMBER_ID_REQUIRED || joined.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) {
        this.memberId = joined.errorCode === ErrorCode.MEMBER_ID_REQUIRED ? joined.memberId : '';
        continue;
      }
      if (joined.errorCode !== ErrorCode.NONE) throw new Error(`JoinGroup failed with error ${joined.errorCode}`);
      this.memberId = joined.memberId;
      const isLeader = joined.leader === joined.memberId;
      const memberIds = joined.members.map((member) => member.memberId).sort();
      const assignments = isLeader
        ? memberIds.map((memberId, index) => ({
            memberId,
            assignment: assignmentBytes(
              TOPIC,
              Array.from({ length: PARTITIONS }, (_, p) => p).filter((p) => p % memberIds.length === index),
            ),
          }))
        : [];
      const synced = await this.connection.send(ApiKey.SyncGroup, SYNC_VERSION, {
        groupId: this.groupId,
        generationId: joined.generationId,
        memberId: this.memberId,
        groupInstanceId: null,
        assignments,
      });
      if (synced.errorCode === ErrorCode.REBALANCE_IN_PROGRESS) continue;
      if (synced.errorCode !== ErrorCode.NONE) throw new Error(`SyncGroup failed with error ${synced.errorCode}`);
      this.partitions = decodeAssignment(synced.assignment);
      this.generationId = joined.generationId;
      return;
    }
  }

  private scheduleHeartbeat(): void {
    if (this.stopped) return;
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(), HEARTBEAT_INTERVAL_MS);
  }

  private async heartbeat(): Promise<void> {
    try {
      const response = await this.connection.send(ApiKey.Heartbeat, HEARTBEAT_VERSION, {
        groupId: this.groupId,
        generationId: this.generationId,
        memberId: this.memberId,
        groupInstanceId: null,
      });
      if (response.errorCode === ErrorCode.REBALANCE_IN_PROGRESS || response.errorCode === ErrorCode.ILLEGAL_GENERATION) await this.joinAndSync();
      else if (response.errorCode === ErrorCode.UNKNOWN_MEMBER_ID) {
        this.memberId = '';
        await this.joinAndSync();
      }
    } catch (error) {
      if (!this.stopped) this.failure = error;
      return;
    }
    this.scheduleHeartbeat();
  }

  /** A crash: no LeaveGroup, the socket just goes away. */
  crash(): void {
    this.stopped = true;
    clearTimeout(this.heartbeatTimer);
    this.connection.destroy();
  }

  async leave(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.heartbeatTimer);
    await this.connection.send(ApiKey.LeaveGroup, LEAVE_VERSION, { groupId: this.groupId, members: [{ memberId: this.memberId, groupInstanceId: null }] }).catch(() => undefined);
    this.connection.destroy();
  }
}

/** Whether `members` all hold partitions of one generation above `afterGeneration`, covering every partition once. */
function settled(members: readonly RawMember[], afterGeneration: number): boolean {
  const failed = members.find((member) => member.failure !== undefined);
  if (failed !== undefined) throw failed.failure;
  const generation = members[0]?.generationId ?? -1;
  if (generation <= afterGeneration || members.some((member) => member.generationId !== generation)) return false;
  const owned = members.flatMap((member) => member.partitions).sort((a, b) => a - b);
  return owned.length === PARTITIONS && owned.every((partition, index) => partition === index);
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + WAIT_MS_MAX;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`group bench: ${what} did not happen within ${WAIT_MS_MAX} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export interface GroupBenchResult {
  readonly formationMs: number;
  readonly rebalanceAfterKillMs: number;
  readonly commits: ReadonlyArray<{ readonly label: string; readonly requests: number; readonly offsetsPerRequest: number; readonly seconds: number }>;
}

async function membership(port: number): Promise<{ formationMs: number; rebalanceAfterKillMs: number }> {
  const groupId = 'bench-membership';
  const connections = await Promise.all(Array.from({ length: MEMBERS }, () => BenchConnection.open(port)));
  const members = connections.map((connection) => new RawMember(connection, groupId));
  const started = performance.now();
  await Promise.all(members.map((member) => member.start()));
  await waitFor(() => settled(members, -1), 'the group forming');
  const formationMs = performance.now() - started;

  const [victim, ...survivors] = members;
  const generation = victim!.generationId;
  victim!.crash();
  const killedAt = performance.now();
  await waitFor(() => settled(survivors, generation), 'the rebalance after a crash');
  const rebalanceAfterKillMs = performance.now() - killedAt;
  await Promise.all(survivors.map((member) => member.leave()));
  return { formationMs, rebalanceAfterKillMs };
}

/**
 * Simple commits (generation -1) of `offsetsPerRequest` partitions each, `COMMITS_IN_FLIGHT`
 * requests in flight spread over `connectionCount` connections (a broker answers each connection's
 * requests in order, so only several connections let its appends overlap).
 */
async function rawCommits(port: number, requests: number, offsetsPerRequest: number, connectionCount: number): Promise<number> {
  const connections = await Promise.all(Array.from({ length: connectionCount }, () => BenchConnection.open(port)));
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: COMMITS_IN_FLIGHT }, async (_, lane) => {
      const connection = connections[lane % connectionCount]!;
      while (next < requests) {
        const i = next++;
        const response = await connection.send(ApiKey.OffsetCommit, COMMIT_VERSION, {
          groupId: `bench-commits-${offsetsPerRequest}-${lane % connectionCount}`,
          generationIdOrMemberEpoch: -1,
          memberId: '',
          groupInstanceId: null,
          topics: [
            {
              name: TOPIC,
              partitions: Array.from({ length: offsetsPerRequest }, (_, k) => ({
                partitionIndex: (i + k) % PARTITIONS,
                committedOffset: BigInt(i),
                committedLeaderEpoch: -1,
                committedMetadata: '',
              })),
            },
          ],
        });
        const failed = response.topics.flatMap((topic) => topic.partitions).find((partition) => partition.errorCode !== ErrorCode.NONE);
        if (failed !== undefined) throw new Error(`OffsetCommit failed with error ${failed.errorCode}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  for (const connection of connections) connection.destroy();
  return seconds;
}

/** kafkajs `commitOffsets` from a member of a running group, one partition per call, one call at a time. */
async function kafkajsCommits(bootstrap: string, requests: number): Promise<number> {
  const kafka = new Kafka({ clientId: 'group-bench', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: 'bench-kafkajs-commits', heartbeatInterval: 500 });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: TOPIC });
    await consumer.run({ autoCommit: false, eachMessage: async () => undefined });
    await joined;
    const started = performance.now();
    for (let i = 0; i < requests; i++) await consumer.commitOffsets([{ topic: TOPIC, partition: i % PARTITIONS, offset: String(i) }]);
    return (performance.now() - started) / 1000;
  } finally {
    await consumer.disconnect();
  }
}

async function startGroupBroker(dataDir: string): Promise<{ child: ChildProcess; port: number }> {
  const runningSource = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(`./group-broker-process.${runningSource ? 'ts' : 'js'}`, import.meta.url));
  const nodeArguments = runningSource ? ['--import', 'tsx', '--conditions=defter-source'] : [];
  const child = spawn(process.execPath, [...nodeArguments, script, dataDir, String(SESSION_TIMEOUT_MS / 2), `${TOPIC}:${PARTITIONS}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, port: (JSON.parse(line) as { port: number }).port };
}

export async function benchmarkGroups(options: { root: string; quick: boolean }): Promise<GroupBenchResult> {
  const { child, port } = await startGroupBroker(join(options.root, 'group-broker'));
  try {
    const { formationMs, rebalanceAfterKillMs } = await membership(port);
    const singleRequests = options.quick ? 5_000 : 20_000;
    const batchedRequests = options.quick ? 500 : 2_000;
    const kafkajsRequests = options.quick ? 500 : 2_000;
    const commits = [];
    for (const [offsetsPerRequest, connectionCount, requests] of [
      [1, 1, singleRequests],
      [1, COMMIT_CONNECTIONS, singleRequests],
      [PARTITIONS, 1, batchedRequests],
      [PARTITIONS, COMMIT_CONNECTIONS, batchedRequests],
    ] as const) {
      commits.push({
        label: `raw OffsetCommit, ${COMMITS_IN_FLIGHT} in flight on ${connectionCount} connection${connectionCount === 1 ? '' : 's'}`,
        requests,
        offsetsPerRequest,
        seconds: await rawCommits(port, requests, offsetsPerRequest, connectionCount),
      });
    }
    commits.push({ label: 'kafkajs commitOffsets (one at a time)', requests: kafkajsRequests, offsetsPerRequest: 1, seconds: await kafkajsCommits(`127.0.0.1:${port}`, kafkajsRequests) });
    return { formationMs, rebalanceAfterKillMs, commits };
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

export function printGroupReport(result: GroupBenchResult): void {
  const format = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log('');
  console.log(`| consumer group: ${MEMBERS} raw-protocol members, ${PARTITIONS} partitions, session timeout ${SESSION_TIMEOUT_MS} ms | ms |`);
  console.log('|---|---:|');
  console.log(`| formed (every member assigned, one generation) | ${result.formationMs.toFixed(1)} |`);
  console.log(
    `| rebalanced after a member died, session timeout subtracted | ${(result.rebalanceAfterKillMs - SESSION_TIMEOUT_MS).toFixed(1)} ` +
      `(${result.rebalanceAfterKillMs.toFixed(1)} after the kill) |`,
  );
  console.log('');
  console.log('| offset commits | partitions per request | requests/s | offsets/s |');
  console.log('|---|---:|---:|---:|');
  for (const row of result.commits) {
    const perSecond = row.requests / row.seconds;
    console.log(`| ${row.label} | ${row.offsetsPerRequest} | ${format(perSecond)} | ${format(perSecond * row.offsetsPerRequest)} |`);
  }
}
