/**
 * The broker through the network, beside the storage engine's own append rate, in one run:
 *
 * - produce and consume throughput of 100-byte records into one partition and into eight, with
 *   librdkafka (kcat) and with kafkajs as the client (kafkajs consumes as a group of one);
 * - produce latency (p50/p99) at a fixed 10,000 records/s with acks=all (confluent-kafka-python);
 * - PartitionLog appends of batches of the same records, in-process, as the ceiling;
 * - consumer groups (groups.ts): formation and rebalance times, offset commits per second;
 * - transactions (transactions.ts): kafkajs transactional produce beside idempotent produce, and
 *   the latency a commit adds.
 *
 * The broker runs in its own process (its own event loop); the clients run in this one or in their
 * own processes. Everything is on loopback.
 *
 *   pnpm bench:broker [--quick]      (node packages/broker/dist/bench/main.js)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, createWriteStream, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { encodeRecordBatch } from '@defter/protocol';
import { PartitionLog, defaultLogConfig } from '@defter/log';
import { benchmarkGroups, printGroupReport } from './groups.js';
import { cpuSecondsOf } from './process-cpu.js';
import { TRANSACTION_BENCH_TOPICS, benchmarkTransactions, printTransactionReport } from './transactions.js';

import { rawProduce } from './raw-producer.js';
const quick = process.argv.includes('--quick');
const RECORDS = quick ? 100_000 : 1_000_000;
const VALUE_BYTES = 100;
const LATENCY_RATE_PER_S = 10_000;
const LATENCY_SECONDS = quick ? 2 : 5;
/** kafkajs: records per send() and sends in flight (a hand-written batching loop). */
const KAFKAJS_BATCH_RECORDS = 1_000;
const KAFKAJS_SENDS_IN_FLIGHT = 8;
/** The storage engine is fed batches of this many records, about what librdkafka sends per partition. */
const STORAGE_BATCH_RECORDS = 1_000;
const STORAGE_WRITERS = 8;

const TARGET_SHARE_OF_STORAGE = 0.5;
const TARGET_LIBRDKAFKA_RECORDS_PER_S = 300_000;

interface Measurement {
  readonly scenario: string;
  readonly client: string;
  readonly records: number;
  readonly seconds: number;
  /** CPU seconds the broker process used during the row (where the time goes); undefined in-process. */
  brokerCpuSeconds?: number;
}

/** Runs one row and notes how much CPU the broker spent on it. */
async function withBrokerCpu(pid: number | undefined, run: () => Promise<Measurement>): Promise<Measurement> {
  const before = cpuSecondsOf(pid);
  const measurement = await run();
  const after = cpuSecondsOf(pid);
  if (before !== undefined && after !== undefined) measurement.brokerCpuSeconds = after - before;
  return measurement;
}

const ownUrl = import.meta.url;
const runningSource = ownUrl.endsWith('.ts');

// ------------------------------------------------------------------------------------------------
// Processes

