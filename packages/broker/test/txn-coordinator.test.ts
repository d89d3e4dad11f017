import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ManualClock } from '@defter/log';
import { ErrorCode } from '@defter/protocol';
import { defaultBrokerConfig } from '../src/config.js';
import { openStorage } from './helpers/storage.js';
import { OFFSETS_TOPIC } from '../src/group/offset-store.js';
import { ProducerIdManager } from '../src/txn/producer-id-manager.js';
import { TransactionCoordinator, type TransactionalOffsets, type TransactionMarkerWriter, type TxnMarker } from '../src/txn/transaction-coordinator.js';
import { TransactionStateLog } from '../src/txn/transaction-state-log.js';
import { ManualTicker } from './helpers/virtual-time.js';

/*
 * The coordinator over real storage (metadata, logs, `__transaction_state`, the producer id
 * block file). Markers go to a recording writer that can be told to fail: the partitions' side
 * of markers is the replica manager's, tested with it; here the point is which markers the
 * coordinator sends, when, and that it keeps trying.
 */

const START_MS = 1_700_000_000_000;
const TIMEOUT_MS = 60_000;

class RecordingMarkers implements TransactionMarkerWriter {
  readonly written: TxnMarker[] = [];
  /** Error code answered instead of writing, while set. */
  failWith: number | undefined;
  /** How long each write takes. */
  delayMs = 0;
  attempts = 0;
  async writeTxnMarker(marker: TxnMarker): Promise<number> {
    this.attempts++;
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.failWith !== undefined) return this.failWith;
    this.written.push(marker);
    return ErrorCode.NONE;
  }
}

class RecordingOffsets implements TransactionalOffsets {
  readonly completed: Array<{ partition: number; producerId: bigint; commit: boolean }> = [];
  partitionFor(groupId: string): number {
    return groupId.length % 3;
  }
  async ensureTopic(): Promise<void> {}
  completeTransaction(partition: number, producerId: bigint, commit: boolean): void {
    this.completed.push({ partition, producerId, commit });
  }
}

interface Node {
  coordinator: TransactionCoordinator;
  markers: RecordingMarkers;
  offsets: RecordingOffsets;
  clock: ManualClock;
  close(): Promise<void>;
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'defter-txn-coordinator-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function openNode(dataDir: string, clock = new ManualClock(START_MS), markers = new RecordingMarkers()): Promise<Node> {
  const storage = await openStorage(dataDir, clock, { transactionStateLogNumPartitions: 3 });
  const { config, logger, metadata, logManager } = storage;
  if (metadata.topic('orders') === undefined) await metadata.createTopic('orders', 2, {});
  const producerIds = await ProducerIdManager.open({ dataDir });
  const offsets = new RecordingOffsets();
  const coordinator = await TransactionCoordinator.open({
    config,
    clock,
    logger,
    stateLog: new TransactionStateLog({ logManager, metadata, config, clock, logger }),
    producerIds,
    markers,
    offsets,
    ticker: new ManualTicker(),
    markerRetryBackoffMs: 5,
    completionWaitMs: 100,
  });
  return {
    coordinator,
    markers,
    offsets,
    clock,
    close: async () => {
      await coordinator.close();
      await producerIds.close();
      await storage.close();
    },
  };
}

async function init(node: Node, transactionalId: string | null, producer = { producerId: -1n, producerEpoch: -1 }) {
  return node.coordinator.initProducerId({ transactionalId, transactionTimeoutMs: TIMEOUT_MS, ...producer });
}

const ORDERS_0 = { topic: 'orders', partition: 0 };
const ORDERS_1 = { topic: 'orders', partition: 1 };

test('idempotent producers get distinct ids at epoch 0; transactional ids keep their id and bump the epoch', async (t) => {
  const node = await openNode(await tempDir(t));
  t.teardown(() => node.close());
  const first = await init(node, null);
  const second = await init(node, null);
  t.is(first.errorCode, ErrorCode.NONE);
  t.is(first.producerEpoch, 0);
  t.not(first.producerId, second.producerId);

  const a = await init(node, 'payments');
  t.deepEqual([a.errorCode, a.producerEpoch], [ErrorCode.NONE, 0]);
  const b = await init(node, 'payments');
  t.deepEqual([b.errorCode, b.producerId, b.producerEpoch], [ErrorCode.NONE, a.producerId, 1]);
  t.is(node.coordinator.describe('payments')?.state, 'Empty');
});

