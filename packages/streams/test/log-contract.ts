/**
 * The `StreamLog` contract (src/log/stream-log.ts) as one ava suite that every implementation runs
 * (`log-contract-<name>.test.ts`), against a real broker. Where an implementation cannot honour a
 * clause (kafkajs has no awaited revocation), `capabilities` turns off that assertion only.
 */
import type { ExecutionContext, TestFn } from 'ava';
import { IsolationLevel, type RunningBroker } from '@defter/broker';
import { decodeRecordBatches } from '@defter/protocol';
import type {
  ConsumerOptions,
  FetchedBatch,
  GroupConsumer,
  GroupHandlers,
  OutgoingRecord,
  StreamLog,
  TopicPartition,
} from '../src/index.js';
import { startCluster, waitUntil, sleep } from './runtime-support.js';

export interface LogCapabilities {
  /** `onRevoked` is awaited before the member rejoins (and so before any member gets the partitions). */
  readonly awaitsRevocation: boolean;
  /** With every partition paused, a resumed partition is fetched without waiting out fetchMaxWaitMs. */
  readonly promptResume: boolean;
  /** TxnOffsetCommit carries the generation: offsets from a member of an older generation are refused. */
  readonly fencesByGeneration: boolean;
  /**
   * Positions come from OffsetFetch with requireStable: offsets of a transaction that has just
   * committed are seen at once (without it, the previous offsets until the markers are written).
   */
  readonly stablePositions: boolean;
}

export interface LogUnderTest {
  readonly broker: RunningBroker;
  /** A new, unconnected log on that broker. */
  newLog(): StreamLog;
}

export type LogFactory = (t: ExecutionContext) => Promise<LogUnderTest>;

const WAIT_MS = 30_000;

