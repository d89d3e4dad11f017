/**
 * Shared by the fault and scale tests: a streams app in a child process (so it can be SIGKILLed like
 * a crashed server), a producer that feeds an input topic continuously, a seeded random source for
 * the kill schedule, and the checks of an output against the input ids.
 *
 * The child (`helpers/fault-app-child.ts`) prints one JSON line per event on stdout: `running`
 * after `start()`, `progress` whenever its task ids or counters change, `memory` on a timer when
 * asked, `error` when the app stops in ERROR, `closed` after a graceful close (SIGTERM).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import type { Kafka, Producer } from 'kafkajs';
import type { ProcessingGuarantee } from '../src/index.js';
import { sleep, startCluster, type ReadRecord, type TestCluster } from './runtime-support.js';

const CHILD_SCRIPT = fileURLToPath(new URL('./helpers/fault-app-child.ts', import.meta.url));

/** What the child runs: a pipeline by name and the app's settings. JSON, passed as its one argument. */
export interface FaultAppConfig {
  /** The broker to reach through kafkajs… */
  readonly bootstrap?: string;
  /** …or the embedded log on this data directory (a broker inside the child, killed with it). */
  readonly dataDir?: string;
  /** Settings of the embedded log's broker. */
  readonly brokerOptions?: { readonly offsetsTopicNumPartitions?: number; readonly transactionStateLogNumPartitions?: number; readonly groupMinSessionTimeoutMs?: number };
  readonly applicationId: string;
  readonly instanceId?: string;
  readonly processingGuarantee: ProcessingGuarantee;
  readonly commitIntervalMs: number;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly input: string;
  readonly output: string;
  /**
   * `spans`: mapValues → concatMap(async) → bufferCount(5) → mergeMap(async) (see `expectedOutputValue`).
   * `slow`: concatMap waiting `slowDelayMs` per record, for the backpressure test.
   */
  readonly pipeline: 'spans' | 'slow';
  readonly slowDelayMs?: number;
  readonly inFlightRecordsHighWaterMark?: number;
  readonly fetchMaxBytesPerPartition?: number;
  readonly transactionTimeoutMs?: number;
  /** kafkajs's log level in the child (its lines land in `stderr()`), for a failure's diagnosis. */
  readonly kafkajsLogLevel?: 'nothing' | 'error' | 'warn' | 'info' | 'debug';
  /** Report `process.memoryUsage()` (after `gc()`) this often; the child then runs with --expose-gc. */
  readonly memoryReportIntervalMs?: number;
}

export interface ProgressReport {
  readonly event: 'progress';
  /** The ids of the tasks the instance holds now, sorted. */
  readonly tasks: readonly string[];
  readonly recordsIn: number;
  readonly recordsOut: number;
  /** Records fetched and not yet committed, over the instance's tasks. */
  readonly inFlight: number;
  readonly commits: number;
  readonly lag: number;
}

export interface MemoryReport {
  readonly event: 'memory';
  readonly heapUsedBytes: number;
  readonly rssBytes: number;
  readonly recordsIn: number;
  readonly lag: number;
}