test('InitProducerId refuses an empty transactional id and a timeout above transaction.max.timeout.ms', async (t) => {
  const node = await openNode(await tempDir(t));
  t.teardown(() => node.close());
  t.is((await init(node, '')).errorCode, ErrorCode.INVALID_REQUEST);
  const tooLong = await node.coordinator.initProducerId({ transactionalId: 'x', transactionTimeoutMs: defaultBrokerConfig.transactionMaxTimeoutMs + 1, producerId: -1n, producerEpoch: -1 });
  t.is(tooLong.errorCode, ErrorCode.INVALID_TRANSACTION_TIMEOUT);
  t.is((await node.coordinator.initProducerId({ transactionalId: 'x', transactionTimeoutMs: 0, producerId: -1n, producerEpoch: -1 })).errorCode, ErrorCode.INVALID_TRANSACTION_TIMEOUT);
  t.is(node.coordinator.describe('x'), undefined);
});

test('a commit writes a marker to every partition, offsets partitions complete their offsets, and the state survives a restart', async (t) => {
  const dir = await tempDir(t);
  const node = await openNode(dir);
  const producer = await init(node, 'etl');
  const ids = { transactionalId: 'etl', producerId: producer.producerId, producerEpoch: producer.producerEpoch, clientTransactionVersion: 0 as const };
  t.is(await node.coordinator.addPartitions({ ...ids, partitions: [ORDERS_0, ORDERS_1] }), ErrorCode.NONE);
  t.is(await node.coordinator.addOffsets({ ...ids, groupId: 'group-a' }), ErrorCode.NONE);
  const offsetsPartition = node.offsets.partitionFor('group-a');
  t.is(node.coordinator.verifyPartition({ ...ids, ...ORDERS_1 }), ErrorCode.NONE);
  t.is(node.coordinator.verifyPartition({ ...ids, topic: OFFSETS_TOPIC, partition: offsetsPartition }), ErrorCode.NONE);
  t.deepEqual(node.coordinator.describe('etl')?.topics, [
    { topic: OFFSETS_TOPIC, partitions: [offsetsPartition] },
    { topic: 'orders', partitions: [0, 1] },
  ]);

  const end = await node.coordinator.endTransaction({ ...ids, commit: true });
  t.is(end.errorCode, ErrorCode.NONE);
  await node.coordinator.settled();
  t.deepEqual(
    node.markers.written.map((m) => `${m.topic}-${m.partition}:${m.commit}:${m.producerId}:${m.producerEpoch}`).sort(),
    [`${OFFSETS_TOPIC}-${offsetsPartition}`, 'orders-0', 'orders-1'].map((p) => `${p}:true:${producer.producerId}:${producer.producerEpoch}`).sort(),
  );
  t.deepEqual(node.offsets.completed, [{ partition: offsetsPartition, producerId: producer.producerId, commit: true }]);
  t.is(node.coordinator.describe('etl')?.state, 'CompleteCommit');
  // The partitions are no longer in a transaction: a late record for one is refused.
  t.is(node.coordinator.verifyPartition({ ...ids, ...ORDERS_0 }), ErrorCode.TRANSACTION_ABORTABLE);
  // A retried EndTxn of the same commit is answered NONE; an abort of it is not allowed.
  t.is((await node.coordinator.endTransaction({ ...ids, commit: true })).errorCode, ErrorCode.NONE);
  t.is((await node.coordinator.endTransaction({ ...ids, commit: false })).errorCode, ErrorCode.INVALID_TXN_STATE);
  await node.close();

  const reopened = await openNode(dir);
  t.teardown(() => reopened.close());
  t.is(reopened.coordinator.describe('etl')?.state, 'CompleteCommit');
  t.deepEqual(reopened.markers.written, [], 'a finished transaction is not finished again');
  const again = await init(reopened, 'etl');
  t.deepEqual([again.producerId, again.producerEpoch], [producer.producerId, producer.producerEpoch + 1]);
});