/** Registers the contract tests for one implementation. */
export function registerLogContract(test: TestFn, name: string, factory: LogFactory, capabilities: LogCapabilities): void {
  const title = (text: string): string => `${name}: ${text}`;

  test(title('createTopics leaves existing topics as they are; partitionCount; a missing topic rejects; topicsMatching hides internal topics'), async (t) => {
    const { log } = await connected(t, factory);
    await log.createTopics([{ name: 'orders', partitions: 3 }]);
    await log.createTopics([{ name: 'orders', partitions: 5 }, { name: 'orders-audit', partitions: 1, configs: { 'cleanup.policy': 'compact' } }]);
    t.is(await log.partitionCount('orders'), 3);
    t.is(await log.partitionCount('orders-audit'), 1);
    await t.throwsAsync(() => log.partitionCount('no-such-topic'), { message: /no-such-topic/ });
    // A group commit creates __consumer_offsets: internal topics never match.
    const producer = await log.createProducer({});
    await producer.send([record('orders', 0, 'k', 'v')]);
    const consumer = log.createConsumer(consumerOptions('matcher', ['orders']));
    await consumer.run(recordingHandlers().handlers);
    await consumer.commitOffsets([{ topic: 'orders', partition: 0, offset: 1n }]).catch(() => undefined);
    await consumer.close();
    t.deepEqual(await log.topicsMatching(/^orders/), ['orders', 'orders-audit']);
    t.deepEqual(await log.topicsMatching(/.*/), ['orders', 'orders-audit']);
  });

  test(title('send resolves in call order, acks=all, records come back in offset order with keys, values, headers and timestamps'), async (t) => {
    const { log, broker } = await connected(t, factory);
    await log.createTopics([{ name: 'events', partitions: 2 }]);
    const producer = await log.createProducer({});
    const resolved: number[] = [];
    const sends = [0, 1, 2, 3, 4].map((index) =>
      producer
        .send([
          record('events', 0, `k${index}`, `v${index}`, { trace: `t${index}` }, 1_700_000_000_000 + index),
          record('events', 1, `k${index}`, `w${index}`, {}, 1_700_000_000_000 + index),
        ])
        .then(() => resolved.push(index)),
    );
    await Promise.all(sends);
    t.deepEqual(resolved, [0, 1, 2, 3, 4]);
    // Acknowledged with acks=all: in the log, below the high watermark, before we read it.
    t.is(broker.context.logManager.getLog('events', 0)?.highWatermark, 5n);
    t.is(broker.context.logManager.getLog('events', 1)?.highWatermark, 5n);

    const recorder = recordingHandlers();
    const consumer = log.createConsumer(consumerOptions('reader', ['events']));
    await consumer.run(recorder.handlers);
    t.true(await waitUntil(() => recorder.records('events', 0).length === 5 && recorder.records('events', 1).length === 5, WAIT_MS));
    await consumer.close();
    const partition0 = recorder.records('events', 0);
    t.deepEqual(partition0.map((entry) => entry.offset), [0n, 1n, 2n, 3n, 4n]);
    t.deepEqual(partition0.map((entry) => entry.key?.toString()), ['k0', 'k1', 'k2', 'k3', 'k4']);
    t.deepEqual(partition0.map((entry) => entry.value?.toString()), ['v0', 'v1', 'v2', 'v3', 'v4']);
    t.deepEqual(partition0.map((entry) => entry.timestamp), [0, 1, 2, 3, 4].map((index) => 1_700_000_000_000 + index));
    t.deepEqual(partition0.map((entry) => String(entry.headers['trace'])), ['t0', 't1', 't2', 't3', 't4']);
    t.deepEqual(recorder.records('events', 1).map((entry) => entry.value?.toString()), ['w0', 'w1', 'w2', 'w3', 'w4']);
  });

  test(title('the producer is idempotent: every batch carries one producer id and consecutive sequences'), async (t) => {
    const { log, broker } = await connected(t, factory);
    await log.createTopics([{ name: 'idem', partitions: 1 }]);
    const producer = await log.createProducer({});
    for (let index = 0; index < 3; index++) await producer.send([record('idem', 0, 'a', `${index}a`), record('idem', 0, 'b', `${index}b`)]);
    const [result] = await broker.context.replicaManager.fetch({
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: IsolationLevel.READ_UNCOMMITTED,
      partitions: [{ topic: 'idem', partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }],
    });
    const batches = decodeRecordBatches(result!.records);
    t.true(batches.length >= 1);
    t.true(batches.every((batch) => batch.producerId >= 0n && batch.producerId === batches[0]!.producerId));
    let expectedSequence = 0;
    for (const batch of batches) {
      t.is(batch.baseSequence, expectedSequence);
      expectedSequence += batch.records.length;
    }
    t.is(expectedSequence, 6);
  });

  test(title('two members of one group split the partitions, revoke on join and take over on close'), async (t) => {
    const { log } = await connected(t, factory);
    await log.createTopics([{ name: 'split', partitions: 4 }]);
    const events: string[] = [];
    const first = recordingHandlers({
      onRevoked: async (partitions) => {
        events.push(`first revoked ${partitions.length}`);
        await sleep(300);
        events.push('first revocation done');
      },
      onAssigned: (partitions) => {
        events.push(`first assigned ${partitions.length}`);
      },
    });
    const consumerA = log.createConsumer(consumerOptions('splitters', ['split']));
    t.teardown(() => consumerA.close());
    await consumerA.run(first.handlers);
    t.true(await waitUntil(() => first.assignments.at(-1)?.length === 4, WAIT_MS));

    const second = recordingHandlers({ onAssigned: (partitions) => void events.push(`second assigned ${partitions.length}`) });
    const consumerB = log.createConsumer(consumerOptions('splitters', ['split']));
    await consumerB.run(second.handlers);
    t.true(await waitUntil(() => first.assignments.at(-1)?.length === 2 && second.assignments.at(-1)?.length === 2, WAIT_MS));
    const keys = (partitions: readonly TopicPartition[]): string[] => partitions.map((partition) => `${partition.topic}-${partition.partition}`);
    t.deepEqual([...keys(first.assignments.at(-1)!), ...keys(second.assignments.at(-1)!)].sort(), ['split-0', 'split-1', 'split-2', 'split-3']);
    t.deepEqual(keys(first.revocations[0]!).sort(), ['split-0', 'split-1', 'split-2', 'split-3']);
    if (capabilities.awaitsRevocation) {
      // Awaited: nobody got partitions before the first member's revocation had finished.
      const done = events.indexOf('first revocation done');
      t.true(done >= 0 && done < events.indexOf('second assigned 2') && done < events.lastIndexOf('first assigned 2'), events.join(' | '));
    }
    // kafkajs: onRevoked is called when its rebalance starts, not awaited (no hook to await it).

    await consumerB.close();
    t.true(await waitUntil(() => first.assignments.at(-1)?.length === 4, WAIT_MS));
    t.is(first.revocations.length, 2);
  });

  test(title('after a rebalance, positions are the committed offsets, not what was delivered'), async (t) => {
    const { log } = await connected(t, factory);
    await log.createTopics([{ name: 'positions', partitions: 1 }]);
    const producer = await log.createProducer({});
    await producer.send(Array.from({ length: 10 }, (_, index) => record('positions', 0, `k${index}`, `v${index}`)));
    let consumerA: GroupConsumer | undefined;
    const first = recordingHandlers({
      onBatch: async (batch) => {
        // Commits half of what it got: the other half must be delivered again.
        if (batch.records.length > 0 && batch.records[0]!.offset === 0n) await consumerA!.commitOffsets([{ topic: 'positions', partition: 0, offset: 5n }]);
      },
    });
    consumerA = log.createConsumer(consumerOptions('positioned', ['positions']));
    await consumerA.run(first.handlers);
    t.true(await waitUntil(() => first.records('positions', 0).length === 10, WAIT_MS));
    const second = recordingHandlers();
    const consumerB = log.createConsumer(consumerOptions('positioned', ['positions']));
    t.teardown(() => consumerB.close());
    await consumerB.run(second.handlers);
    t.true(await waitUntil(() => first.revocations.length === 1 && second.assignments.length >= 1, WAIT_MS));
    await consumerA.close();
    t.true(await waitUntil(() => second.records('positions', 0).length === 5, WAIT_MS));
    t.deepEqual(second.records('positions', 0).map((entry) => entry.offset), [5n, 6n, 7n, 8n, 9n]);
  });

  test(title('backpressure: a partition is not fetched again before its handler settles; at most partitionsConcurrentlyMax at once'), async (t) => {
    const { log } = await connected(t, factory);
    await log.createTopics([{ name: 'slow', partitions: 2 }]);
    const producer = await log.createProducer({});
    for (let index = 0; index < 3; index++) await producer.send([record('slow', 0, 'k', `a${index}`), record('slow', 1, 'k', `b${index}`)]);
    let running = 0;
    let runningMax = 0;
    const releases: Array<() => void> = [];
    const recorder = recordingHandlers({
      onBatch: async () => {
        running += 1;
        runningMax = Math.max(runningMax, running);
        await new Promise<void>((resolve) => releases.push(resolve));
        running -= 1;
      },
    });
    const consumer = log.createConsumer({ ...consumerOptions('slow-readers', ['slow']), partitionsConcurrentlyMax: 1, fetchMaxBytesPerPartition: 1 });
    t.teardown(() => consumer.close());
    await consumer.run(recorder.handlers);
    t.true(await waitUntil(() => recorder.batches.length === 1, WAIT_MS));
    // Nothing else may arrive while the one handler holds its batch (a negative: give it time to go wrong).
    await sleep(500);
    t.is(recorder.batches.length, 1);
    let released = 0;
    while (recorder.records('slow', 0).length + recorder.records('slow', 1).length < 6) {
      t.true(await waitUntil(() => releases.length > 0, WAIT_MS));
      releases.shift()!();
      released += 1;
      t.true(released <= 6);
    }
    while (releases.length > 0) releases.shift()!();
    t.is(runningMax, 1);
    // One record per batch (fetchMaxBytesPerPartition 1 still returns one whole record batch), in order per partition.
    t.deepEqual(recorder.records('slow', 0).map((entry) => entry.value?.toString()), ['a0', 'a1', 'a2']);
    t.deepEqual(recorder.records('slow', 1).map((entry) => entry.value?.toString()), ['b0', 'b1', 'b2']);
  });

  test(title('pause stops a partition without leaving the group; resume fetches it again'), async (t) => {
    const { log } = await connected(t, factory);
    await log.createTopics([{ name: 'pausable', partitions: 1 }]);
    const producer = await log.createProducer({});
    await producer.send([record('pausable', 0, 'k', 'first')]);
    let consumer: GroupConsumer | undefined;
    const recorder = recordingHandlers({
      onBatch: async (batch) => {
        if (batch.records.some((entry) => entry.value?.toString() === 'first')) consumer!.pause([{ topic: 'pausable', partition: 0 }]);
      },
    });
    consumer = log.createConsumer({ ...consumerOptions('pausers', ['pausable']), fetchMaxWaitMs: 10_000 });
    t.teardown(() => consumer.close());
    await consumer.run(recorder.handlers);
    t.true(await waitUntil(() => recorder.records('pausable', 0).length === 1, WAIT_MS));
    await producer.send([record('pausable', 0, 'k', 'second')]);
    // Paused: the second record must not come (a negative: give it time to go wrong).
    await sleep(700);
    t.is(recorder.records('pausable', 0).length, 1);
    const resumedAtMs = performance.now();
    consumer.resume([{ topic: 'pausable', partition: 0 }]);
    // kafkajs sits out a fetch of up to fetchMaxWaitMs (10 s) before it fetches the resumed
    // partition, twice on a busy machine: allow for that beyond the usual wait.
    t.true(await waitUntil(() => recorder.records('pausable', 0).length === 2, WAIT_MS + 2 * 10_000));
    const resumeMs = performance.now() - resumedAtMs;
    // The embedded log fetches a resumed partition at once; kafkajs idles out fetchMaxWaitMs (10 s) first.
    if (capabilities.promptResume) t.true(resumeMs < 5_000, `resume took ${Math.round(resumeMs)} ms`);
    t.deepEqual(recorder.records('pausable', 0).map((entry) => entry.value?.toString()), ['first', 'second']);
    t.is(recorder.assignments.length, 1);
  });

  test(title('read_committed: aborted transactions are invisible and nextOffset moves past the markers'), async (t) => {
    const { log, broker } = await connected(t, factory);
    await log.createTopics([{ name: 'txn-input', partitions: 1 }]);
    const transactional = await log.createProducer({ transactionalId: 'writer-1' });
    await transactional.beginTransaction();
    await transactional.send([record('txn-input', 0, 'k', 'aborted-1'), record('txn-input', 0, 'k', 'aborted-2')]);
    await transactional.abortTransaction();
    await transactional.beginTransaction();
    await transactional.send([record('txn-input', 0, 'k', 'committed-1'), record('txn-input', 0, 'k', 'committed-2')]);
    await transactional.commitTransaction();
    const endOffset = 6n; // 2 aborted + abort marker + 2 committed + commit marker
    t.true(await waitUntil(() => broker.context.logManager.getLog('txn-input', 0)?.lastStableOffset === endOffset, WAIT_MS));

    const committed = recordingHandlers();
    const reader = log.createConsumer(consumerOptions('committed-reader', ['txn-input']));
    await reader.run(committed.handlers);
    t.true(await waitUntil(() => committed.batches.at(-1)?.nextOffset === endOffset, WAIT_MS));
    t.deepEqual(committed.records('txn-input', 0).map((entry) => entry.value?.toString()), ['committed-1', 'committed-2']);
    t.deepEqual(committed.records('txn-input', 0).map((entry) => entry.offset), [3n, 4n]);
    await reader.close();

    const everything = recordingHandlers();
    const uncommittedReader = log.createConsumer({ ...consumerOptions('uncommitted-reader', ['txn-input']), isolationLevel: 'read_uncommitted' });
    await uncommittedReader.run(everything.handlers);
    t.true(await waitUntil(() => everything.records('txn-input', 0).length === 4, WAIT_MS));
    await uncommittedReader.close();
    t.deepEqual(everything.records('txn-input', 0).map((entry) => entry.value?.toString()), ['aborted-1', 'aborted-2', 'committed-1', 'committed-2']);
  });

  test(title('offsetRange and readPartition: one partition outside any group, from an offset to an end, markers and aborts skipped'), async (t) => {
    const { log, broker } = await connected(t, factory);
    await log.createTopics([{ name: 'restore-input', partitions: 2, configs: { 'cleanup.policy': 'compact' } }]);
    const plain = await log.createProducer({});
    await plain.send(Array.from({ length: 30 }, (_, n) => record('restore-input', 1, `k${n}`, `plain-${n}`)));
    const transactional = await log.createProducer({ transactionalId: 'restore-writer' });
    await transactional.beginTransaction();
    await transactional.send([record('restore-input', 1, 'k', 'aborted')]);
    await transactional.abortTransaction();
    await transactional.beginTransaction();
    await transactional.send([record('restore-input', 1, 'k', 'committed')]);
    await transactional.commitTransaction();
    // 30 plain, 1 aborted + marker, 1 committed + marker
    t.true(await waitUntil(() => broker.context.logManager.getLog('restore-input', 1)?.lastStableOffset === 34n, WAIT_MS));
    t.deepEqual(await log.offsetRange({ topic: 'restore-input', partition: 1 }, 'read_committed'), { logStartOffset: 0n, endOffset: 34n });
    t.deepEqual(await log.offsetRange({ topic: 'restore-input', partition: 0 }, 'read_uncommitted'), { logStartOffset: 0n, endOffset: 0n });
    await t.throwsAsync(() => log.offsetRange({ topic: 'no-such-topic', partition: 0 }, 'read_committed'));

    const read = async (fromOffset: bigint, toOffset: bigint, maxBytes?: number): Promise<{ values: string[]; offsets: bigint[]; last: bigint }> => {
      const values: string[] = [];
      const offsets: bigint[] = [];
      let last = -1n;
      for await (const batch of log.readPartition({ topic: 'restore-input', partition: 1, fromOffset, toOffset, isolationLevel: 'read_committed', ...(maxBytes !== undefined ? { maxBytes } : {}) })) {
        t.true(batch.nextOffset > last, 'nextOffset moves forward');
        last = batch.nextOffset;
        for (const entry of batch.records) {
          values.push(entry.value!.toString());
          offsets.push(entry.offset);
        }
      }
      return { values, offsets, last };
    };
    const all = await read(0n, 34n, 200);
    t.deepEqual(all.values, [...Array.from({ length: 30 }, (_, n) => `plain-${n}`), 'committed']);
    t.deepEqual(all.offsets, [...Array.from({ length: 30 }, (_, n) => BigInt(n)), 32n]);
    t.is(all.last, 34n);
    const tail = await read(28n, 34n);
    t.deepEqual(tail.values, ['plain-28', 'plain-29', 'committed']);
    const middle = await read(5n, 8n);
    t.deepEqual(middle.values, ['plain-5', 'plain-6', 'plain-7']);
    t.is(middle.last, 8n);
    t.deepEqual((await read(34n, 34n)).values, []);
  });

  test(title('transactions: committed offsets and outputs become visible together; an abort leaves neither'), async (t) => {
    const { log } = await connected(t, factory);
    await log.createTopics([{ name: 'eos-in', partitions: 1 }, { name: 'eos-out', partitions: 1 }]);
    const seed = await log.createProducer({});
    await seed.send(Array.from({ length: 4 }, (_, index) => record('eos-in', 0, 'k', `in${index}`)));
    const group = { groupId: 'eos-app', generationId: -1, memberId: '' };

    const producer = await log.createProducer({ transactionalId: 'eos-app-1' });
    await producer.beginTransaction();
    t.true(producer.inTransaction());
    await producer.send([record('eos-out', 0, 'k', 'out-aborted')]);
    await producer.sendOffsetsToTransaction([{ topic: 'eos-in', partition: 0, offset: 3n }], group);
    await producer.abortTransaction();
    t.false(producer.inTransaction());
    t.deepEqual(await committedStart(log, 'eos-app', 'eos-in'), 0n);

    await producer.beginTransaction();
    await producer.send([record('eos-out', 0, 'k', 'out-committed')]);
    await producer.sendOffsetsToTransaction([{ topic: 'eos-in', partition: 0, offset: 2n }], group);
    await producer.commitTransaction();
    if (capabilities.stablePositions) t.deepEqual(await committedStart(log, 'eos-app', 'eos-in'), 2n);
    // kafkajs reads offsets without requireStable: the committed offset shows once the coordinator has written its markers.
    else t.true(await waitUntil(async () => (await committedStart(log, 'eos-app', 'eos-in')) === 2n, WAIT_MS));

    const outputs = recordingHandlers();
    const reader = log.createConsumer(consumerOptions('eos-out-reader', ['eos-out']));
    await reader.run(outputs.handlers);
    t.true(await waitUntil(() => outputs.batches.at(-1)?.nextOffset === 4n, WAIT_MS));
    await reader.close();
    t.deepEqual(outputs.records('eos-out', 0).map((entry) => entry.value?.toString()), ['out-committed']);
  });

  test(title('a second producer with the same transactional id fences the first and aborts its open transaction'), async (t) => {
    const { log } = await connected(t, factory);
    await log.createTopics([{ name: 'fenced', partitions: 1 }]);
    const zombie = await log.createProducer({ transactionalId: 'shared-id', transactionTimeoutMs: 60_000 });
    await zombie.beginTransaction();
    await zombie.send([record('fenced', 0, 'k', 'from-zombie')]);
    const successor = await log.createProducer({ transactionalId: 'shared-id', transactionTimeoutMs: 60_000 });
    await t.throwsAsync(() => zombie.commitTransaction(), { message: /fenc|old epoch/i });
    await successor.beginTransaction();
    await successor.send([record('fenced', 0, 'k', 'from-successor')]);
    await successor.commitTransaction();

    const recorder = recordingHandlers();
    const reader = log.createConsumer(consumerOptions('fenced-reader', ['fenced']));
    await reader.run(recorder.handlers);
    t.true(await waitUntil(() => recorder.records('fenced', 0).length === 1, WAIT_MS));
    await reader.close();
    t.deepEqual(recorder.records('fenced', 0).map((entry) => entry.value?.toString()), ['from-successor']);
  });

  if (capabilities.fencesByGeneration) {
    test(title('KIP-447: transactional offsets from a member of an older generation are refused'), async (t) => {
      const { log } = await connected(t, factory);
      await log.createTopics([{ name: 'generations', partitions: 2 }]);
      const first = recordingHandlers();
      const consumerA = log.createConsumer(consumerOptions('generational', ['generations']));
      t.teardown(() => consumerA.close());
      await consumerA.run(first.handlers);
      t.true(await waitUntil(() => first.assignments.length === 1, WAIT_MS));
      const stale = consumerA.groupMetadata();
      t.true(stale.generationId >= 1 && stale.memberId.length > 0);
      const second = recordingHandlers();
      const consumerB = log.createConsumer(consumerOptions('generational', ['generations']));
      t.teardown(() => consumerB.close());
      await consumerB.run(second.handlers);
      t.true(await waitUntil(() => second.assignments.length === 1 && first.assignments.length === 2, WAIT_MS));
      t.true(consumerA.groupMetadata().generationId > stale.generationId);

      const producer = await log.createProducer({ transactionalId: 'generational-1' });
      await producer.beginTransaction();
      await t.throwsAsync(() => producer.sendOffsetsToTransaction([{ topic: 'generations', partition: 0, offset: 1n }], stale), {
        message: /ILLEGAL_GENERATION.*rebalanced/,
      });
      await producer.abortTransaction();
      await producer.beginTransaction();
      await producer.sendOffsetsToTransaction([{ topic: 'generations', partition: 0, offset: 1n }], consumerA.groupMetadata());
      await producer.commitTransaction();
    });
  }
}