type ChildEvent = ProgressReport | MemoryReport | { event: 'running' } | { event: 'closed' } | { event: 'error'; message: string };

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A streams app running in a child process, and what it has reported so far. */
export class AppChild {
  readonly exited: Promise<ChildExit>;
  running = false;
  closed = false;
  error: string | undefined;
  progress: ProgressReport | undefined;
  readonly memory: MemoryReport[] = [];
  private readonly stderrChunks: Buffer[] = [];
  private readonly listeners = new Set<() => void>();

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => this.notify());
    child.stderr!.on('data', (chunk: Buffer) => this.stderrChunks.push(chunk));
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
  }

  /** Starts a child running `config`; it is SIGKILLed when the test ends if still alive. */
  static spawn(t: ExecutionContext, config: FaultAppConfig): AppChild {
    const gcFlag = config.memoryReportIntervalMs === undefined ? [] : ['--expose-gc'];
    const child = spawn(process.execPath, ['--import=tsx', '--conditions=defter-source', ...gcFlag, CHILD_SCRIPT, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const appChild = new AppChild(child);
    t.teardown(() => appChild.killQuietly());
    return appChild;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stderr(): string {
    return Buffer.concat(this.stderrChunks).toString();
  }

  /**
   * Resolves true once `condition` holds (checked at every report), false when the child exits
   * first; rejects after `timeoutMs` with `what` and the child's last words.
   */
  async waitFor(condition: (child: AppChild) => boolean, timeoutMs: number, what: string): Promise<boolean> {
    if (condition(this)) return true;
    if (!this.alive) return false;
    return new Promise<boolean>((resolve, reject) => {
      const check = (): void => {
        if (condition(this)) finish(() => resolve(true));
        else if (!this.alive) finish(() => resolve(false));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`${what}: not within ${timeoutMs} ms (last report ${JSON.stringify(this.progress)}; stderr ${this.stderr().slice(-800)})`))),
        timeoutMs,
      );
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      this.listeners.add(check);
    });
  }

  /** SIGKILL, and wait for the process to be gone. */
  async kill(): Promise<ChildExit> {
    this.killQuietly();
    return this.exited;
  }

  /** SIGTERM: the child closes the app (finish, commit, leave the group) and exits 0. */
  async terminate(): Promise<ChildExit> {
    if (this.alive) this.child.kill('SIGTERM');
    return this.exited;
  }

  private killQuietly(): void {
    if (this.alive) this.child.kill('SIGKILL');
  }

  private onLine(line: string): void {
    let event: ChildEvent;
    try {
      event = JSON.parse(line) as ChildEvent;
    } catch {
      this.stderrChunks.push(Buffer.from(`(stdout) ${line}\n`));
      return;
    }
    if (event.event === 'progress') this.progress = event;
    else if (event.event === 'memory') this.memory.push(event);
    else if (event.event === 'running') this.running = true;
    else if (event.event === 'closed') this.closed = true;
    else if (event.event === 'error') this.error = event.message;
    // Anything else (a client library's log line) is kept with the process's log.
    else this.stderrChunks.push(Buffer.from(`(stdout) ${line}\n`));
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/**
 * A small seeded generator (mulberry32), so that a kill schedule that found a bug can be replayed
 * with the seed the test logged.
 */
export class SeededRandom {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    z = (z ^ (z >>> 14)) >>> 0;
    return min + Math.floor((z / 2 ** 32) * (max - min + 1));
  }
}

/** `FAULTS_SEED` from the environment (to replay a schedule), else a fresh one. */
export function faultSeed(): number {
  const fromEnvironment = process.env['FAULTS_SEED'];
  return fromEnvironment === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(fromEnvironment);
}

/** Input record `id`: key `k<id>`, value `<id>` (padded with spaces to `valueBytes`), partition `id % partitions`. */
export function inputRecord(id: number, partitions: number, valueBytes = 0): { key: string; value: string; partition: number } {
  return { key: `k${id}`, value: String(id).padEnd(valueBytes, ' '), partition: id % partitions };
}

/** What the `spans` pipeline makes of input record `id`: mapValues adds `out-`, concatMap `-c`, the buffer's mergeMap `-b`. */
export function expectedOutputValue(id: number): string {
  return `out-${id}-c-b`;
}

export interface FeederOptions {
  readonly topic: string;
  readonly partitions: number;
  readonly recordsPerChunk: number;
  /** Pause between chunks (0: as fast as the broker acknowledges). */
  readonly chunkIntervalMs: number;
  /** Stop by itself after this many records. */
  readonly recordsMax: number;
  readonly valueBytes?: number;
}

/**
 * Produces input records 0, 1, 2, … in chunks (acks=all) until stopped or `recordsMax`; `produced`
 * counts the acknowledged ones, which are always ids 0 … produced − 1.
 */
export class InputFeeder {
  produced = 0;
  private stopping = false;
  private readonly finished: Promise<void>;
  private failure: Error | undefined;

