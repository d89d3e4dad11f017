import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { Kafka, logLevel, type Consumer, type IHeaders } from 'kafkajs';
import { killQuietly } from './processes.js';

/**
 * Consumer groups from the outside, for the `consumers-*` tests: kafkajs members in this process or
 * in a child process (to be SIGKILLed like a crashed consumer), a ledger that counts how often each
 * offset was consumed, and checks that a group's assignments are disjoint and complete.
 */

export function kafkaFor(bootstrap: string, clientId = 'consumers-test'): Kafka {
  return new Kafka({
    clientId,
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    // A restarted broker or a rebalance must be retried through, not given up on.
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
}

export interface ConsumedRecord {
  readonly member: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: string | null;
  readonly value: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** Every record any member consumed, counted by position (topic, partition, offset). */
export class Ledger {
  readonly records: ConsumedRecord[] = [];

  add(record: ConsumedRecord): void {
    this.records.push(record);
  }

  get size(): number {
    return this.records.length;
  }

  /** Positions consumed more than once, as `topic/partition@offset ×n`. */
  duplicates(): string[] {
    const counts = new Map<string, number>();
    for (const record of this.records) counts.set(positionOf(record), (counts.get(positionOf(record)) ?? 0) + 1);
    return [...counts].filter(([, count]) => count > 1).map(([position, count]) => `${position} ×${count}`);
  }

  /** Expected positions never consumed. */
  missing(expected: readonly Position[]): string[] {
    const seen = new Set(this.records.map(positionOf));
    return expected.map(positionOf).filter((position) => !seen.has(position));
  }

  /** Distinct positions consumed. */
  distinct(): number {
    return new Set(this.records.map(positionOf)).size;
  }
}

export interface Position {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

export function positionOf(position: Position): string {
  return `${position.topic}/${position.partition}@${position.offset}`;
}

/** A topic's partitions as a member holds them: `{ topic: [0, 3] }`. */
export type Assignment = Readonly<Record<string, readonly number[]>>;

/**
 * What is wrong with a group's assignments of `topic` (0..partitions-1): partitions held twice or
 * by nobody. Empty when each partition has exactly one owner.
 */
export function assignmentProblems(assignments: ReadonlyArray<Assignment | undefined>, topic: string, partitions: number): string[] {
  const owners = new Map<number, number>();
  for (const assignment of assignments) {
    for (const partition of assignment?.[topic] ?? []) owners.set(partition, (owners.get(partition) ?? 0) + 1);
  }
  const problems: string[] = [];
  for (let partition = 0; partition < partitions; partition++) {
    const count = owners.get(partition) ?? 0;
    if (count !== 1) problems.push(`partition ${partition} has ${count} owners`);
  }
  for (const partition of owners.keys()) if (partition < 0 || partition >= partitions) problems.push(`partition ${partition} does not exist`);
  return problems;
}

/** Polls `check` until it holds; fails with `describe()` after `timeoutMs`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, describe: () => string, intervalMs = 25): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`not reached within ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Polling interval for checks that open admin connections. */
export const ADMIN_POLL_MS = 250;

/**
 * Produces `count` records spread over the partitions in turn (explicit partitions, so each gets
 * count/partitions), keys `${prefix}-k${i % 7}`, values `${prefix}-${i}`; returns where each landed.
 */
export async function produceSpread(kafka: Kafka, topic: string, partitions: number, count: number, prefix: string): Promise<Position[]> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const positions: Position[] = [];
    const byPartition = Array.from({ length: partitions }, (_, partition) =>
      Array.from({ length: count }, (_, i) => i)
        .filter((i) => i % partitions === partition)
        .map((i) => ({ key: `${prefix}-k${i % 7}`, value: `${prefix}-${i}`, partition })),
    );
    for (const messages of byPartition) {
      if (messages.length === 0) continue;
      const [metadata] = await producer.send({ topic, acks: -1, messages });
      const base = Number(metadata!.baseOffset);
      messages.forEach((_, i) => positions.push({ topic, partition: metadata!.partition, offset: base + i }));
    }
    return positions;
  } finally {
    await producer.disconnect();
  }
}

/** High watermark per partition (kafkajs admin). */
export async function highWatermarks(kafka: Kafka, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map(({ partition, high }) => [partition, Number(high)]));
  } finally {
    await admin.disconnect();
  }
}

/** The group's committed offset per partition of `topic` (-1: none). */
export async function committedOffsets(kafka: Kafka, groupId: string, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [topicOffsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((topicOffsets?.partitions ?? []).map(({ partition, offset }) => [partition, Number(offset)]));
  } finally {
    await admin.disconnect();
  }
}

/** Whether every partition's committed offset has reached its high watermark. */
export async function commitsCaughtUp(kafka: Kafka, groupId: string, topic: string): Promise<boolean> {
  const [ends, committed] = await Promise.all([highWatermarks(kafka, topic), committedOffsets(kafka, groupId, topic)]);
  return [...ends].every(([partition, end]) => committed.get(partition) === end);
}