function findPython(module: string): string | undefined {
  return ['/usr/bin/python3', 'python3'].find((python) => spawnSync(python, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0);
}

function hasKcat(): boolean {
  return spawnSync('sh', ['-c', 'command -v kcat'], { stdio: 'ignore' }).status === 0;
}

async function startBrokerProcess(dataDir: string, topics: readonly string[]): Promise<{ child: ChildProcess; bootstrap: string }> {
  const script = fileURLToPath(new URL(`./broker-process.${runningSource ? 'ts' : 'js'}`, ownUrl));
  const nodeArguments = runningSource ? ['--import', 'tsx', '--conditions=defter-source'] : [];
  const child = spawn(process.execPath, [...nodeArguments, script, dataDir, ...topics], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const { port } = JSON.parse(line) as { port: number };
  return { child, bootstrap: `127.0.0.1:${port}` };
}

/** Runs a client process to completion; returns its wall time and stdout. Fails loudly on a non-zero exit. */
async function timed(command: string, args: readonly string[], stdin: number | 'ignore' = 'ignore'): Promise<{ seconds: number; stdout: Buffer }> {
  const started = performance.now();
  const child = spawn(command, args, { stdio: [stdin, 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}: ${Buffer.concat(stderr).toString().slice(-2000)}`);
  return { seconds, stdout: Buffer.concat(stdout) };
}

// ------------------------------------------------------------------------------------------------
// librdkafka (kcat)

async function writeValuesFile(path: string): Promise<void> {
  const out = createWriteStream(path);
  const line = Buffer.from(`${'x'.repeat(VALUE_BYTES)}\n`);
  const block = Buffer.concat(Array.from({ length: 1000 }, () => line));
  for (let written = 0; written < RECORDS; written += 1000) {
    if (!out.write(block)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function kcatProduce(bootstrap: string, topic: string, valuesFile: string): Promise<Measurement & { acks: number }> {
  const input = openSync(valuesFile, 'r');
  try {
    const { seconds } = await timed(
      'kcat',
      ['-P', '-b', bootstrap, '-t', topic, '-X', 'acks=1', '-X', 'linger.ms=5', '-X', 'batch.num.messages=10000', '-X', 'queue.buffering.max.kbytes=1048576'],
      input,
    );
    return { scenario: `produce, ${topic}`, client: 'librdkafka (kcat), acks=1', records: RECORDS, seconds, acks: 1 };
  } finally {
    closeSync(input);
  }
}

async function kcatConsume(bootstrap: string, topic: string, expected: number): Promise<Measurement> {
  // One byte per record: cheap to pipe, and lets the bench check nothing was lost.
  const { seconds, stdout } = await timed('kcat', ['-C', '-e', '-q', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-f', '.', '-X', 'fetch.max.bytes=52428800']);
  if (stdout.length !== expected) throw new Error(`kcat consumed ${stdout.length} records of ${topic}, expected ${expected}`);
  return { scenario: `consume, ${topic}`, client: 'librdkafka (kcat)', records: expected, seconds };
}

// ------------------------------------------------------------------------------------------------
// kafkajs

async function kafkajsProduce(bootstrap: string, topic: string): Promise<Measurement> {
  const kafka = new Kafka({ clientId: 'bench', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const producer: Producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const value = Buffer.alloc(VALUE_BYTES, 0x78);
  const messages = Array.from({ length: KAFKAJS_BATCH_RECORDS }, () => ({ value }));
  let sent = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: KAFKAJS_SENDS_IN_FLIGHT }, async () => {
      while (sent < RECORDS) {
        sent += KAFKAJS_BATCH_RECORDS;
        await producer.send({ topic, acks: 1, messages });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  return { scenario: `produce, ${topic}`, client: `kafkajs, acks=1, ${KAFKAJS_BATCH_RECORDS}/send, ${KAFKAJS_SENDS_IN_FLIGHT} in flight`, records: RECORDS, seconds };
}

/** kafkajs fetch sizes for the consume row, near what the kcat row asks for (fetch.max.bytes=50 MiB). */
const KAFKAJS_FETCH_PARTITION_BYTES_MAX = 10_485_760;
const KAFKAJS_FETCH_BYTES_MAX = 52_428_800;

/**
 * A group of one kafkajs consumer reads `topic` from the beginning with `eachBatch`, until it has
 * seen `expected` records. Timed from the group join (GROUP_JOIN), so the broker's
 * group.initial.rebalance.delay.ms (3 s, Kafka's default) is not counted as consuming.
 */
async function kafkajsConsume(bootstrap: string, topic: string, expected: number): Promise<Measurement> {
  const kafka = new Kafka({ clientId: 'bench', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({
    groupId: `bench-consume-${topic}`,
    maxBytesPerPartition: KAFKAJS_FETCH_PARTITION_BYTES_MAX,
    maxBytes: KAFKAJS_FETCH_BYTES_MAX,
  });
  let joinedAt: number | undefined;
  consumer.on(consumer.events.GROUP_JOIN, () => (joinedAt ??= performance.now()));
  let seen = 0;
  let finish: (seconds: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= expected) finish((performance.now() - (joinedAt ?? performance.now())) / 1000);
      },
    });
    const seconds = await finished;
    if (seen !== expected) throw new Error(`kafkajs consumed ${seen} records of ${topic}, expected ${expected}`);
    return { scenario: `consume, ${topic}`, client: 'kafkajs, group of one, eachBatch (from the group join)', records: expected, seconds };
  } finally {
    await consumer.disconnect();
  }
}

// ------------------------------------------------------------------------------------------------
// The storage engine alone

async function storageAppends(root: string): Promise<Measurement> {
  const value = Buffer.alloc(VALUE_BYTES, 0x78);
  const template = encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    records: Array.from({ length: STORAGE_BATCH_RECORDS }, (_, i) => ({ timestampDelta: BigInt(i), key: null, value })),
  });
  // Append patches offsets in place: every batch is its own copy, made before timing starts.
  const batches = Array.from({ length: RECORDS / STORAGE_BATCH_RECORDS }, () => Buffer.from(template));
  const log = await PartitionLog.open({ dir: join(root, 'storage-0'), config: { ...defaultLogConfig } });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: STORAGE_WRITERS }, async () => {
      while (next < batches.length) await log.append(batches[next++]!);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await log.close();
  return { scenario: 'append, 1 partition', client: `PartitionLog in-process, ${STORAGE_BATCH_RECORDS}/batch`, records: RECORDS, seconds };
}

// ------------------------------------------------------------------------------------------------
// Latency

interface Latency {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly samples: number;
  readonly achievedRatePerS: number;
}

async function latencyAtFixedRate(python: string, bootstrap: string, topic: string): Promise<Latency> {
  const script = fileURLToPath(new URL('./latency.py', ownUrl)).replace(/\/dist\/bench\//, '/bench/');
  const { stdout } = await timed(python, [script, bootstrap, topic, String(LATENCY_RATE_PER_S), String(LATENCY_SECONDS), String(VALUE_BYTES)]);
  const result = JSON.parse(stdout.toString()) as { latencies_us: number[]; errors: string[]; achieved_rate: number };
  if (result.errors.length > 0) throw new Error(`latency run had delivery errors: ${result.errors.join('; ')}`);
  const at = (q: number) => result.latencies_us[Math.min(result.latencies_us.length - 1, Math.floor(q * result.latencies_us.length))]! / 1000;
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1), samples: result.latencies_us.length, achievedRatePerS: result.achieved_rate };
}

// ------------------------------------------------------------------------------------------------

const format = (n: number) => Math.round(n).toLocaleString('en-US');
const recordsPerSecond = (m: Measurement) => m.records / m.seconds;
const megabytesPerSecond = (m: Measurement) => (m.records * VALUE_BYTES) / m.seconds / 1e6;

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'defter-broker-bench-'));
  const brokerDir = join(root, 'broker');
  let broker: ChildProcess | undefined;
  const rows: Measurement[] = [];
  const notes: string[] = [];
  try {
    const storage = await storageAppends(root);
    rows.push(storage);

    const started = await startBrokerProcess(brokerDir, ['raw-1:1', 'raw-8:8', 'rdk-1:1', 'rdk-8:8', 'kjs-1:1', 'kjs-8:8', 'latency:1', ...TRANSACTION_BENCH_TOPICS]);
    broker = started.child;
    const { bootstrap } = started;
    const brokerPid = started.child.pid;

    const [host, port] = bootstrap.split(':') as [string, string];
    for (const [topic, partitions] of [['raw-1', 1], ['raw-8', 8]] as const) {
      const measured = await withBrokerCpu(brokerPid, async () => {
        const result = await rawProduce(host, Number(port), topic, partitions, RECORDS, VALUE_BYTES);
        return { scenario: `produce, ${topic}`, client: 'pre-encoded Produce requests, 1000/batch, acks=1, 4 connections × 8 in flight', records: result.records, seconds: result.seconds };
      });
      rows.push(measured);
    }

    if (hasKcat()) {
      const valuesFile = join(root, 'values.txt');
      await writeValuesFile(valuesFile);
      for (const topic of ['rdk-1', 'rdk-8']) rows.push(await withBrokerCpu(brokerPid, () => kcatProduce(bootstrap, topic, valuesFile)));
      for (const topic of ['rdk-1', 'rdk-8']) rows.push(await withBrokerCpu(brokerPid, () => kcatConsume(bootstrap, topic, RECORDS)));
    } else {
      notes.push('kcat is not installed: the librdkafka rows are missing (apt-get install kcat).');
    }
    for (const topic of ['kjs-1', 'kjs-8']) rows.push(await withBrokerCpu(brokerPid, () => kafkajsProduce(bootstrap, topic)));
    rows.push(await withBrokerCpu(brokerPid, () => kafkajsConsume(bootstrap, 'kjs-1', RECORDS)));
    if (hasKcat()) {
      for (const topic of ['kjs-1', 'kjs-8']) {
        const row = await withBrokerCpu(brokerPid, () => kcatConsume(bootstrap, topic, RECORDS));
        rows.push({ ...row, scenario: `consume, ${topic} (written by kafkajs)` });
      }
    }

    // A tenth of the records: kafkajs runs one transaction at a time, and each costs round trips.
    const transactions = await benchmarkTransactions({
      bootstrap,
      records: RECORDS / 10,
      valueBytes: VALUE_BYTES,
      quick,
      measure: (run) => withBrokerCpu(brokerPid, run),
    });
    for (const { idempotent, transactional } of transactions.throughput) rows.push(idempotent, transactional);

    const python = findPython('confluent_kafka');
    let latency: Latency | undefined;
    if (python !== undefined) latency = await latencyAtFixedRate(python, bootstrap, 'latency');
    else notes.push('confluent-kafka-python is not installed: no latency figures (apt-get install python3-confluent-kafka).');

    printReport(rows, storage, latency, notes);
    printTransactionReport(transactions);
    printGroupReport(await benchmarkGroups({ root, quick }));
  } finally {
    if (broker !== undefined && broker.exitCode === null) {
      broker.kill('SIGTERM');
      await once(broker, 'exit');
    }
    await rm(root, { recursive: true, force: true });
  }
}

function printReport(rows: readonly Measurement[], storage: Measurement, latency: Latency | undefined, notes: readonly string[]): void {
  const storageRate = recordsPerSecond(storage);
  console.log(
    `defter broker on loopback, ${format(RECORDS)} records of ${VALUE_BYTES} bytes per row${quick ? ' (--quick)' : ''}; ` +
      'the broker in its own process; client times include process start-up and metadata.',
  );
  console.log('');
  console.log('| scenario | client | records/s | MB/s | vs storage engine | broker CPU |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const row of rows) {
    const share = row === storage ? '100%' : `${Math.round((100 * recordsPerSecond(row)) / storageRate)}%`;
    // Broker CPU as a share of one core over the row's wall time: near 100% means the broker's
    // event loop is the bottleneck; well below means the client (or the network) is.
    const cpu = row.brokerCpuSeconds === undefined ? '—' : `${Math.round((100 * row.brokerCpuSeconds) / row.seconds)}%`;
    console.log(`| ${row.scenario} | ${row.client} | ${format(recordsPerSecond(row))} | ${megabytesPerSecond(row).toFixed(1)} | ${share} | ${cpu} |`);
  }
  if (latency !== undefined) {
    console.log('');
    console.log(`| produce latency, acks=all, ${format(LATENCY_RATE_PER_S)} records/s for ${LATENCY_SECONDS} s (confluent-kafka-python) | value |`);
    console.log('|---|---:|');
    console.log(`| achieved rate | ${format(latency.achievedRatePerS)} records/s |`);
    console.log(`| p50 | ${latency.p50Ms.toFixed(2)} ms |`);
    console.log(`| p99 | ${latency.p99Ms.toFixed(2)} ms |`);
    console.log(`| max | ${latency.maxMs.toFixed(2)} ms |`);
  }
  const librdkafkaOnePartition = rows.find((row) => row.scenario === 'produce, rdk-1');
  if (librdkafkaOnePartition !== undefined) {
    const rate = recordsPerSecond(librdkafkaOnePartition);
    console.log('');
    console.log(
      `Targets: librdkafka acks=1 into one partition ${format(rate)} records/s ` +
        `(≥ ${format(TARGET_LIBRDKAFKA_RECORDS_PER_S)}: ${rate >= TARGET_LIBRDKAFKA_RECORDS_PER_S ? 'met' : 'MISSED'}); ` +
        `${Math.round((100 * rate) / storageRate)}% of the storage engine's rate ` +
        `(≥ ${100 * TARGET_SHARE_OF_STORAGE}%: ${rate >= TARGET_SHARE_OF_STORAGE * storageRate ? 'met' : 'MISSED'}).`,
    );
  }
  const rawOnePartition = rows.find((row) => row.scenario === 'produce, raw-1');
  if (rawOnePartition !== undefined) {
    const share = recordsPerSecond(rawOnePartition) / storageRate;
    console.log(
      `Broker capacity through the network (pre-encoded requests, one partition): ${Math.round(100 * share)}% of the storage engine's rate ` +
        `(≥ ${100 * TARGET_SHARE_OF_STORAGE}%: ${share >= TARGET_SHARE_OF_STORAGE ? 'met' : 'MISSED'}).`,
    );
  }
  for (const note of notes) console.log(`Note: ${note}`);
}

await main();