  constructor(
    private readonly producer: Producer,
    private readonly options: FeederOptions,
  ) {
    // Kept, not thrown: a test that ends early must not leave an unhandled rejection behind.
    this.finished = this.run().catch((error: unknown) => {
      this.failure = error instanceof Error ? error : new Error(String(error));
    });
  }

  /** Starts feeding; the feeder is stopped when the test ends, before the broker closes. */
  static async start(t: ExecutionContext, kafka: Kafka, options: FeederOptions): Promise<InputFeeder> {
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const feeder = new InputFeeder(producer, options);
    t.teardown(() => feeder.stop().catch(() => undefined));
    return feeder;
  }

  /** Waits until at least `count` records are acknowledged (or the feeder ended). */
  async reached(count: number): Promise<void> {
    while (this.produced < count && !this.stopping) await sleep(20);
  }

  /** Stops after the chunk under way; resolves with the number of records produced. */
  async stop(): Promise<number> {
    this.stopping = true;
    return this.done();
  }

  /** Resolves when `recordsMax` records are in (or the feeder was stopped); rejects if a send failed. */
  async done(): Promise<number> {
    await this.finished;
    if (this.failure !== undefined) throw this.failure;
    return this.produced;
  }

  private async run(): Promise<void> {
    const { topic, partitions, recordsPerChunk, chunkIntervalMs, recordsMax, valueBytes } = this.options;
    try {
      while (!this.stopping && this.produced < recordsMax) {
        const count = Math.min(recordsPerChunk, recordsMax - this.produced);
        const messages = Array.from({ length: count }, (_, index) => inputRecord(this.produced + index, partitions, valueBytes));
        await this.producer.send({ topic, acks: -1, messages });
        this.produced += count;
        if (chunkIntervalMs > 0) await sleep(chunkIntervalMs);
      }
    } finally {
      this.stopping = true;
      await this.producer.disconnect();
    }
  }
}

/** The high watermark of every partition of `topic`, by partition. */
export async function endOffsets(kafka: Kafka, topic: string): Promise<number[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.sort((a, b) => a.partition - b.partition).map((entry) => Number(entry.high));
  } finally {
    await admin.disconnect();
  }
}

/** The group's committed offsets of `topic`, by partition (-1 when none). */
export async function committedOffsetList(kafka: Kafka, groupId: string, topic: string): Promise<number[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [result] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return result!.partitions.sort((a, b) => a.partition - b.partition).map((entry) => Number(entry.offset));
  } finally {
    await admin.disconnect();
  }
}

/** Waits until the group has committed every partition of `topic` up to its end; false on timeout. */
export async function waitForCommittedToEnd(kafka: Kafka, groupId: string, topic: string, timeoutMs: number): Promise<boolean> {
  const ends = await endOffsets(kafka, topic);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const committed = await committedOffsetList(kafka, groupId, topic);
    if (ends.every((end, partition) => committed[partition] === end)) return true;
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
}

export interface OutputCheck {
  /** Input ids with no output. */
  readonly missing: number[];
  /** Output records beyond the first for their id. */
  readonly duplicates: number;
  /** How many ids were written more than once. */
  readonly duplicatedIds: number;
  /** Output records that do not belong to any input id, or whose value is not the expected one (at most 10 shown). */
  readonly wrong: ReadRecord[];
}

/** Compares output records (`k<id>` → `valueOf(id)`) with input ids 0 … total − 1. */
export function checkOutput(records: readonly ReadRecord[], total: number, valueOf: (id: number) => string): OutputCheck {
  const counts = new Uint32Array(total);
  const wrong: ReadRecord[] = [];
  for (const record of records) {
    const id = record.key?.startsWith('k') === true ? Number(record.key.slice(1)) : Number.NaN;
    if (!Number.isInteger(id) || id < 0 || id >= total || record.value !== valueOf(id)) {
      if (wrong.length < 10) wrong.push(record);
      continue;
    }
    counts[id]! += 1;
  }
  const missing: number[] = [];
  let duplicates = 0;
  let duplicatedIds = 0;
  counts.forEach((count, id) => {
    if (count === 0) missing.push(id);
    if (count > 1) {
      duplicates += count - 1;
      duplicatedIds += 1;
    }
  });
  return { missing, duplicates, duplicatedIds, wrong };
}