test('markers that fail are retried until they land; the client was answered once the decision was persisted', async (t) => {
  const node = await openNode(await tempDir(t));
  t.teardown(() => node.close());
  const producer = await init(node, 'retry');
  const ids = { transactionalId: 'retry', producerId: producer.producerId, producerEpoch: producer.producerEpoch, clientTransactionVersion: 0 as const };
  await node.coordinator.addPartitions({ ...ids, partitions: [ORDERS_0] });
  node.markers.failWith = ErrorCode.NOT_ENOUGH_REPLICAS;
  t.is((await node.coordinator.endTransaction({ ...ids, commit: false })).errorCode, ErrorCode.NONE);
  while (node.markers.attempts < 3) await new Promise((resolve) => setTimeout(resolve, 5));
  t.is(node.coordinator.describe('retry')?.state, 'PrepareAbort');
  // Until the markers are written, the producer's next steps wait.
  t.is(await node.coordinator.addPartitions({ ...ids, partitions: [ORDERS_0] }), ErrorCode.CONCURRENT_TRANSACTIONS);
  t.is((await init(node, 'retry', producer)).errorCode, ErrorCode.CONCURRENT_TRANSACTIONS);
  node.markers.failWith = undefined;
  await node.coordinator.settled();
  t.is(node.coordinator.describe('retry')?.state, 'CompleteAbort');
  t.deepEqual(node.markers.written.map((m) => [m.topic, m.partition, m.commit]), [['orders', 0, false]]);
});

test('the next transaction of an id waits for the markers of the previous one instead of bouncing with CONCURRENT_TRANSACTIONS', async (t) => {
  const node = await openNode(await tempDir(t));
  t.teardown(() => node.close());
  const producer = await init(node, 'busy');
  const ids = { transactionalId: 'busy', producerId: producer.producerId, producerEpoch: producer.producerEpoch, clientTransactionVersion: 0 as const };
  node.markers.delayMs = 40;
  for (let i = 0; i < 3; i++) {
    t.is(await node.coordinator.addPartitions({ ...ids, partitions: [ORDERS_0, ORDERS_1] }), ErrorCode.NONE, `transaction ${i}`);
    t.is((await node.coordinator.endTransaction({ ...ids, commit: true })).errorCode, ErrorCode.NONE);
  }
  await node.coordinator.settled();
  t.is(node.markers.written.length, 6);
  t.is(node.coordinator.describe('busy')?.state, 'CompleteCommit');
});