async function connected(t: ExecutionContext, factory: LogFactory): Promise<{ log: StreamLog; broker: RunningBroker; underTest: LogUnderTest }> {
  const underTest = await factory(t);
  const log = underTest.newLog();
  await log.connect();
  t.teardown(() => log.close());
  return { log, broker: underTest.broker, underTest };
}

/** Where a new member of `groupId` starts on partition 0 of `topic`: the committed offset. */
async function committedStart(log: StreamLog, groupId: string, topic: string): Promise<bigint> {
  const recorder = recordingHandlers();
  const consumer = log.createConsumer({ ...consumerOptions(groupId, [topic]) });
  await consumer.run(recorder.handlers);
  try {
    await waitUntil(() => recorder.batches.length > 0, WAIT_MS);
    return recorder.batches[0]!.records[0]?.offset ?? recorder.batches[0]!.nextOffset;
  } finally {
    await consumer.close();
  }
}

function consumerOptions(groupId: string, topics: readonly string[]): ConsumerOptions {
  return {
    groupId,
    topics,
    isolationLevel: 'read_committed',
    fetchMaxBytesPerPartition: 1 << 20,
    fetchMaxWaitMs: 200,
    partitionsConcurrentlyMax: 4,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 200,
    fromBeginning: true,
  };
}

