/**
 * Transactions across a broker crash (SIGKILL of a broker in a child process, restarted on the same
 * data directory and port):
 * - a transaction open at the crash stays invisible to read_committed; the restarted broker rebuilds
 *   it from the log (the LSO stays below it, its sendOffsets offset stays pending), its coordinator
 *   aborts it once it times out, the LSO moves past it, its offset is dropped and later
 *   transactions become visible; its producer is fenced;
 * - the broker killed right after answering EndTxn(commit), while it may still be writing the
 *   markers to many partitions: after the restart every transaction is visible whole or not at all,
 *   and every transaction whose commit was answered is visible.
 */
import test from 'ava';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiKey, BATCH_HEADER_BYTES, ErrorCode, batchSizeAt, isControl, readBatchHeader } from '@defter/protocol';
import type { ConsumedLine } from './helpers/keyed-lines.js';
import { hasCommand, killQuietly } from './helpers/processes.js';
import { RawClient } from './helpers/raw-client.js';
import { tempDir, eventually } from './helpers/test-broker.js';
import { spawnConfiguredBroker } from './helpers/child-broker.js';
import { allStable, kcatReadAll, stableAndHigh, transactionalProducer, txnKafka } from './helpers/txn-clients.js';

const kcatTest = hasCommand('kcat') ? test : test.skip;

const SETTINGS = {
  transactionAbortTimedOutTransactionCleanupIntervalMs: 200,
  transactionStateLogNumPartitions: 3,
  offsetsTopicNumPartitions: 3,
  groupInitialRebalanceDelayMs: 0,
};
const RECOVERY_WAIT_MS = 40_000;

/** OffsetFetch v7 with requireStable for group `groupId`, partition restart-0: [offset, error code]. */
async function stableOffset(port: number, groupId: string): Promise<[bigint, number]> {
  const raw = await RawClient.connect(port);
  try {
    const { body } = await raw.request(ApiKey.OffsetFetch, 7, { groupId, topics: [{ name: 'restart', partitionIndexes: [0] }], requireStable: true });
    const partition = body.topics![0]!.partitions[0]!;
    return [partition.committedOffset, partition.errorCode];
  } finally {
    raw.close();
  }
}

async function describeTransaction(port: number, transactionalId: string) {
  const raw = await RawClient.connect(port);
  try {
    return (await raw.request(ApiKey.DescribeTransactions, 0, { transactionalIds: [transactionalId] })).body.transactionStates[0]!;
  } finally {
    raw.close();
  }
}

function valuesPerPartition(lines: readonly ConsumedLine[]): Record<number, string[]> {
  const result: Record<number, string[]> = {};
  for (const line of [...lines].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) (result[line.partition] ??= []).push(line.value);
  return result;
}

