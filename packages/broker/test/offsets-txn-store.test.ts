import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { LogManager, ManualClock, type PartitionLog } from '@defter/log';
import { ErrorCode, decodeRecordBatch, encodeControlBatch, readBatchHeader, isTransactional, isControl } from '@defter/protocol';
import type { BrokerConfig } from '../src/config.js';
import { errorCodeOf } from '../src/errors.js';
import type { MetadataStore } from '../src/metadata/metadata-store.js';
import { openStorage } from './helpers/storage.js';
import { OFFSETS_TOPIC, OffsetStore, partitionForGroup, type CommittedOffset, type OffsetTransaction } from '../src/group/offset-store.js';
import { decodeOffsetCommitValue, decodeOffsetsTopicKey } from '../src/group/offset-records.js';
import { committedTopics } from '../src/handlers/offset-fetch.js';

/*
 * Transactional offset commits (KIP-98 / KIP-447) in the offset store, on real logs in temp
 * directories: pending offsets are invisible until the coordinator's marker is written and
 * `completeTransaction` runs; a reload replays the same from the log.
 */

const START_MS = 1_700_000_000_000;
const PARTITIONS = 3;

async function tempDir(t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Components {
  store: OffsetStore;
  metadata: MetadataStore;
  logManager: LogManager;
  close(): Promise<void>;
}

async function openStore(dataDir: string, clock: ManualClock, overrides: Partial<BrokerConfig> = {}): Promise<Components> {
  const storage = await openStorage(dataDir, clock, { offsetsTopicNumPartitions: PARTITIONS, ...overrides });
  const { config, logger, metadata, logManager } = storage;
  const store = await OffsetStore.open({ logManager, metadata, config, clock, logger });
  return {
    store,
    metadata,
    logManager,
    close: async () => {
      await store.close();
      await storage.close();
    },
  };
}

/** A store that the test reopens at will; the last one opened is closed at the end. */
async function reopenable(t: ExecutionContext, overrides: Partial<BrokerConfig> = {}) {
  const dataDir = await tempDir(t, 'defter-offsets-txn-');
  const clock = new ManualClock(START_MS);
  let current = await openStore(dataDir, clock, overrides);
  t.teardown(() => current.close());
  return {
    clock,
    get: () => current,
    reopen: async () => {
      await current.close();
      current = await openStore(dataDir, clock, overrides);
      return current;
    },
  };
}

function offset(topic: string, partition: number, value: bigint, metadata = '', leaderEpoch = -1): Omit<CommittedOffset, 'commitTimestampMs'> {
  return { topic, partition, offset: value, leaderEpoch, metadata };
}

function txn(producerId: bigint, producerEpoch = 0): OffsetTransaction {
  return { transactionalId: `tx-${producerId}`, producerId, producerEpoch };
}

/** Group ids that land in `partition` of `__consumer_offsets`. */
function groupsIn(partition: number, count: number, partitions = PARTITIONS): string[] {
  const found: string[] = [];
  for (let i = 0; found.length < count; i++) if (partitionForGroup(`group-${i}`, partitions) === partition) found.push(`group-${i}`);
  return found;
}

/** What the transaction coordinator does to end a transaction in one offsets partition: the marker, then the store. */
async function endTransaction(components: Components, offsetsPartition: number, producerId: bigint, commit: boolean, producerEpoch = 0): Promise<void> {
  // AddOffsetsToTxn creates the topic before any transaction can end in it.
  await components.store.ensureTopic();
  const log = components.logManager.getLog(OFFSETS_TOPIC, offsetsPartition)!;
  await log.appendControlBatch(encodeControlBatch({ producerId, producerEpoch, type: commit ? 'commit' : 'abort', coordinatorEpoch: 0, timestamp: BigInt(START_MS) }));
  components.store.completeTransaction(offsetsPartition, producerId, commit);
}

/** (topic, partition, offset) of what OffsetFetch would return for the group. */
function visible(store: OffsetStore, groupId: string): Array<[string, number, bigint]> {
  return store.fetch(groupId).map((o) => [o.topic, o.partition, o.offset]);
}

test('a transactional commit is one transactional batch of the producer (baseSequence -1), pending and invisible until the commit marker', async (t) => {
  const h = await reopenable(t);
  const { store, logManager } = h.get();
  const [group] = groupsIn(1, 1) as [string];
  await store.commit(group, [offset('orders', 0, 5n, 'plain')]);
  await store.commitTransactional(group, txn(42n, 3), [offset('orders', 0, 10n, 'txn', 7), offset('orders', 1, 11n)]);

  // In the log: the plain batch, then one transactional batch of producer 42, epoch 3.
  const log = logManager.getLog(OFFSETS_TOPIC, 1)!;
  const batches = await log.readBatches(0n, 1 << 20);
  t.is(batches.length, 2);
  const header = readBatchHeader(batches[1]!);
  t.true(isTransactional(header.attributes));
  t.false(isControl(header.attributes));
  t.is(header.producerId, 42n);
  t.is(header.producerEpoch, 3);
  t.is(header.baseSequence, -1);
  t.is(header.baseOffset, 1n);
  const records = decodeRecordBatch(batches[1]!).records;
  t.deepEqual(
    records.map((record) => [decodeOffsetsTopicKey(record.key!), decodeOffsetCommitValue(record.value!).offset]),
    [
      [{ type: 'offset-commit', version: 1, key: { group, topic: 'orders', partition: 0 } }, 10n],
      [{ type: 'offset-commit', version: 1, key: { group, topic: 'orders', partition: 1 } }, 11n],
    ],
  );
  // The open transaction holds the partition's last stable offset back at its first offset.
  t.is(log.lastStableOffset, 1n);

  // Invisible: OffsetFetch still answers the plain commit, and -1 where only the transaction wrote.
  t.deepEqual(visible(store, group), [['orders', 0, 5n]]);
  t.deepEqual(store.fetch(group, [{ topic: 'orders', partition: 1 }]).map((o) => o.offset), [-1n]);
  t.true(store.hasPendingOffset(group, 'orders', 0));
  t.true(store.hasPendingOffset(group, 'orders', 1));
  t.false(store.hasPendingOffset(group, 'orders', 2));
  t.deepEqual(store.pendingOffsets(group, 42n), [
    { topic: 'orders', partition: 0, offset: 10n, leaderEpoch: 7, metadata: 'txn', commitTimestampMs: START_MS },
    { topic: 'orders', partition: 1, offset: 11n, leaderEpoch: -1, metadata: '', commitTimestampMs: START_MS },
  ]);

  await endTransaction(h.get(), 1, 42n, true, 3);
  t.deepEqual(store.fetch(group), [
    { topic: 'orders', partition: 0, offset: 10n, leaderEpoch: 7, metadata: 'txn', commitTimestampMs: START_MS },
    { topic: 'orders', partition: 1, offset: 11n, leaderEpoch: -1, metadata: '', commitTimestampMs: START_MS },
  ]);
  t.false(store.hasPendingOffset(group, 'orders', 0));
  t.deepEqual(store.pendingOffsets(group, 42n), []);
  t.is(log.lastStableOffset, log.logEndOffset);

  const reopened = await h.reopen();
  t.deepEqual(visible(reopened.store, group), [['orders', 0, 10n], ['orders', 1, 11n]]);
  t.false(reopened.store.hasPendingOffset(group, 'orders', 0));
});

test('an abort drops the pending offsets and leaves the committed ones; a reload agrees', async (t) => {
  const h = await reopenable(t);
  const { store } = h.get();
  const [group] = groupsIn(0, 1) as [string];
  await store.commit(group, [offset('orders', 0, 5n)]);
  await store.commitTransactional(group, txn(7n), [offset('orders', 0, 50n), offset('audit', 0, 1n)]);
  t.deepEqual(store.groupIds(), [group]);
  await endTransaction(h.get(), 0, 7n, false);
  t.deepEqual(visible(store, group), [['orders', 0, 5n]]);
  t.false(store.hasPendingOffset(group, 'orders', 0));
  t.false(store.hasPendingOffset(group, 'audit', 0));

  const reopened = await h.reopen();
  t.deepEqual(visible(reopened.store, group), [['orders', 0, 5n]]);
  t.false(reopened.store.hasPendingOffset(group, 'audit', 0));
});

test('a transaction aborted on a group that only had pending offsets leaves no group behind', async (t) => {
  const h = await reopenable(t);
  const { store } = h.get();
  const [group] = groupsIn(2, 1) as [string];
  await store.commitTransactional(group, txn(9n), [offset('orders', 0, 3n)]);
  t.true(store.hasOffsets(group), 'Kafka keeps a group with only pending offsets as an Empty group');
  t.deepEqual(store.groupIds(), [group]);
  t.deepEqual(store.fetch(group), []);
  await endTransaction(h.get(), 2, 9n, false);
  t.false(store.hasOffsets(group));
  t.deepEqual(store.groupIds(), []);
});

test('a plain commit made while the transaction is open is not overwritten by the older transactional value; a later transactional one wins', async (t) => {
  const h = await reopenable(t);
  const { store } = h.get();
  const [group] = groupsIn(1, 1) as [string];
  // Partition 0: txn (offset 10) then plain (20) then the commit marker → the plain commit stays.
  // Partition 1: plain (30) then txn (40) then the commit marker → the transaction's value wins.
  await store.commitTransactional(group, txn(1n), [offset('t', 0, 10n)]);
  await store.commit(group, [offset('t', 0, 20n), offset('t', 1, 30n)]);
  t.true(store.hasPendingOffset(group, 't', 0), 'the plain commit does not end the pending one');
  await store.commitTransactional(group, txn(1n), [offset('t', 1, 40n)]);
  t.deepEqual(visible(store, group), [['t', 0, 20n], ['t', 1, 30n]]);
  await endTransaction(h.get(), 1, 1n, true);
  t.deepEqual(visible(store, group), [['t', 0, 20n], ['t', 1, 40n]]);

  const reopened = await h.reopen();
  t.deepEqual(visible(reopened.store, group), [['t', 0, 20n], ['t', 1, 40n]]);
});

test('a second commit in the same transaction replaces the first pending value', async (t) => {
  const h = await reopenable(t);
  const { store } = h.get();
  const [group] = groupsIn(0, 1) as [string];
  await store.commitTransactional(group, txn(3n), [offset('t', 0, 1n, 'first')]);
  await store.commitTransactional(group, txn(3n), [offset('t', 0, 2n, 'second')]);
  t.deepEqual(store.pendingOffsets(group, 3n).map((o) => [o.offset, o.metadata]), [[2n, 'second']]);
  await endTransaction(h.get(), 0, 3n, true);
  t.deepEqual(store.fetch(group).map((o) => [o.offset, o.metadata]), [[2n, 'second']]);
});

test('several producers and groups on one partition: a marker ends only its producer, only in its partition', async (t) => {
  const h = await reopenable(t);
  const { store } = h.get();
  const [g1, g2] = groupsIn(1, 2) as [string, string];
  const [other] = groupsIn(2, 1) as [string];
  await store.commitTransactional(g1, txn(100n), [offset('t', 0, 1n)]);
  await store.commitTransactional(g2, txn(100n), [offset('t', 0, 2n)]);
  await store.commitTransactional(g1, txn(200n), [offset('t', 1, 3n)]);
  await store.commitTransactional(other, txn(100n), [offset('t', 0, 4n)]);

  await endTransaction(h.get(), 1, 100n, true);
  t.deepEqual(visible(store, g1), [['t', 0, 1n]]);
  t.deepEqual(visible(store, g2), [['t', 0, 2n]]);
  t.true(store.hasPendingOffset(g1, 't', 1), "producer 200's offsets wait for their own marker");
  t.deepEqual(visible(store, other), [], "the group in partition 2 waits for the marker in partition 2");
  t.true(store.hasPendingOffset(other, 't', 0));

  // Restart with producer 200 (partition 1) and producer 100 (partition 2) still open.
  let reopened = await h.reopen();
  t.deepEqual(visible(reopened.store, g1), [['t', 0, 1n]]);
  t.deepEqual(visible(reopened.store, g2), [['t', 0, 2n]]);
  t.true(reopened.store.hasPendingOffset(g1, 't', 1));
  t.true(reopened.store.hasPendingOffset(other, 't', 0));
  t.deepEqual(reopened.store.pendingOffsets(other, 100n).map((o) => o.offset), [4n]);

  // The coordinator re-sends the markers after the restart.
  await endTransaction(reopened, 1, 200n, false);
  await endTransaction(reopened, 2, 100n, true);
  t.deepEqual(visible(reopened.store, g1), [['t', 0, 1n]]);
  t.deepEqual(visible(reopened.store, other), [['t', 0, 4n]]);
  t.false(reopened.store.hasPendingOffset(g1, 't', 1));

  reopened = await h.reopen();
  t.deepEqual(visible(reopened.store, g1), [['t', 0, 1n]]);
  t.deepEqual(visible(reopened.store, g2), [['t', 0, 2n]]);
  t.deepEqual(visible(reopened.store, other), [['t', 0, 4n]]);
  t.deepEqual(reopened.store.groupIds(), [g1, g2, other].sort());
});

test('reload replays committed, aborted and still-open transactions written in the log by the coordinator', async (t) => {
  const h = await reopenable(t);
  const components = h.get();
  const [group] = groupsIn(0, 1) as [string];
  const log: PartitionLog = await (async () => {
    await components.store.commit(group, [offset('t', 0, 1n), offset('t', 1, 1n), offset('t', 2, 1n)]);
    return components.logManager.getLog(OFFSETS_TOPIC, 0)!;
  })();
  // Markers written straight to the log (as after a crash before completeTransaction ran).
  await components.store.commitTransactional(group, txn(11n), [offset('t', 0, 100n)]);
  await components.store.commitTransactional(group, txn(12n), [offset('t', 1, 200n)]);
  await components.store.commitTransactional(group, txn(13n), [offset('t', 2, 300n)]);
  await log.appendControlBatch(encodeControlBatch({ producerId: 11n, producerEpoch: 0, type: 'commit', coordinatorEpoch: 0, timestamp: 1n }));
  await log.appendControlBatch(encodeControlBatch({ producerId: 12n, producerEpoch: 0, type: 'abort', coordinatorEpoch: 0, timestamp: 1n }));
  // Before completeTransaction the running store still holds all three pending.
  t.deepEqual(visible(components.store, group), [['t', 0, 1n], ['t', 1, 1n], ['t', 2, 1n]]);

  const reopened = await h.reopen();
  t.deepEqual(visible(reopened.store, group), [['t', 0, 100n], ['t', 1, 1n], ['t', 2, 1n]]);
  t.false(reopened.store.hasPendingOffset(group, 't', 0));
  t.false(reopened.store.hasPendingOffset(group, 't', 1));
  t.true(reopened.store.hasPendingOffset(group, 't', 2), 'still open at the end of the log: pending');
  t.deepEqual(reopened.store.pendingOffsets(group, 13n).map((o) => o.offset), [300n]);
  // A marker of a producer with nothing pending here changes nothing.
  await endTransaction(reopened, 0, 99n, true);
  t.deepEqual(visible(reopened.store, group), [['t', 0, 100n], ['t', 1, 1n], ['t', 2, 1n]]);
});

test('requireStable: partitions with a pending transactional offset answer UNSTABLE_OFFSET_COMMIT; without it, the last committed offset', async (t) => {
  const h = await reopenable(t);
  const { store } = h.get();
  const [group] = groupsIn(0, 1) as [string];
  await store.commit(group, [offset('t', 0, 5n, 'm', 2), offset('t', 1, 6n)]);
  await store.commitTransactional(group, txn(5n), [offset('t', 0, 50n), offset('u', 0, 7n)]);
  const requested = [
    { name: 't', partitionIndexes: [0, 1] },
    { name: 'u', partitionIndexes: [0] },
  ];
  const unstable = { committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT };
  t.deepEqual(committedTopics(store, group, requested, true), [
    {
      name: 't',
      partitions: [
        { partitionIndex: 0, ...unstable },
        { partitionIndex: 1, committedOffset: 6n, committedLeaderEpoch: -1, metadata: '', errorCode: ErrorCode.NONE },
      ],
    },
    { name: 'u', partitions: [{ partitionIndex: 0, ...unstable }] },
  ]);
  t.deepEqual(committedTopics(store, group, requested, false), [
    {
      name: 't',
      partitions: [
        { partitionIndex: 0, committedOffset: 5n, committedLeaderEpoch: 2, metadata: 'm', errorCode: ErrorCode.NONE },
        { partitionIndex: 1, committedOffset: 6n, committedLeaderEpoch: -1, metadata: '', errorCode: ErrorCode.NONE },
      ],
    },
    { name: 'u', partitions: [{ partitionIndex: 0, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: ErrorCode.NONE }] },
  ]);
  // All partitions (topics null): the committed ones, the pending one marked unstable (as Kafka's fetchAllOffsets).
  t.deepEqual(
    committedTopics(store, group, null, true).map((topic) => [topic.name, topic.partitions.map((p) => [p.partitionIndex, p.errorCode])]),
    [['t', [[0, ErrorCode.UNSTABLE_OFFSET_COMMIT], [1, ErrorCode.NONE]]]],
  );
  await endTransaction(h.get(), 0, 5n, true);
  t.deepEqual(
    committedTopics(store, group, requested, true).flatMap((topic) => topic.partitions.map((p) => [p.committedOffset, p.errorCode])),
    [[50n, ErrorCode.NONE], [6n, ErrorCode.NONE], [7n, ErrorCode.NONE]],
  );
});

test('deletions reach pending offsets: OffsetDelete and DeleteGroups write tombstones that drop them; expiry spares partitions with pending offsets', async (t) => {
  const h = await reopenable(t, { offsetsRetentionMinutes: 1 });
  const { store } = h.get();
  const [group, pendingOnly, aged] = groupsIn(1, 3) as [string, string, string];
  await store.commit(group, [offset('t', 0, 1n)]);
  await store.commitTransactional(group, txn(1n), [offset('t', 0, 10n), offset('t', 1, 11n)]);
  await store.deleteOffsets(group, [{ topic: 't', partition: 1 }]);
  t.false(store.hasPendingOffset(group, 't', 1), 'the tombstone drops the pending offset');
  t.true(store.hasPendingOffset(group, 't', 0));

  await store.commitTransactional(pendingOnly, txn(2n), [offset('t', 0, 5n)]);
  await store.deleteGroup(pendingOnly);
  t.false(store.hasOffsets(pendingOnly));

  await store.commit(aged, [offset('t', 0, 1n), offset('t', 1, 1n)]);
  await store.commitTransactional(aged, txn(3n), [offset('t', 0, 2n)]);
  h.clock.advance(120_000);
  t.is(await store.expireOffsets(() => true), 1, "only aged's t-1: the t-0 of both groups has a pending offset");
  t.deepEqual(visible(store, group), [['t', 0, 1n]]);
  t.deepEqual(visible(store, aged), [['t', 0, 1n]]);

  // The commit marker after the tombstones: the dropped offsets stay dropped.
  await endTransaction(h.get(), 1, 1n, true);
  await endTransaction(h.get(), 1, 2n, true);
  await endTransaction(h.get(), 1, 3n, true);
  t.deepEqual(visible(store, group), [['t', 0, 10n]]);
  t.deepEqual(visible(store, pendingOnly), []);
  t.deepEqual(visible(store, aged), [['t', 0, 2n]]);

  const reopened = await h.reopen();
  t.deepEqual(visible(reopened.store, group), [['t', 0, 10n]]);
  t.deepEqual(visible(reopened.store, pendingOnly), []);
  t.deepEqual(visible(reopened.store, aged), [['t', 0, 2n]]);
});

test('the log fences a transactional commit with an epoch older than the producer\'s marker (INVALID_PRODUCER_EPOCH); nothing becomes pending', async (t) => {
  const h = await reopenable(t);
  const { store } = h.get();
  const [group] = groupsIn(0, 1) as [string];
  await store.commitTransactional(group, txn(8n, 4), [offset('t', 0, 1n)]);
  await endTransaction(h.get(), 0, 8n, true, 5);
  const error = await t.throwsAsync(store.commitTransactional(group, txn(8n, 4), [offset('t', 0, 2n)]));
  t.is(errorCodeOf(error), ErrorCode.INVALID_PRODUCER_EPOCH);
  t.false(store.hasPendingOffset(group, 't', 0));
  t.deepEqual(visible(store, group), [['t', 0, 1n]]);
  // The bumped epoch is accepted.
  await store.commitTransactional(group, txn(8n, 5), [offset('t', 0, 3n)]);
  t.true(store.hasPendingOffset(group, 't', 0));
  t.throws(() => store.completeTransaction(PARTITIONS, 8n, true), { instanceOf: RangeError });
});

/*
 * The oracle: a different statement of Kafka's rule. Reading the log in order, a partition's
 * offset is the value of its LAST record that counts: a plain commit or a tombstone always
 * counts, a transactional record counts when its producer's next marker after it is a commit.
 * A partition is pending when some transactional record of it has neither a marker of its
 * producer nor a tombstone of the partition after it.
 */
type LogEvent =
  | { kind: 'plain'; group: string; partition: number; value: bigint }
  | { kind: 'tombstone'; group: string; partition: number }
  | { kind: 'txn'; producer: bigint; group: string; partition: number; value: bigint }
  | { kind: 'marker'; producer: bigint; commit: boolean };

function oracle(events: readonly LogEvent[], group: string, partition: number): { value: bigint | undefined; pending: boolean } {
  let value: bigint | undefined;
  let pending = false;
  events.forEach((event, index) => {
    if (event.kind === 'marker' || event.group !== group || event.partition !== partition) return;
    if (event.kind === 'plain') value = event.value;
    else if (event.kind === 'tombstone') value = undefined;
    else {
      const later = events.slice(index + 1);
      const marker = later.find((e) => e.kind === 'marker' && e.producer === event.producer);
      if (marker?.kind === 'marker' && marker.commit) value = event.value;
      const tombstoned = later.some((e) => e.kind === 'tombstone' && e.group === group && e.partition === partition);
      if (marker === undefined && !tombstoned) pending = true;
    }
  });
  return { value, pending };
}

test('random mixes of plain, transactional and deleting writes and markers match the oracle, before and after a reload (property)', async (t) => {
  const groups = ['ga', 'gb'];
  const producers = [1n, 2n, 3n];
  type Operation =
    | { kind: 'plain'; group: number; partition: number; value: number }
    | { kind: 'delete'; group: number; partition: number }
    | { kind: 'txn'; producer: number; group: number; partition: number; value: number }
    | { kind: 'end'; producer: number; commit: boolean };
  const group = fc.integer({ min: 0, max: 1 });
  const partition = fc.integer({ min: 0, max: 1 });
  const producer = fc.integer({ min: 0, max: 2 });
  const operation: fc.Arbitrary<Operation> = fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('plain' as const), group, partition, value: fc.nat(1000) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), group, partition }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('txn' as const), producer, group, partition, value: fc.nat(1000) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('end' as const), producer, commit: fc.boolean() }) },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 25 }), async (operations) => {
      const dataDir = await tempDir(t, 'defter-offsets-txn-model-');
      const clock = new ManualClock(START_MS);
      // One offsets partition: every group and marker meet in it.
      let components = await openStore(dataDir, clock, { offsetsTopicNumPartitions: 1 });
      const events: LogEvent[] = [];
      try {
        for (const op of operations) {
          if (op.kind === 'plain') {
            await components.store.commit(groups[op.group]!, [offset('t', op.partition, BigInt(op.value))]);
            events.push({ kind: 'plain', group: groups[op.group]!, partition: op.partition, value: BigInt(op.value) });
          } else if (op.kind === 'delete') {
            const had = components.store.fetch(groups[op.group]!, [{ topic: 't', partition: op.partition }])[0]!.offset !== -1n || components.store.hasPendingOffset(groups[op.group]!, 't', op.partition);
            await components.store.deleteOffsets(groups[op.group]!, [{ topic: 't', partition: op.partition }]);
            if (had) events.push({ kind: 'tombstone', group: groups[op.group]!, partition: op.partition });
          } else if (op.kind === 'txn') {
            await components.store.commitTransactional(groups[op.group]!, txn(producers[op.producer]!), [offset('t', op.partition, BigInt(op.value))]);
            events.push({ kind: 'txn', producer: producers[op.producer]!, group: groups[op.group]!, partition: op.partition, value: BigInt(op.value) });
          } else {
            await endTransaction(components, 0, producers[op.producer]!, op.commit);
            events.push({ kind: 'marker', producer: producers[op.producer]!, commit: op.commit });
          }
        }
        const check = (store: OffsetStore, when: string) => {
          for (const groupId of groups) {
            for (const p of [0, 1]) {
              const expected = oracle(events, groupId, p);
              const actual = store.fetch(groupId, [{ topic: 't', partition: p }])[0]!.offset;
              t.is(actual, expected.value ?? -1n, `${when}: ${groupId} t-${p} value`);
              t.is(store.hasPendingOffset(groupId, 't', p), expected.pending, `${when}: ${groupId} t-${p} pending`);
            }
          }
        };
        check(components.store, 'live');
        await components.close();
        components = await openStore(dataDir, clock, { offsetsTopicNumPartitions: 1 });
        check(components.store, 'reloaded');
        return true;
      } finally {
        await components.close();
      }
    }),
    { numRuns: 25 },
  );
});
