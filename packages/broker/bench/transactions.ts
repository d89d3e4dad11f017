/**
 * Transactions, measured with kafkajs against the benchmark's broker process (main.ts starts it
 * with `TRANSACTION_BENCH_TOPICS` and runs this in the same run as its other rows):
 *
 * - throughput of transactional produce, transactions of 100 and of 1000 records (one send and one
 *   commit per transaction), beside plain idempotent produce of the same records in sends of the
 *   same size — the baseline: both acks=all, one request at a time (kafkajs allows no more for
 *   either), so the difference is what a transaction adds (AddPartitionsToTxn, EndTxn, the
 *   `__transaction_state` writes and the commit markers);
 * - the added latency of a commit: `transaction.commit()` of a small transaction, median and p99,
 *   beside the median of an idempotent send of the same records.
 *
 * Every row starts after a warm-up (connection, InitProducerId, metadata), so only the steady
 * state is timed. Transactions run back to back, as an application's loop runs them: a
 * transaction begun while the previous one's markers are still being written gets
 * CONCURRENT_TRANSACTIONS on AddPartitionsToTxn (as in Kafka), and kafkajs retries it after its
 * own backoff (~300 ms) — that wait is part of what these rows measure.
 */
import { performance } from 'node:perf_hooks';
import { Kafka, logLevel, type Message, type Producer } from 'kafkajs';

/** Records per transaction of the throughput rows. */
export const TRANSACTION_SIZES = [100, 1_000] as const;
/** Records in the small transaction whose commit is timed. */
const COMMIT_LATENCY_RECORDS = 10;
const COMMIT_LATENCY_SAMPLES_QUICK = 200;
const COMMIT_LATENCY_SAMPLES = 1_000;
const TRANSACTION_TIMEOUT_MS = 60_000;
const COMMIT_TOPIC = 'txn-commit';
const COMMIT_BASELINE_TOPIC = 'txn-idem-commit';

const format = (n: number) => Math.round(n).toLocaleString('en-US');
const rate = (row: ThroughputRow) => row.records / row.seconds;
const ms = (value: number) => `${value.toFixed(2)} ms`;

const transactionalTopic = (size: number) => `txn-${size}`;
const idempotentTopic = (size: number) => `txn-idem-${size}`;

/** The topics (`name:partitions`) the broker process must create for these rows: one partition each. */
export const TRANSACTION_BENCH_TOPICS: readonly string[] = [
  ...TRANSACTION_SIZES.flatMap((size) => [`${idempotentTopic(size)}:1`, `${transactionalTopic(size)}:1`]),
  `${COMMIT_TOPIC}:1`,
  `${COMMIT_BASELINE_TOPIC}:1`,
];

/** One throughput row, in the shape of main.ts's table rows. */
export interface ThroughputRow {
  readonly scenario: string;
  readonly client: string;
  readonly records: number;
  readonly seconds: number;
  brokerCpuSeconds?: number;
}

export interface LatencySummary {
  readonly p50Ms: number;
  readonly p99Ms: number;
}

export interface CommitLatency {
  readonly recordsPerTransaction: number;
  readonly samples: number;
  /** `transaction.commit()`: EndTxn, answered once PrepareCommit is in `__transaction_state`. */
  readonly commit: LatencySummary;
  /** `transaction.send()`: AddPartitionsToTxn, then Produce. */
  readonly transactionalSend: LatencySummary;
  /** From `producer.transaction()` to the commit's answer. */
  readonly wholeTransaction: LatencySummary;
  /** An idempotent send of the same records: the baseline. */
  readonly idempotentSend: LatencySummary;
}

export interface TransactionBenchResult {
  /** Per transaction size: the idempotent baseline, then the transactional row. */
  readonly throughput: ReadonlyArray<{ readonly size: number; readonly idempotent: ThroughputRow; readonly transactional: ThroughputRow }>;
  readonly commitLatency: CommitLatency;
}

export interface TransactionBenchOptions {
  readonly bootstrap: string;
  /** Records per throughput row (rounded down to whole transactions). */
  readonly records: number;
  readonly valueBytes: number;
  readonly quick: boolean;
  /** Runs one throughput row (main.ts notes the broker's CPU time around it). */
  readonly measure: (run: () => Promise<ThroughputRow>) => Promise<ThroughputRow>;
}

export async function benchmarkTransactions(options: TransactionBenchOptions): Promise<TransactionBenchResult> {
  const kafka = new Kafka({ clientId: 'txn-bench', brokers: [options.bootstrap], logLevel: logLevel.NOTHING });
  const value = Buffer.alloc(options.valueBytes, 0x78);
  const throughput: Array<TransactionBenchResult['throughput'][number]> = [];
  for (const size of TRANSACTION_SIZES) {
    const messages = Array.from({ length: size }, () => ({ value }));
    const sends = Math.max(1, Math.floor(options.records / size));
    const idempotent = await options.measure(() => idempotentProduce(kafka, idempotentTopic(size), messages, sends));
    const transactional = await options.measure(() => transactionalProduce(kafka, transactionalTopic(size), messages, sends));
    throughput.push({ size, idempotent, transactional });
  }
  const samples = options.quick ? COMMIT_LATENCY_SAMPLES_QUICK : COMMIT_LATENCY_SAMPLES;
  const commitLatency = await measureCommitLatency(kafka, Array.from({ length: COMMIT_LATENCY_RECORDS }, () => ({ value })), samples);
  return { throughput, commitLatency };
}

async function idempotentProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  return producer;
}

async function transactionalProducer(kafka: Kafka, transactionalId: string): Promise<Producer> {
  const producer = kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: TRANSACTION_TIMEOUT_MS,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  return producer;
}

