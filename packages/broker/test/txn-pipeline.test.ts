/**
 * Exactly-once consume–transform–produce under crashes: a processor in a child process — kafkajs
 * with `sendOffsets`, or librdkafka with `send_offsets_to_transaction` (whose TxnOffsetCommit
 * carries the group generation and member id) — reads an input topic in a group and writes each
 * chunk's transformed records to an output topic in one transaction together with the input
 * offsets. The test SIGKILLs it at seeded random moments (just after it reports sending a
 * transaction's records, its offsets or its commit, or at a random time after its start, which
 * may fall in its start-up, its fencing or its join) and restarts it, many times over, then lets
 * a last instance finish. The output, read with read_committed, is every input record
 * transformed exactly once, in input order per partition: no loss, no duplicate; the group's
 * committed offsets are the input's ends.
 */
import test, { type ExecutionContext } from 'ava';
import { Kafka, logLevel } from 'kafkajs';
import { committedOffsets, waitUntil } from './helpers/group-consumers.js';
import { hasCommand, killQuietly, pythonWith } from './helpers/processes.js';
import { startTestBroker } from './helpers/test-broker.js';
import { allStable, kcatReadAll } from './helpers/txn-clients.js';
import { spawnPipeline, spawnPythonPipeline, transformValue, type PipelineOptions, type PipelineProcess, type PipelineStage } from './helpers/txn-pipeline.js';

const kcatTest = hasCommand('kcat') ? test : test.skip;

const PARTITIONS = 4;
const RECORDS = 3_000;
const KILLS = 10;
const SEED = Number(process.env['TXN_PIPELINE_SEED'] ?? 0x5eed_2024);
const FINISH_WAIT_MS = 60_000;
/** A processor that commits nothing for this long is stuck (the input is far from consumed when the kills happen). */
const STALL_MS = 30_000;
const STAGES: readonly PipelineStage[] = ['sent', 'offsets', 'committed'];

/** A small seeded generator (a Weyl sequence through murmur3's finaliser), so that a failing schedule can be replayed with TXN_PIPELINE_SEED. */
class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z = (z ^ (z >>> 16)) >>> 0;
    return min + Math.floor((z / 2 ** 32) * (max - min + 1));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface PipelineRun {
  readonly name: string;
  readonly kills: number;
  readonly spawn: (t: ExecutionContext, options: PipelineOptions) => PipelineProcess;
}

/**
 * Feeds the input, kills and restarts processors `run.kills` times at seeded random moments, lets
 * a last one finish, then checks the output against the input.
 */