kcatTest('a transaction open at a SIGKILL stays invisible; after the restart the coordinator aborts it on timeout and the LSO moves on', async (t) => {
  const dataDir = await tempDir(t, 'defter-txn-restart-');
  const first = await spawnConfiguredBroker(t, dataDir, { settings: SETTINGS, topics: ['restart:3'] });
  const kafka = txnKafka(first.bootstrap);
  const steady = await transactionalProducer(t, kafka, 'steady');
  const before = await steady.transaction();
  await before.send({ topic: 'restart', messages: [0, 1, 2].map((partition) => ({ value: `steady-1-${partition}`, partition })) });
  await before.sendOffsets({ consumerGroupId: 'etl', topics: [{ topic: 'restart', partitions: [{ partition: 0, offset: '7' }] }] });
  await before.commit();
  // Its markers are written after EndTxn answers: wait for them, so the offsets below are known.
  t.true(await eventually(() => allStable(first.port, 'restart', 3), RECOVERY_WAIT_MS, 20));

  const doomedTimeoutMs = 6_000;
  const doomed = await transactionalProducer(t, kafka, 'doomed', doomedTimeoutMs);
  const open = await doomed.transaction();
  await open.send({ topic: 'restart', messages: [{ value: 'doomed-0-a', partition: 0 }, { value: 'doomed-0-b', partition: 0 }, { value: 'doomed-1', partition: 1 }] });
  await open.sendOffsets({ consumerGroupId: 'etl', topics: [{ topic: 'restart', partitions: [{ partition: 0, offset: '42' }] }] });
  const plain = kafka.producer({ allowAutoTopicCreation: false });
  t.teardown(() => plain.disconnect());
  await plain.connect();
  await plain.send({ topic: 'restart', acks: -1, messages: [0, 1].map((partition) => ({ value: `plain-after-${partition}`, partition })) });
  t.deepEqual(await stableOffset(first.port, 'etl'), [-1n, ErrorCode.UNSTABLE_OFFSET_COMMIT], 'the open transaction’s offset is pending');
  const doomedBefore = await describeTransaction(first.port, 'doomed');
  t.like(doomedBefore, { transactionState: 'Ongoing' });
  // p0: steady-1 @0, its marker @1, doomed @2-3, plain @4. p1: steady-1 @0, marker @1, doomed @2, plain @3.
  t.deepEqual(await stableAndHigh(first.port, 'restart', 3), [
    [2n, 5n],
    [2n, 4n],
    [2n, 2n],
  ]);

  killQuietly(first.child);
  t.is((await first.exited).signal, 'SIGKILL');
  const second = await spawnConfiguredBroker(t, dataDir, { settings: SETTINGS, port: first.port });

  // The restarted broker rebuilt the open transaction from the log: the LSO stays below it until the
  // coordinator aborts it. (Read the LSO first: if the transaction is still Ongoing afterwards, it was then.)
  // Likewise its pending offset, rebuilt from __consumer_offsets.
  const afterRestart = await stableAndHigh(second.port, 'restart', 3);
  const offsetAfterRestart = await stableOffset(second.port, 'etl');
  const stateAfterRestart = (await describeTransaction(second.port, 'doomed')).transactionState;
  t.log(`after the restart: ${stateAfterRestart}, ends ${JSON.stringify(afterRestart, (_k, v) => (typeof v === 'bigint' ? Number(v) : v))}`);
  if (stateAfterRestart === 'Ongoing') {
    t.deepEqual(afterRestart.map(([lso]) => lso), [2n, 2n, 2n], 'the LSO stays at the open transaction');
    t.deepEqual(offsetAfterRestart, [-1n, ErrorCode.UNSTABLE_OFFSET_COMMIT], 'its offset is still pending');
  }
  const early = await kcatReadAll(t, second.bootstrap, 'restart', 'read_committed');
  t.deepEqual(early.filter((line) => line.value.startsWith('doomed')), [], 'read_committed never shows the open transaction');

  t.true(await eventually(() => allStable(second.port, 'restart', 3), RECOVERY_WAIT_MS, 100), 'the timed-out transaction is aborted and the LSO reaches the high watermark');
  const doomedAfter = await describeTransaction(second.port, 'doomed');
  t.like(doomedAfter, { transactionState: 'CompleteAbort', producerId: doomedBefore.producerId, topics: [] });
  t.true(doomedAfter.producerEpoch > doomedBefore.producerEpoch, 'the abort on timeout bumped the epoch (fencing the producer)');
  t.deepEqual(await stableOffset(second.port, 'etl'), [7n, ErrorCode.NONE], 'the aborted offset is dropped; the committed one stays');

  // The same kafkajs producers reconnect to the restarted broker on the same port.
  const after = await steady.transaction();
  await after.send({ topic: 'restart', messages: [0, 1, 2].map((partition) => ({ value: `steady-2-${partition}`, partition })) });
  await after.commit();
  t.true(await eventually(() => allStable(second.port, 'restart', 3), RECOVERY_WAIT_MS, 100));
  const committed = await kcatReadAll(t, second.bootstrap, 'restart', 'read_committed');
  t.deepEqual(valuesPerPartition(committed), {
    0: ['steady-1-0', 'plain-after-0', 'steady-2-0'],
    1: ['steady-1-1', 'plain-after-1', 'steady-2-1'],
    2: ['steady-1-2', 'steady-2-2'],
  });
  const everything = await kcatReadAll(t, second.bootstrap, 'restart', 'read_uncommitted');
  t.deepEqual(valuesPerPartition(everything), {
    0: ['steady-1-0', 'doomed-0-a', 'doomed-0-b', 'plain-after-0', 'steady-2-0'],
    1: ['steady-1-1', 'doomed-1', 'plain-after-1', 'steady-2-1'],
    2: ['steady-1-2', 'steady-2-2'],
  }, 'the aborted records are in the log, acknowledged before the crash');

  await t.throwsAsync(open.commit(), { message: /epoch/i }, 'the timed-out producer is fenced');
  killQuietly(second.child, 'SIGTERM');
  t.is((await second.exited).code, 0);
});

/**
 * Whether each partition's log, as the dead broker left it on disk, ends with a marker after its
 * last data batch (read straight from the segment files): how far the marker writing got before
 * the kill. (A restart that completes a PrepareCommit writes its markers again, as Kafka does, so
 * counting markers would not tell.)
 */