function record(topic: string, partition: number, key: string, value: string, headers: Record<string, string> = {}, timestamp = Date.now()): OutgoingRecord {
  return { topic, partition, key: Buffer.from(key), value: Buffer.from(value), headers, timestamp };
}

interface Recorder {
  readonly handlers: GroupHandlers;
  readonly batches: FetchedBatch[];
  readonly assignments: Array<readonly TopicPartition[]>;
  readonly revocations: Array<readonly TopicPartition[]>;
  readonly crashes: Error[];
  records(topic: string, partition: number): FetchedBatch['records'][number][];
}

function recordingHandlers(overrides: Partial<GroupHandlers> = {}): Recorder {
  const batches: FetchedBatch[] = [];
  const assignments: Array<readonly TopicPartition[]> = [];
  const revocations: Array<readonly TopicPartition[]> = [];
  const crashes: Error[] = [];
  return {
    batches,
    assignments,
    revocations,
    crashes,
    records: (topic, partition) => batches.filter((batch) => batch.topic === topic && batch.partition === partition).flatMap((batch) => batch.records),
    handlers: {
      onAssigned: async (partitions) => {
        await overrides.onAssigned?.(partitions);
        assignments.push([...partitions]);
      },
      onRevoked: async (partitions) => {
        revocations.push([...partitions]);
        await overrides.onRevoked?.(partitions);
      },
      onBatch: async (batch) => {
        batches.push(batch);
        await overrides.onBatch?.(batch);
      },
      onCrash: (error) => {
        crashes.push(error);
        overrides.onCrash?.(error);
      },
    },
  };
}

export { startCluster };
