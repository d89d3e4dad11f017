import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { EmbeddedLog } from '../src/index.js';
import { registerLogContract, startCluster } from './log-contract.js';
import { spawnChildBroker } from '../../broker/test/helpers/child-broker.js';
import { waitUntil } from './runtime-support.js';

registerLogContract(
  test,
  'embedded',
  async (t) => {
    const cluster = await startCluster(t);
    return { broker: cluster.broker, newLog: () => new EmbeddedLog({ broker: cluster.broker }) };
  },
  { awaitsRevocation: true, promptResume: true, fencesByGeneration: true, stablePositions: true },
);

async function temporaryDirectory(t: import('ava').ExecutionContext): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'defter-embedded-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  return dataDir;
}

test('embedded: { dataDir } starts a broker of its own without a listener, closes it, and a restart sees the data', async (t) => {
  const dataDir = await temporaryDirectory(t);
  const log = new EmbeddedLog({ dataDir, brokerOptions: { offsetsTopicNumPartitions: 1, transactionStateLogNumPartitions: 1 } });
  await log.connect();
  t.false(log.runningBroker!.listening);
  await log.createTopics([{ name: 'kept', partitions: 2 }]);
  const producer = await log.createProducer({});
  await producer.send([{ topic: 'kept', partition: 1, key: null, value: Buffer.from('x'), headers: {}, timestamp: 1 }]);
  await log.close();

  const again = new EmbeddedLog({ dataDir });
  await again.connect();
  t.teardown(() => again.close());
  t.is(await again.partitionCount('kept'), 2);
  t.is(again.runningBroker!.context.logManager.getLog('kept', 1)?.highWatermark, 1n);
});

test('embedded: a data directory another process holds fails with the lock error and a hint', async (t) => {
  const dataDir = await temporaryDirectory(t);
  const child = await spawnChildBroker(t, dataDir);
  const log = new EmbeddedLog({ dataDir });
  const error = await t.throwsAsync(() => log.connect());
  t.regex(error!.message, new RegExp(`data directory .* is locked by process ${child.child.pid}, which is still running; use --brokers / \\{ brokers \\} to reach a running broker`));
  await log.close();
});

test('embedded: close does not sit out a long poll, and a late Fetch answer is dropped', async (t) => {
  const dataDir = await temporaryDirectory(t);
  const log = new EmbeddedLog({ dataDir, brokerOptions: { offsetsTopicNumPartitions: 1 } });
  await log.connect();
  t.teardown(() => log.close());
  await log.createTopics([{ name: 'quiet', partitions: 1 }]);
  const assigned: number[] = [];
  const batches: number[] = [];
  const consumer = log.createConsumer({
    groupId: 'quiet-group',
    topics: ['quiet'],
    isolationLevel: 'read_committed',
    fetchMaxBytesPerPartition: 1 << 20,
    fetchMaxWaitMs: 20_000,
    partitionsConcurrentlyMax: 1,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 500,
    fromBeginning: true,
  });
  await consumer.run({
    onAssigned: (partitions) => void assigned.push(partitions.length),
    onRevoked: () => undefined,
    onBatch: async (batch) => void batches.push(batch.records.length),
    onCrash: (error) => t.fail(error.message),
  });
  t.true(await waitUntil(() => assigned.length === 1, 30_000));
  // Let the first Fetch start its 20 s long poll.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const startedMs = performance.now();
  await consumer.close();
  const closeMs = performance.now() - startedMs;
  t.true(closeMs < 5_000, `close took ${Math.round(closeMs)} ms`);
  t.deepEqual(batches, []);
  // The group is empty again: the member left.
  t.is(log.runningBroker!.context.groupCoordinator.groupState('quiet-group'), 'Empty');
});