async function endsWithMarker(dataDir: string, topic: string, partitions: number): Promise<boolean[]> {
  return Promise.all(
    Array.from({ length: partitions }, async (_, partition) => {
      const directory = join(dataDir, `${topic}-${partition}`);
      let markerLast = false;
      for (const name of (await readdir(directory)).filter((file) => file.endsWith('.log')).sort()) {
        const bytes = await readFile(join(directory, name));
        // A torn tail (a batch cut short) ends the scan, as recovery would truncate it.
        for (let position = 0; position + BATCH_HEADER_BYTES <= bytes.length; ) {
          const size = batchSizeAt(bytes, position);
          if (size < BATCH_HEADER_BYTES || position + size > bytes.length) break;
          markerLast = isControl(readBatchHeader(bytes, position).attributes);
          position += size;
        }
      }
      return markerLast;
    }),
  );
}

const HALF_PARTITIONS = 32;
const ROUNDS = 3;

kcatTest('SIGKILL right after EndTxn(commit) is answered: after the restart each transaction is visible whole or not at all, and every answered commit is', async (t) => {
  const dataDir = await tempDir(t, 'defter-txn-half-');
  const topic = 'half';
  /** Transaction tag → what its producer was told: 'commit' (EndTxn answered), 'abort'. */
  const outcomes = new Map<string, 'commit' | 'abort'>();
  let port = 0;
  let interrupted = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const broker = await spawnConfiguredBroker(t, dataDir, { settings: SETTINGS, port, topics: [`${topic}:${HALF_PARTITIONS}`] });
    port = broker.port;
    // A fresh client each round, with the same transactional id: its InitProducerId must wait for the
    // restarted coordinator to finish what the crash interrupted.
    const kafka = txnKafka(broker.bootstrap, `half-${round}`);
    const producer = await transactionalProducer(t, kafka, 'half');
    const send = async (tag: string, outcome: 'commit' | 'abort') => {
      const transaction = await producer.transaction();
      await transaction.send({ topic, messages: Array.from({ length: HALF_PARTITIONS }, (_, partition) => ({ value: `${tag}-${partition}`, partition })) });
      if (outcome === 'commit') await transaction.commit();
      else await transaction.abort();
      outcomes.set(tag, outcome);
    };
    await send(`r${round}-a`, 'commit');
    await send(`r${round}-b`, 'abort');
    await send(`r${round}-c`, 'commit');
    // The broker is now writing r<round>-c's commit markers to 32 partitions: kill it at once.
    killQuietly(broker.child);
    t.is((await broker.exited).signal, 'SIGKILL');
    await producer.disconnect();
    const complete = (await endsWithMarker(dataDir, topic, HALF_PARTITIONS)).filter(Boolean).length;
    t.log(`round ${round}: ${complete} of ${HALF_PARTITIONS} partitions had r${round}-c's marker on disk at the kill`);
    interrupted += complete < HALF_PARTITIONS ? 1 : 0;
  }
  t.log(`${interrupted} of ${ROUNDS} kills interrupted the markers`);

  const last = await spawnConfiguredBroker(t, dataDir, { settings: SETTINGS, port, topics: [`${topic}:${HALF_PARTITIONS}`] });
  t.true(await eventually(() => allStable(last.port, topic, HALF_PARTITIONS), RECOVERY_WAIT_MS, 100), 'the interrupted commits are completed: no partition keeps an open transaction');
  const committed = await kcatReadAll(t, last.bootstrap, topic, 'read_committed');
  const partitionsByTag = new Map<string, Set<number>>();
  for (const line of committed) {
    const tag = line.value.slice(0, line.value.lastIndexOf('-'));
    const partitions = partitionsByTag.get(tag) ?? new Set<number>();
    t.false(partitions.has(line.partition), `${line.value} read twice`);
    partitions.add(line.partition);
    partitionsByTag.set(tag, partitions);
  }
  const visible = Object.fromEntries([...partitionsByTag].map(([tag, partitions]) => [tag, partitions.size]).sort());
  const expected = Object.fromEntries([...outcomes].filter(([, outcome]) => outcome === 'commit').map(([tag]) => [tag, HALF_PARTITIONS]).sort());
  t.deepEqual(visible, expected, 'every answered commit is visible on all its partitions; no aborted record is');
  for (let partition = 0; partition < HALF_PARTITIONS; partition++) {
    const order = committed.filter((line) => line.partition === partition).sort((a, b) => a.offset - b.offset).map((line) => line.value.slice(0, line.value.lastIndexOf('-')));
    t.deepEqual(order, Object.keys(expected).sort(), `partition ${partition} in commit order`);
  }
});