/**
 * Reads `topic` from the beginning with a fresh group until records of every id 0 … total − 1 have
 * arrived (or `timeoutMs` passed), then `settleMs` more so that duplicates behind them arrive too.
 */
export async function readOutput(
  cluster: TestCluster,
  topic: string,
  total: number,
  options: { readUncommitted?: boolean; timeoutMs?: number; settleMs?: number } = {},
): Promise<ReadRecord[]> {
  const consumer = cluster.kafka.consumer({
    groupId: `reader-${Math.random().toString(36).slice(2)}`,
    readUncommitted: options.readUncommitted ?? false,
    maxWaitTimeInMs: 100,
  });
  const records: ReadRecord[] = [];
  const seen = new Set<string>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const key = message.key?.toString() ?? null;
        if (key !== null) seen.add(key);
        records.push({
          topic,
          partition,
          offset: BigInt(message.offset),
          key,
          value: message.value?.toString() ?? null,
          headers: {},
          timestamp: Number(message.timestamp),
        });
      },
    });
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while (seen.size < total && Date.now() < deadline) await sleep(50);
    // Then until nothing new arrives for settleMs.
    for (let count = -1; records.length !== count; ) {
      count = records.length;
      await sleep(options.settleMs ?? 1_000);
    }
  } finally {
    await consumer.disconnect();
  }
  return records;
}

export interface KillScenarioOptions {
  readonly processingGuarantee: ProcessingGuarantee;
  readonly applicationId: string;
  /** How many SIGKILLs before the last instance runs to completion. */
  readonly kills: number;
  readonly commitIntervalMs: number;
}

export interface KillScenarioResult extends Omit<KillsDone, 'schedule'> {
  /** Input records produced: ids 0 … total − 1. */
  readonly total: number;
  /** The output, read_committed. */
  readonly committed: ReadRecord[];
  /** The output, read_uncommitted: with the records of aborted transactions too. */
  readonly uncommitted: ReadRecord[];
}

/** An app that writes nothing for this long is stuck (the input is far from consumed while the kills happen). */
const STALL_MS = 45_000;

export interface KillsDone {
  /** Each kill: when it came, and what the victim had last reported. */
  readonly schedule: string[];
  /** Kills whose victim's last report had records fetched and not committed. */
  readonly killsWithRecordsInFlight: number;
  /** Children that ended by themselves (an error) and were restarted. */
  readonly selfExits: number;
}

/**
 * Spawns an app child and SIGKILLs it, `kills` times: one kill in five at a random time after the
 * spawn (start-up, fencing, the join, or processing), the others a random 0–300 ms after the child
 * reports having written a random 1–400 records. A child that dies by itself is restarted (a
 * supervisor would), at most 3 times.
 */