async function killAndRestart(t: ExecutionContext, run: PipelineRun): Promise<void> {
  t.timeout(150_000);
  const seed = SEED + run.name.length;
  t.log(`seed ${seed} (TXN_PIPELINE_SEED=${SEED})`);
  const random = new SeededRandom(seed);
  const { broker, bootstrap, port } = await startTestBroker(t, {
    groupInitialRebalanceDelayMs: 0,
    groupMinSessionTimeoutMs: 500,
    offsetsTopicNumPartitions: 3,
    transactionStateLogNumPartitions: 3,
  });
  await broker.context.metadata.createTopic('pipeline-in', PARTITIONS, {});
  await broker.context.metadata.createTopic('pipeline-out', PARTITIONS, {});
  const kafka = new Kafka({ clientId: 'pipeline-test', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1_000 } });

  // The input: RECORDS values over the partitions in turn, so input partition p holds rec-p, rec-(p+4), …
  const inputByPartition: string[][] = Array.from({ length: PARTITIONS }, () => []);
  const plain = kafka.producer({ allowAutoTopicCreation: false });
  await plain.connect();
  for (let start = 0; start < RECORDS; start += 500) {
    const messages = Array.from({ length: Math.min(500, RECORDS - start) }, (_, i) => ({ value: `rec-${start + i}`, partition: (start + i) % PARTITIONS }));
    for (const message of messages) inputByPartition[message.partition]!.push(message.value);
    await plain.send({ topic: 'pipeline-in', acks: -1, messages });
  }
  await plain.disconnect();

  const options: PipelineOptions = {
    bootstrap,
    groupId: 'pipeline',
    input: 'pipeline-in',
    output: 'pipeline-out',
    transactionalId: 'pipeline-tx',
    chunkSize: 10,
    sessionTimeoutMs: 1_200,
    pauseMs: 10,
  };
  const schedule: string[] = [];
  let failures = 0;
  for (let kills = 0; kills < run.kills; ) {
    const processor = run.spawn(t, options);
    let survived: boolean;
    if (random.int(0, 4) === 0) {
      // Any time after the start: start-up, fencing, the join, or a transaction.
      const afterMs = random.int(200, 1_800);
      schedule.push(`${afterMs}ms`);
      survived = await Promise.race([sleep(afterMs).then(() => true), processor.exited.then(() => false)]);
    } else {
      // Inside the stream: just after the n-th (1-3) time it reports a step (records sent, offsets
      // sent, or committed: the markers may still be on their way), plus 0-5 ms.
      const stage = STAGES[random.int(0, STAGES.length - 1)]!;
      const count = random.int(1, 3);
      const delayMs = random.int(0, 5);
      schedule.push(`${stage}#${count}+${delayMs}ms`);
      const progressed = await Promise.race([processor.reachedAtLeast(stage, count), sleep(STALL_MS).then(() => 'stalled' as const)]);
      if (progressed === 'stalled') throw new Error(`no progress within ${STALL_MS} ms: ${JSON.stringify(processor.reached)}; ${processor.stderr().slice(-600)}`);
      survived = progressed && (await Promise.race([sleep(delayMs).then(() => true), processor.exited.then(() => false)]));
    }
    if (!survived) {
      // The processor died by itself (any error ends it): a supervisor restarts it, and so do we.
      failures += 1;
      t.log(`processor exited on its own (${JSON.stringify(await processor.exited)}): ${processor.stderr().slice(-600)}`);
      t.true(failures <= 5, 'the processor keeps failing on its own');
      continue;
    }
    killQuietly(processor.child);
    t.is((await processor.exited).signal, 'SIGKILL');
    kills += 1;
  }
  const consumedBeforeLast = [...(await committedOffsets(kafka, 'pipeline', 'pipeline-in')).values()].reduce((sum, offset) => sum + Math.max(0, offset), 0);
  t.log(`kills: ${schedule.join(', ')}; ${consumedBeforeLast} of ${RECORDS} input records committed before the last processor`);

  const last = run.spawn(t, options);
  const perPartition = RECORDS / PARTITIONS;
  await waitUntil(
    async () => {
      const offsets = await committedOffsets(kafka, 'pipeline', 'pipeline-in');
      return Array.from({ length: PARTITIONS }, (_, partition) => offsets.get(partition)).every((offset) => offset === perPartition);
    },
    FINISH_WAIT_MS,
    () => `the last processor did not finish: ${last.reached.committed} commits; ${last.stderr().slice(-600)}`,
    250,
  );
  // SIGKILL this one too: it has committed everything, and with no input left it starts no transaction.
  killQuietly(last.child);
  await last.exited;
  await waitUntil(() => allStable(port, 'pipeline-out', PARTITIONS), 20_000, () => 'an output transaction stays open');

  const output = await kcatReadAll(t, bootstrap, 'pipeline-out', 'read_committed');
  t.is(output.length, RECORDS, 'as many output records as input records');
  const counts = new Map<string, number>();
  for (const line of output) counts.set(line.value, (counts.get(line.value) ?? 0) + 1);
  const expected = inputByPartition.flat().map(transformValue);
  t.deepEqual(expected.filter((value) => counts.get(value) !== 1).slice(0, 10), [], 'each input record transformed exactly once');
  t.is(counts.size, RECORDS, 'nothing else in the output');
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const read = output.filter((line) => line.partition === partition).sort((a, b) => a.offset - b.offset).map((line) => line.value);
    t.deepEqual(read, inputByPartition[partition]!.map(transformValue), `output partition ${partition}: its input partition, in order`);
  }
  const everything = await kcatReadAll(t, bootstrap, 'pipeline-out', 'read_uncommitted');
  t.log(`${everything.length - RECORDS} output records of killed transactions were aborted; ${failures} processor failures`);
  t.true(everything.length >= RECORDS);
}

kcatTest('kafkajs consume–transform–produce with sendOffsets, SIGKILLed at random moments: every input record transformed exactly once', async (t) => {
  await killAndRestart(t, { name: 'kafkajs', kills: KILLS, spawn: spawnPipeline });
});

const python = pythonWith('confluent_kafka');
(python === undefined ? test.skip : kcatTest)(
  'librdkafka consume–transform–produce with send_offsets_to_transaction, SIGKILLed at random moments: every input record transformed exactly once',
  async (t) => {
    await killAndRestart(t, { name: 'librdkafka', kills: KILLS, spawn: (context, options) => spawnPythonPipeline(context, python!, options) });
  },
);