/** One committed transaction of `messages`. */
async function commitOne(producer: Producer, topic: string, messages: Message[]): Promise<void> {
  const transaction = await producer.transaction();
  try {
    await transaction.send({ topic, acks: -1, messages });
    await transaction.commit();
  } catch (error) {
    if (transaction.isActive()) await transaction.abort().catch(() => undefined);
    throw error;
  }
}

async function idempotentProduce(kafka: Kafka, topic: string, messages: Message[], sends: number): Promise<ThroughputRow> {
  const producer = await idempotentProducer(kafka);
  try {
    await producer.send({ topic, acks: -1, messages }); // warm-up: metadata, producer id
    const started = performance.now();
    for (let sent = 0; sent < sends; sent++) await producer.send({ topic, acks: -1, messages });
    const seconds = (performance.now() - started) / 1000;
    return {
      scenario: `produce, ${topic}`,
      client: `kafkajs idempotent, acks=all, ${messages.length}/send, one at a time (baseline; ${format(sends * messages.length)} records)`,
      records: sends * messages.length,
      seconds,
    };
  } finally {
    await producer.disconnect();
  }
}

async function transactionalProduce(kafka: Kafka, topic: string, messages: Message[], transactions: number): Promise<ThroughputRow> {
  const producer = await transactionalProducer(kafka, `bench-${topic}`);
  try {
    await commitOne(producer, topic, messages); // warm-up: coordinator, metadata
    const started = performance.now();
    for (let committed = 0; committed < transactions; committed++) await commitOne(producer, topic, messages);
    const seconds = (performance.now() - started) / 1000;
    return {
      scenario: `produce, ${topic}`,
      client: `kafkajs transactional, ${messages.length} records/transaction, one send + commit each (${format(transactions * messages.length)} records)`,
      records: transactions * messages.length,
      seconds,
    };
  } finally {
    await producer.disconnect();
  }
}

async function measureCommitLatency(kafka: Kafka, messages: Message[], samples: number): Promise<CommitLatency> {
  const commitMs: number[] = [];
  const sendMs: number[] = [];
  const wholeMs: number[] = [];
  const transactional = await transactionalProducer(kafka, 'bench-commit-latency');
  try {
    await commitOne(transactional, COMMIT_TOPIC, messages); // warm-up
    for (let sample = 0; sample < samples; sample++) {
      const began = performance.now();
      const transaction = await transactional.transaction();
      const sending = performance.now();
      await transaction.send({ topic: COMMIT_TOPIC, acks: -1, messages });
      const committing = performance.now();
      await transaction.commit();
      const ended = performance.now();
      sendMs.push(committing - sending);
      commitMs.push(ended - committing);
      wholeMs.push(ended - began);
    }
  } finally {
    await transactional.disconnect();
  }

  const idempotentMs: number[] = [];
  const idempotent = await idempotentProducer(kafka);
  try {
    await idempotent.send({ topic: COMMIT_BASELINE_TOPIC, acks: -1, messages }); // warm-up
    for (let sample = 0; sample < samples; sample++) {
      const began = performance.now();
      await idempotent.send({ topic: COMMIT_BASELINE_TOPIC, acks: -1, messages });
      idempotentMs.push(performance.now() - began);
    }
  } finally {
    await idempotent.disconnect();
  }
  return {
    recordsPerTransaction: messages.length,
    samples,
    commit: summarize(commitMs),
    transactionalSend: summarize(sendMs),
    wholeTransaction: summarize(wholeMs),
    idempotentSend: summarize(idempotentMs),
  };
}

/** Nearest-rank median and 99th percentile. */
export function summarize(samplesMs: readonly number[]): LatencySummary {
  if (samplesMs.length === 0) throw new Error('no latency samples');
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (quantile: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(quantile * sorted.length) - 1))]!;
  return { p50Ms: at(0.5), p99Ms: at(0.99) };
}

/** The transactions tables (the throughput rows themselves are also in main.ts's table). */
export function printTransactionReport(result: TransactionBenchResult): void {
  console.log('');
  console.log('| kafkajs, 1 partition, acks=all, one request at a time | idempotent records/s | transactional records/s | transactional vs idempotent |');
  console.log('|---|---:|---:|---:|');
  for (const { size, idempotent, transactional } of result.throughput) {
    console.log(`| ${format(size)} records per transaction (per send) | ${format(rate(idempotent))} | ${format(rate(transactional))} | ${Math.round((100 * rate(transactional)) / rate(idempotent))}% |`);
  }
  const latency = result.commitLatency;
  console.log('');
  console.log(`| kafkajs, transactions of ${latency.recordsPerTransaction} records, ${format(latency.samples)} samples | p50 | p99 |`);
  console.log('|---|---:|---:|');
  console.log(`| transaction.commit() (EndTxn) | ${ms(latency.commit.p50Ms)} | ${ms(latency.commit.p99Ms)} |`);
  console.log(`| transaction.send() (AddPartitionsToTxn + Produce) | ${ms(latency.transactionalSend.p50Ms)} | ${ms(latency.transactionalSend.p99Ms)} |`);
  console.log(`| whole transaction (begin, send, commit) | ${ms(latency.wholeTransaction.p50Ms)} | ${ms(latency.wholeTransaction.p99Ms)} |`);
  console.log(`| idempotent send of the same records (baseline) | ${ms(latency.idempotentSend.p50Ms)} | ${ms(latency.idempotentSend.p99Ms)} |`);
  console.log(
    `Added latency of a transaction (p50): ${ms(latency.wholeTransaction.p50Ms - latency.idempotentSend.p50Ms)} ` +
      `over an idempotent send, of which the commit is ${ms(latency.commit.p50Ms)}.`,
  );
}