export async function killRepeatedly(t: ExecutionContext, spawnChild: () => AppChild, random: SeededRandom, kills: number): Promise<KillsDone> {
  const schedule: string[] = [];
  let killsWithRecordsInFlight = 0;
  let failures = 0;
  for (let killed = 0; killed < kills; ) {
    const child = spawnChild();
    let survived: boolean;
    if (random.int(0, 4) === 0) {
      const afterMs = random.int(300, 4_000);
      schedule.push(`${afterMs}ms`);
      survived = await Promise.race([sleep(afterMs).then(() => true), child.exited.then(() => false)]);
    } else {
      const written = random.int(1, 400);
      const delayMs = random.int(0, 300);
      schedule.push(`out${written}+${delayMs}ms`);
      survived =
        (await child.waitFor((candidate) => (candidate.progress?.recordsOut ?? 0) >= written, STALL_MS, `the app writes nothing after kills ${schedule.join(', ')}`)) &&
        (await Promise.race([sleep(delayMs).then(() => true), child.exited.then(() => false)]));
    }
    if (!survived) {
      // The app died by itself: a supervisor would restart it, and so do we (but say so).
      failures += 1;
      t.log(`the app exited on its own (${JSON.stringify(await child.exited)}): ${child.error ?? ''} ${child.stderr().slice(-800)}`);
      if (failures > 3) throw new Error('the app keeps failing on its own');
      continue;
    }
    const last = child.progress;
    if ((last?.inFlight ?? 0) > 0) killsWithRecordsInFlight += 1;
    const exit = await child.kill();
    if (exit.signal !== 'SIGKILL') throw new Error(`the app ended with ${JSON.stringify(exit)} instead of being killed`);
    schedule[schedule.length - 1] += `(in ${last?.recordsIn ?? 0}, out ${last?.recordsOut ?? 0}, in flight ${last?.inFlight ?? 0})`;
    killed += 1;
  }
  return { schedule, killsWithRecordsInFlight, selfExits: failures };
}

const KILL_PARTITIONS = 4;

/**
 * The kill test: a broker in the test process (the app is what crashes), an input topic of 4
 * partitions fed continuously, and the `spans` pipeline in a child with a stable instance id,
 * SIGKILLed at seeded random moments and restarted, `kills` times (`killRepeatedly`). Then the
 * feeder stops, a last instance runs until the group has committed the input to its end and is
 * closed (SIGTERM), and the output is read both ways.
 */
export async function runKillScenario(t: ExecutionContext, options: KillScenarioOptions): Promise<KillScenarioResult> {
  const seed = faultSeed();
  t.log(`seed ${seed} (replay the schedule with FAULTS_SEED=${seed})`);
  const random = new SeededRandom(seed);
  const cluster = await startCluster(t, { groupMinSessionTimeoutMs: 1_000 });
  await cluster.createTopic('in', KILL_PARTITIONS);
  await cluster.createTopic('out', KILL_PARTITIONS);
  // About 200 records a second, for as long as the kills last (a cap keeps a slow run bounded).
  const feeder = await InputFeeder.start(t, cluster.kafka, { topic: 'in', partitions: KILL_PARTITIONS, recordsPerChunk: 10, chunkIntervalMs: 50, recordsMax: 40_000 });
  const config: FaultAppConfig = {
    bootstrap: cluster.bootstrap,
    applicationId: options.applicationId,
    instanceId: 'instance-1',
    processingGuarantee: options.processingGuarantee,
    commitIntervalMs: options.commitIntervalMs,
    // Short, so that a restarted instance's join does not wait long for its killed predecessor to expire.
    sessionTimeoutMs: 3_000,
    heartbeatIntervalMs: 300,
    input: 'in',
    output: 'out',
    pipeline: 'spans',
  };

  const { schedule, killsWithRecordsInFlight, selfExits } = await killRepeatedly(t, () => AppChild.spawn(t, config), random, options.kills);
  const total = await feeder.stop();
  t.log(`kills: ${schedule.join(', ')}; ${total} input records; ${killsWithRecordsInFlight} kills with records in flight`);

  const last = AppChild.spawn(t, config);
  if (!(await waitForCommittedToEnd(cluster.kafka, options.applicationId, 'in', 90_000))) {
    throw new Error(`the last instance did not commit the input to its end: ${JSON.stringify(last.progress)} ${last.stderr().slice(-800)}`);
  }
  const exit = await last.terminate();
  if (exit.code !== 0 || !last.closed) throw new Error(`the last instance did not close cleanly: ${JSON.stringify(exit)} ${last.error ?? ''}`);

  const committed = await readOutput(cluster, 'out', total, { timeoutMs: 30_000 });
  const uncommitted = await readOutput(cluster, 'out', total, { readUncommitted: true, timeoutMs: 30_000 });
  return { total, committed, uncommitted, killsWithRecordsInFlight, selfExits };
}