test('a restart finishes a transaction left in PrepareCommit: its markers are sent and it completes', async (t) => {
  const dir = await tempDir(t);
  const stuck = new RecordingMarkers();
  stuck.failWith = ErrorCode.NOT_ENOUGH_REPLICAS;
  const node = await openNode(dir, new ManualClock(START_MS), stuck);
  const producer = await init(node, 'half');
  const ids = { transactionalId: 'half', producerId: producer.producerId, producerEpoch: producer.producerEpoch, clientTransactionVersion: 0 as const };
  await node.coordinator.addPartitions({ ...ids, partitions: [ORDERS_0, ORDERS_1] });
  t.is((await node.coordinator.endTransaction({ ...ids, commit: true })).errorCode, ErrorCode.NONE);
  while (stuck.attempts < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  await node.close();

  const reopened = await openNode(dir);
  t.teardown(() => reopened.close());
  await reopened.coordinator.settled();
  t.deepEqual(reopened.markers.written.map((m) => `${m.topic}-${m.partition}:${m.commit}`).sort(), ['orders-0:true', 'orders-1:true']);
  t.is(reopened.coordinator.describe('half')?.state, 'CompleteCommit');
});

test('a transaction older than its timeout is aborted and its producer fenced', async (t) => {
  const node = await openNode(await tempDir(t));
  t.teardown(() => node.close());
  const producer = await init(node, 'slow');
  const ids = { transactionalId: 'slow', producerId: producer.producerId, producerEpoch: producer.producerEpoch, clientTransactionVersion: 0 as const };
  await node.coordinator.addPartitions({ ...ids, partitions: [ORDERS_1] });
  node.clock.advance(TIMEOUT_MS - 1);
  t.is(await node.coordinator.abortTimedOutTransactions(), 0);
  node.clock.advance(2);
  t.is(await node.coordinator.abortTimedOutTransactions(), 1);
  await node.coordinator.settled();
  t.deepEqual(node.markers.written.map((m) => [m.partition, m.commit, m.producerEpoch]), [[1, false, producer.producerEpoch + 1]]);
  t.is(node.coordinator.describe('slow')?.state, 'CompleteAbort');
  // The old instance's commit is refused: it has been fenced.
  t.is((await node.coordinator.endTransaction({ ...ids, commit: true })).errorCode, ErrorCode.PRODUCER_FENCED);
});

test('a second instance fences the first: its running transaction is aborted and the zombie is refused', async (t) => {
  const node = await openNode(await tempDir(t));
  t.teardown(() => node.close());
  const zombie = await init(node, 'shared');
  const zombieIds = { transactionalId: 'shared', producerId: zombie.producerId, producerEpoch: zombie.producerEpoch, clientTransactionVersion: 0 as const };
  await node.coordinator.addPartitions({ ...zombieIds, partitions: [ORDERS_0] });

  t.is((await init(node, 'shared')).errorCode, ErrorCode.CONCURRENT_TRANSACTIONS);
  await node.coordinator.settled();
  const successor = await init(node, 'shared');
  t.is(successor.errorCode, ErrorCode.NONE);
  t.is(successor.producerEpoch, zombie.producerEpoch + 2);
  t.deepEqual(node.markers.written.map((m) => [m.partition, m.commit]), [[0, false]]);
  t.is(await node.coordinator.addPartitions({ ...zombieIds, partitions: [ORDERS_1] }), ErrorCode.PRODUCER_FENCED);
  t.is((await node.coordinator.endTransaction({ ...zombieIds, commit: true })).errorCode, ErrorCode.PRODUCER_FENCED);
  t.is(node.coordinator.verifyPartition({ ...zombieIds, ...ORDERS_0 }), ErrorCode.PRODUCER_FENCED);
});

test('EndTxn v5 clients (transaction version 2) get a new epoch at every end, so a delayed end of an old transaction is refused', async (t) => {
  const node = await openNode(await tempDir(t));
  t.teardown(() => node.close());
  const producer = await init(node, 'tv2');
  const first = { transactionalId: 'tv2', producerId: producer.producerId, producerEpoch: producer.producerEpoch, clientTransactionVersion: 2 as const };
  await node.coordinator.addPartitions({ ...first, partitions: [ORDERS_0] });
  const end = await node.coordinator.endTransaction({ ...first, commit: true });
  t.deepEqual([end.errorCode, end.producerEpoch], [ErrorCode.NONE, producer.producerEpoch + 1]);
  await node.coordinator.settled();
  const second = { ...first, producerEpoch: end.producerEpoch };
  await node.coordinator.addPartitions({ ...second, partitions: [ORDERS_1] });
  // KAFKA-17754: the first transaction's EndTxn, delayed on another connection, arrives now as an abort.
  t.is((await node.coordinator.endTransaction({ ...first, commit: false })).errorCode, ErrorCode.PRODUCER_FENCED);
  t.is(node.coordinator.describe('tv2')?.state, 'Ongoing');
  t.is((await node.coordinator.endTransaction({ ...second, commit: true })).errorCode, ErrorCode.NONE);
});

test('ListTransactions filters by state and producer id; idle ids expire into a tombstone', async (t) => {
  const dir = await tempDir(t);
  const node = await openNode(dir);
  const a = await init(node, 'a');
  await init(node, 'b');
  await node.coordinator.addPartitions({ transactionalId: 'a', producerId: a.producerId, producerEpoch: a.producerEpoch, partitions: [ORDERS_0], clientTransactionVersion: 0 });
  const ongoing = node.coordinator.list({ stateFilters: ['Ongoing', 'Bogus'], producerIdFilters: [], durationFilterMs: -1 });
  t.deepEqual(ongoing.transactions.map((listing) => listing.transactionalId), ['a']);
  t.deepEqual(ongoing.unknownStateFilters, ['Bogus']);
  t.deepEqual(node.coordinator.list({ stateFilters: [], producerIdFilters: [a.producerId], durationFilterMs: -1 }).transactions.map((l) => l.transactionalId), ['a']);
  t.is(node.coordinator.list({ stateFilters: [], producerIdFilters: [], durationFilterMs: -1 }).transactions.length, 2);

  node.clock.advance(defaultBrokerConfig.transactionalIdExpirationMs + 1);
  // 'a' has a running transaction (it times out first, it does not expire); 'b' is idle.
  t.is(await node.coordinator.expireTransactionalIds(), 1);
  t.is(node.coordinator.describe('b'), undefined);
  await node.close();
  const reopened = await openNode(dir);
  t.teardown(() => reopened.close());
  t.is(reopened.coordinator.describe('b'), undefined, 'the tombstone is replayed');
  t.is(reopened.coordinator.describe('a')?.state, 'Ongoing');
});
