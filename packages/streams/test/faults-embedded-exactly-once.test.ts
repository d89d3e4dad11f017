/**
 * exactly_once on the embedded log, under crashes of the whole process: the child runs the
 * embedded log (a broker inside the app's process, on a data directory) and the `spans` pipeline;
 * a SIGKILL kills broker and app together, and the next child recovers the same directory (unclean
 * shutdown: the log's tail is re-validated, the transaction coordinator and the group reloaded from
 * their topics) and goes on. The input is written to the directory before the first start. At the
 * end, a broker opened on the directory serves the output to a read_committed reader: every input
 * exactly once; its read_uncommitted view shows the kills caught open transactions.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Kafka, logLevel } from 'kafkajs';
import { startBroker, type RunningBroker } from '@defter/broker';
import {
  AppChild,
  checkOutput,
  expectedOutputValue,
  faultSeed,
  inputRecord,
  killRepeatedly,
  readOutput,
  SeededRandom,
  type FaultAppConfig,
} from './fault-support.js';
import { sleep, type TestCluster } from './runtime-support.js';

const PARTITIONS = 4;
/** Enough that the kills come while there is input left. */
const RECORDS = 60_000;
/** The last instance is done when it has held no record in flight and no lag for this long. */
const IDLE_MS = 2_000;
const KILLS = 8;
const BROKER_OPTIONS = { offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3, groupMinSessionTimeoutMs: 1_000 } as const;

/** A listening broker on `dataDir` with a kafkajs client, for the test's own reads and writes. */
async function openCluster(dataDir: string): Promise<TestCluster & { close(): Promise<void> }> {
  const broker: RunningBroker = await startBroker({ dataDir, port: 0, groupInitialRebalanceDelayMs: 0, ...BROKER_OPTIONS });
  const bootstrap = `${broker.host}:${broker.port}`;
  const kafka = new Kafka({ clientId: 'embedded-faults-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  return {
    broker,
    bootstrap,
    kafka,
    createTopic: async (name, partitions) => {
      await broker.context.metadata.createTopic(name, partitions, {});
    },
    close: () => broker.close(),
  };
}

async function writeInput(cluster: TestCluster): Promise<void> {
  await cluster.createTopic('in', PARTITIONS);
  await cluster.createTopic('out', PARTITIONS);
  const producer = cluster.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let start = 0; start < RECORDS; start += 500) {
      const messages = Array.from({ length: Math.min(500, RECORDS - start) }, (_, index) => inputRecord(start + index, PARTITIONS));
      await producer.send({ topic: 'in', acks: -1, messages });
    }
  } finally {
    await producer.disconnect();
  }
}

async function temporaryDirectory(t: ExecutionContext): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'defter-embedded-faults-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  return dataDir;
}

test('exactly_once on the embedded log, app and broker SIGKILLed together 8 times: every input in the committed output exactly once', async (t) => {
  t.timeout(240_000);
  const seed = faultSeed();
  t.log(`seed ${seed} (replay the schedule with FAULTS_SEED=${seed})`);
  const dataDir = await temporaryDirectory(t);
  const before = await openCluster(dataDir);
  try {
    await writeInput(before);
  } finally {
    await before.close();
  }

  const config: FaultAppConfig = {
    dataDir,
    brokerOptions: BROKER_OPTIONS,
    applicationId: 'embedded-faults',
    instanceId: 'instance-1',
    processingGuarantee: 'exactly_once',
    commitIntervalMs: 100,
    sessionTimeoutMs: 3_000,
    heartbeatIntervalMs: 300,
    input: 'in',
    output: 'out',
    pipeline: 'spans',
    // Small batches (some 250 records), as over the wire: the embedded log would otherwise hand over a
    // whole partition of these small records at once, and one life would take in the whole input.
    fetchMaxBytesPerPartition: 8_192,
  };
  const kills = await killRepeatedly(t, () => AppChild.spawn(t, config), new SeededRandom(seed), KILLS);
  t.log(`kills: ${kills.schedule.join(', ')}; ${kills.killsWithRecordsInFlight} kills with records in flight`);
  t.is(kills.selfExits, 0, 'no instance failed by itself');

  // The last instance runs until it is idle (nothing in flight, no lag: in the embedded log a fetch
  // comes at once, so an instance that read nothing for IDLE_MS had nothing left), then closes (SIGTERM).
  const last = AppChild.spawn(t, config);
  const idle = (child: AppChild) => child.running && child.progress !== undefined && child.progress.lag === 0 && child.progress.inFlight === 0;
  const deadline = Date.now() + 90_000;
  for (;;) {
    t.true(await last.waitFor(idle, Math.max(1, deadline - Date.now()), 'the last instance finishes'), `the last instance stopped: ${last.error ?? last.stderr().slice(-800)}`);
    const progress = last.progress;
    await sleep(IDLE_MS);
    if (idle(last) && last.progress === progress) break;
  }
  t.log(`the last instance read ${last.progress!.recordsIn} records`);
  t.deepEqual(await last.terminate(), { code: 0, signal: null });
  t.true(last.closed);

  const after = await openCluster(dataDir);
  t.teardown(() => after.close());
  const admin = after.kafka.admin();
  await admin.connect();
  const [committedOffsets] = await admin.fetchOffsets({ groupId: 'embedded-faults', topics: ['in'] });
  await admin.disconnect();
  t.is(
    committedOffsets!.partitions.reduce((sum, entry) => sum + Number(entry.offset), 0),
    RECORDS,
    'the group has committed the whole input',
  );
  const committed = await readOutput(after, 'out', RECORDS, { timeoutMs: 30_000 });
  const check = checkOutput(committed, RECORDS, expectedOutputValue);
  t.deepEqual(check.missing.slice(0, 20), [], 'no input missing from the committed output');
  t.is(check.duplicates, 0, 'no input twice in the committed output');
  t.deepEqual(check.wrong, [], 'every output value is its input transformed');
  t.is(committed.length, RECORDS);

  const uncommitted = await readOutput(after, 'out', RECORDS, { readUncommitted: true, timeoutMs: 30_000 });
  t.log(`${uncommitted.length - RECORDS} output records of killed transactions in the log (read_uncommitted)`);
  t.true(checkOutput(uncommitted, RECORDS, expectedOutputValue).duplicates > 0, 'some kills caught a transaction with outputs in it');
  t.true(kills.killsWithRecordsInFlight >= 1, 'some kills caught records processed and not committed');
});