export interface MemberOptions {
  readonly bootstrap: string;
  readonly groupId: string;
  readonly topic: string;
  readonly name: string;
  readonly ledger: Ledger;
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  readonly fromBeginning?: boolean;
}

/** A member's view of its group: its latest assignment, when it got it, and how many joins it made. */
export interface GroupMemberView {
  readonly name: string;
  assignment: Assignment | undefined;
  memberId: string | undefined;
  joins: number;
  lastJoinAt: number;
}

export interface KafkajsMember extends GroupMemberView {
  readonly consumer: Consumer;
  /** Leaves the group cleanly (LeaveGroup) and disconnects. */
  stop(): Promise<void>;
}

const SESSION_TIMEOUT_MS_DEFAULT = 10_000;
const HEARTBEAT_INTERVAL_MS_DEFAULT = 300;

/** A kafkajs consumer in this process, consuming `topic` into the ledger with a commit after each batch. */
export async function startKafkajsMember(t: ExecutionContext, options: MemberOptions): Promise<KafkajsMember> {
  const consumer = kafkaFor(options.bootstrap, options.name).consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs ?? SESSION_TIMEOUT_MS_DEFAULT,
    heartbeatInterval: options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT,
    rebalanceTimeout: 10_000,
    maxWaitTimeInMs: 200,
    retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
  let stopped = false;
  const member: KafkajsMember = {
    name: options.name,
    consumer,
    assignment: undefined,
    memberId: undefined,
    joins: 0,
    lastJoinAt: 0,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await consumer.disconnect();
    },
  };
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    member.assignment = payload.memberAssignment;
    member.memberId = payload.memberId;
    member.joins += 1;
    member.lastJoinAt = Date.now();
  });
  t.teardown(() => member.stop());
  await consumer.connect();
  await consumer.subscribe({ topic: options.topic, fromBeginning: options.fromBeginning ?? true });
  await consumer.run({
    autoCommit: true,
    eachMessage: async ({ topic, partition, message }) => {
      options.ledger.add({
        member: options.name,
        topic,
        partition,
        offset: Number(message.offset),
        key: message.key === null ? null : message.key.toString(),
        value: message.value?.toString() ?? '',
        headers: headersToStrings(message.headers),
      });
    },
  });
  return member;
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([key, value]) => [key, Array.isArray(value) ? value.join(',') : String(value)]));
}

export interface ChildMember extends GroupMemberView {
  readonly child: ChildProcess;
  /** Offsets this member has committed (after each batch), by partition. */
  readonly committed: Map<number, number>;
  stderr(): string;
}

const MEMBER_SCRIPT = fileURLToPath(new URL('./kafkajs-member-process.ts', import.meta.url));
const CHILD_START_TIMEOUT_MS = 30_000;

/**
 * A kafkajs member in its own process (see kafkajs-member-process.ts), so a test can SIGKILL it:
 * its heartbeats stop without a LeaveGroup, as when a consumer crashes. Resolves once it has joined.
 */
export async function spawnKafkajsMember(t: ExecutionContext, options: MemberOptions): Promise<ChildMember> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--conditions=defter-source',
      MEMBER_SCRIPT,
      options.bootstrap,
      options.groupId,
      options.topic,
      options.name,
      String(options.sessionTimeoutMs ?? SESSION_TIMEOUT_MS_DEFAULT),
      String(options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => killQuietly(child));
  const stderrChunks: Buffer[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderrChunks.push(chunk));
  const member: ChildMember = {
    name: options.name,
    child,
    assignment: undefined,
    memberId: undefined,
    joins: 0,
    lastJoinAt: 0,
    committed: new Map(),
    stderr: () => Buffer.concat(stderrChunks).toString(),
  };
  const joined = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`member ${options.name} did not join within ${CHILD_START_TIMEOUT_MS} ms: ${member.stderr()}`)), CHILD_START_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`member ${options.name} exited (${code ?? signal}) before joining: ${member.stderr()}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as MemberEvent;
      switch (event.type) {
        case 'join':
          member.assignment = event.assignment;
          member.memberId = event.memberId;
          member.joins += 1;
          member.lastJoinAt = Date.now();
          clearTimeout(timer);
          resolve();
          break;
        case 'message':
          options.ledger.add({ member: options.name, topic: event.topic, partition: event.partition, offset: event.offset, key: event.key, value: event.value, headers: {} });
          break;
        case 'commit':
          member.committed.set(event.partition, event.offset);
          break;
      }
    });
  });
  await joined;
  return member;
}

/** The JSON lines kafkajs-member-process.ts prints. */
export type MemberEvent =
  | { type: 'join'; memberId: string; assignment: Assignment }
  | { type: 'message'; topic: string; partition: number; offset: number; key: string | null; value: string }
  | { type: 'commit'; topic: string; partition: number; offset: number };
