import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { pino } from 'pino';
import { LogManager, ManualClock, ManualScheduler } from '@defter/log';
import { ApiKey, ErrorCode, Writer, type TxnOffsetCommitRequest, type TxnOffsetCommitResponse } from '@defter/protocol';
import type { BrokerContext } from '../src/broker-context.js';
import { defaultBrokerConfig, type BrokerConfig } from '../src/config.js';
import { GroupCoordinator } from '../src/group/group-coordinator.js';
import { OFFSETS_TOPIC, OffsetStore } from '../src/group/offset-store.js';
import { MetadataStore } from '../src/metadata/metadata-store.js';
import type { PartitionInTransaction, TransactionVerifier } from '../src/txn/transaction-verifier.js';
import {
  keyOf,
  memberOf,
  planTxnOffsetCommit,
  responseTopics,
  transactionalMemberCheck,
  txnOffsetCommitClientCode,
  txnOffsetCommitHandler,
  type TxnOffsetCommitChecks,
} from '../src/handlers/txn-offset-commit.js';
import { ManualTicker } from './helpers/virtual-time.js';

/*
 * TxnOffsetCommit: the pure planning (Kafka's order of checks, version-dependent codes), then the
 * handler on a real offset store, metadata and group coordinator, with a verifier the test sets
 * (the transaction coordinator's KIP-890 check; the lead wires the real one).
 */

function request(overrides: Partial<TxnOffsetCommitRequest> = {}): TxnOffsetCommitRequest {
  return {
    transactionalId: 'tx',
    groupId: 'g',
    producerId: 7n,
    producerEpoch: 1,
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [
      {
        name: 'orders',
        partitions: [
          { partitionIndex: 0, committedOffset: 10n, committedLeaderEpoch: 4, committedMetadata: 'a' },
          { partitionIndex: 1, committedOffset: 11n, committedLeaderEpoch: 4, committedMetadata: null },
          { partitionIndex: 9, committedOffset: 12n, committedLeaderEpoch: 4, committedMetadata: '' },
        ],
      },
      { name: 'unknown', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: '' }] },
    ],
    ...overrides,
  };
}

/** orders has 3 partitions; metadata over 4 bytes is too large; verification and member check answer as told. */
function checks(answers: { verify?: number; member?: number } = {}): TxnOffsetCommitChecks & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    partitionCount: (topic) => (topic === 'orders' ? 3 : 0),
    verifyTransaction: () => {
      calls.push('verify');
      return answers.verify ?? ErrorCode.NONE;
    },
    validateMember: () => {
      calls.push('member');
      return answers.member ?? ErrorCode.NONE;
    },
    isMetadataTooLarge: (metadata) => metadata !== null && metadata.length > 4,
  };
}

function codes(plan: { errors: ReadonlyMap<string, number> }): Record<string, number> {
  return Object.fromEntries([...plan.errors].map(([key, code]) => [key.replace('\u0000', '-'), code]));
}

test('plan: unknown topics and partitions first, then the rest committed in request order with leader epochs from v2', (t) => {
  const v2 = planTxnOffsetCommit(request(), 2, checks());
  t.deepEqual(codes(v2), { 'orders-9': ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 'unknown-0': ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
  t.deepEqual(v2.toCommit, [
    { topic: 'orders', partition: 0, offset: 10n, leaderEpoch: 4, metadata: 'a' },
    { topic: 'orders', partition: 1, offset: 11n, leaderEpoch: 4, metadata: null },
  ]);
  const v1 = planTxnOffsetCommit(request(), 1, checks());
  t.deepEqual(v1.toCommit.map((o) => o.leaderEpoch), [-1, -1], 'v0-1 carry no leader epoch');
});

test('plan: an empty group id, a failed verification or a failed member check refuses every known partition, in that order', (t) => {
  const emptyGroup = checks({ verify: ErrorCode.INVALID_TXN_STATE });
  const noGroup = planTxnOffsetCommit(request({ groupId: '' }), 3, emptyGroup);
  t.deepEqual(codes(noGroup), {
    'orders-0': ErrorCode.INVALID_GROUP_ID,
    'orders-1': ErrorCode.INVALID_GROUP_ID,
    'orders-9': ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
    'unknown-0': ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  });
  t.deepEqual(emptyGroup.calls, [], 'nothing else is asked');

  const unverified = checks({ verify: ErrorCode.INVALID_TXN_STATE, member: ErrorCode.ILLEGAL_GENERATION });
  const plan = planTxnOffsetCommit(request(), 3, unverified);
  t.is(plan.errors.get(keyOf('orders', 0)), ErrorCode.INVALID_TXN_STATE);
  t.is(plan.errors.get(keyOf('orders', 1)), ErrorCode.INVALID_TXN_STATE);
  t.deepEqual(plan.toCommit, []);
  t.deepEqual(unverified.calls, ['verify']);

  const stranger = checks({ member: ErrorCode.UNKNOWN_MEMBER_ID });
  const refused = planTxnOffsetCommit(request(), 3, stranger);
  t.is(refused.errors.get(keyOf('orders', 0)), ErrorCode.UNKNOWN_MEMBER_ID);
  t.deepEqual(stranger.calls, ['verify', 'member']);

  // Only unknown partitions: nothing to verify, nothing to write.
  const none = checks();
  const unknownOnly = planTxnOffsetCommit(request({ topics: [{ name: 'nope', partitions: [{ partitionIndex: 0, committedOffset: 1n, committedMetadata: '' }] }] }), 3, none);
  t.deepEqual(codes(unknownOnly), { 'nope-0': ErrorCode.UNKNOWN_TOPIC_OR_PARTITION });
  t.deepEqual(none.calls, []);
});

test('plan: metadata over the limit is refused per partition; a partition named twice answers for its later entry', (t) => {
  const plan = planTxnOffsetCommit(
    request({
      topics: [
        {
          name: 'orders',
          partitions: [
            { partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: 'too long' },
            { partitionIndex: 1, committedOffset: 2n, committedLeaderEpoch: -1, committedMetadata: 'ok' },
            { partitionIndex: 0, committedOffset: 3n, committedLeaderEpoch: -1, committedMetadata: 'ok' },
          ],
        },
      ],
    }),
    3,
    checks(),
  );
  t.deepEqual(codes(plan), {});
  t.deepEqual(plan.toCommit.map((o) => [o.partition, o.offset]), [[1, 2n], [0, 3n]]);
  const tooLarge = planTxnOffsetCommit(
    request({ topics: [{ name: 'orders', partitions: [{ partitionIndex: 2, committedOffset: 1n, committedMetadata: 'too long' }] }] }),
    3,
    checks(),
  );
  t.deepEqual(codes(tooLarge), { 'orders-2': ErrorCode.OFFSET_METADATA_TOO_LARGE });
  t.deepEqual(tooLarge.toCommit, []);
});

test('member fields exist from v3; the transactional member check accepts anonymous commits on busy groups and commits during a rebalance', (t) => {
  const withMember = request({ generationId: 5, memberId: 'm-1', groupInstanceId: 'i-1' });
  t.deepEqual(memberOf(withMember, 2), { generationId: -1, memberId: '', groupInstanceId: null });
  t.deepEqual(memberOf(withMember, 3), { generationId: 5, memberId: 'm-1', groupInstanceId: 'i-1' });
  t.deepEqual(memberOf(request({ generationId: undefined, memberId: undefined, groupInstanceId: undefined }), 4), { generationId: -1, memberId: '', groupInstanceId: null });

  const anonymous = { generationId: -1, memberId: '', groupInstanceId: null };
  const member = { generationId: 3, memberId: 'm', groupInstanceId: null };
  t.is(transactionalMemberCheck(ErrorCode.UNKNOWN_MEMBER_ID, anonymous), ErrorCode.NONE, 'v0-2 and producers without group metadata');
  t.is(transactionalMemberCheck(ErrorCode.UNKNOWN_MEMBER_ID, member), ErrorCode.UNKNOWN_MEMBER_ID);
  t.is(transactionalMemberCheck(ErrorCode.UNKNOWN_MEMBER_ID, { ...anonymous, groupInstanceId: 'i' }), ErrorCode.UNKNOWN_MEMBER_ID);
  t.is(transactionalMemberCheck(ErrorCode.REBALANCE_IN_PROGRESS, member), ErrorCode.NONE);
  t.is(transactionalMemberCheck(ErrorCode.ILLEGAL_GENERATION, member), ErrorCode.ILLEGAL_GENERATION);
  t.is(transactionalMemberCheck(ErrorCode.FENCED_INSTANCE_ID, member), ErrorCode.FENCED_INSTANCE_ID);
  t.is(transactionalMemberCheck(ErrorCode.NOT_COORDINATOR, anonymous), ErrorCode.NOT_COORDINATOR);
  t.is(transactionalMemberCheck(ErrorCode.NONE, member), ErrorCode.NONE);
});

test('codes by version: PRODUCER_FENCED → INVALID_PRODUCER_EPOCH, TRANSACTION_ABORTABLE before v4, LOAD_IN_PROGRESS before v2', (t) => {
  for (const version of [0, 1, 2, 3, 4]) t.is(txnOffsetCommitClientCode(ErrorCode.PRODUCER_FENCED, version), ErrorCode.INVALID_PRODUCER_EPOCH);
  t.is(txnOffsetCommitClientCode(ErrorCode.TRANSACTION_ABORTABLE, 3), ErrorCode.INVALID_TXN_STATE);
  t.is(txnOffsetCommitClientCode(ErrorCode.TRANSACTION_ABORTABLE, 4), ErrorCode.TRANSACTION_ABORTABLE);
  t.is(txnOffsetCommitClientCode(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, 1), ErrorCode.COORDINATOR_NOT_AVAILABLE);
  t.is(txnOffsetCommitClientCode(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, 2), ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
  t.is(txnOffsetCommitClientCode(ErrorCode.INVALID_PRODUCER_ID_MAPPING, 0), ErrorCode.INVALID_PRODUCER_ID_MAPPING);

  const errors = new Map([[keyOf('orders', 0), ErrorCode.PRODUCER_FENCED]]);
  t.deepEqual(responseTopics(request({ topics: [request().topics[0]!] }), errors, 3), [
    {
      name: 'orders',
      partitions: [
        { partitionIndex: 0, errorCode: ErrorCode.INVALID_PRODUCER_EPOCH },
        { partitionIndex: 1, errorCode: ErrorCode.NONE },
        { partitionIndex: 9, errorCode: ErrorCode.NONE },
      ],
    },
  ]);
});

// ---- the handler on real components ------------------------------------------------------

/** A verifier that answers what the test sets and records what it was asked. */
class TestVerifier implements TransactionVerifier {
  answer: number = ErrorCode.NONE;
  readonly asked: PartitionInTransaction[] = [];
  verifyPartition(request: PartitionInTransaction): number {
    this.asked.push(request);
    return this.answer;
  }
}

async function components(t: ExecutionContext) {
  const dataDir = await mkdtemp(join(tmpdir(), 'defter-txn-offsets-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const clock = new ManualClock(1_700_000_000_000);
  const config: BrokerConfig = { ...defaultBrokerConfig, groupInitialRebalanceDelayMs: 0, offsetsTopicNumPartitions: 3, dataDir, log: { ...defaultBrokerConfig.log } };
  const logger = pino({ level: 'silent' });
  const metadata = await MetadataStore.open({ dataDir, config, clock, logger });
  const logManager = await LogManager.open({ dataDir, defaultConfig: config.log, configForTopic: (topic) => metadata.logConfigFor(topic), clock, logger, scheduler: new ManualScheduler(clock) });
  await metadata.attach(logManager);
  await metadata.createTopic('orders', 2, {});
  const offsetStore = await OffsetStore.open({ logManager, metadata, config, clock, logger });
  const groupCoordinator = new GroupCoordinator({ config, clock, logger, offsets: offsetStore, ticker: new ManualTicker(), tickIntervalMs: 10 });
  const verifier = new TestVerifier();
  t.teardown(async () => {
    await groupCoordinator.close();
    await offsetStore.close();
    await logManager.close();
    await metadata.close();
  });
  // Only what the handler reads; the rest of the broker is not needed for one request.
  const broker = { config, clock, logger, logManager, metadata, groupCoordinator, offsetStore, transactionCoordinator: verifier } as unknown as BrokerContext;
  const send = async (body: TxnOffsetCommitRequest, apiVersion: number): Promise<TxnOffsetCommitResponse> =>
    (await txnOffsetCommitHandler.handle(body, { header: { apiKey: ApiKey.TxnOffsetCommit, apiVersion, correlationId: 1, clientId: 'test' }, clientAddress: '127.0.0.1:1', broker })) as TxnOffsetCommitResponse;
  return { offsetStore, groupCoordinator, verifier, send, logManager };
}

function flat(response: TxnOffsetCommitResponse): Array<[string, number, number]> {
  return response.topics.flatMap((topic) => topic.partitions.map((p): [string, number, number] => [topic.name, p.partitionIndex, p.errorCode]));
}

function subscription(...topics: string[]): Buffer {
  const writer = new Writer();
  writer.int16(0).arrayLength(topics.length);
  for (const topic of topics) writer.string(topic);
  writer.nullableBytes(null);
  return writer.finish();
}

test('handler: v0 writes pending offsets after verifying the group\'s offsets partition; the verifier\'s refusal answers every partition', async (t) => {
  const { offsetStore, verifier, send } = await components(t);
  const body: TxnOffsetCommitRequest = {
    transactionalId: 'tx',
    groupId: 'g',
    producerId: 7n,
    producerEpoch: 1,
    topics: [
      {
        name: 'orders',
        partitions: [
          { partitionIndex: 0, committedOffset: 10n, committedMetadata: 'm' },
          { partitionIndex: 5, committedOffset: 11n, committedMetadata: '' },
        ],
      },
    ],
  };
  verifier.answer = ErrorCode.PRODUCER_FENCED;
  t.deepEqual(flat(await send(body, 0)), [
    ['orders', 0, ErrorCode.INVALID_PRODUCER_EPOCH],
    ['orders', 5, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
  ]);
  t.false(offsetStore.hasOffsets('g'));
  t.deepEqual(verifier.asked, [{ transactionalId: 'tx', producerId: 7n, producerEpoch: 1, topic: OFFSETS_TOPIC, partition: offsetStore.partitionFor('g') }]);

  verifier.answer = ErrorCode.NONE;
  t.deepEqual(flat(await send(body, 0)), [
    ['orders', 0, ErrorCode.NONE],
    ['orders', 5, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION],
  ]);
  t.deepEqual(offsetStore.fetch('g'), [], 'invisible until the transaction commits');
  t.deepEqual(offsetStore.pendingOffsets('g', 7n).map((o) => [o.topic, o.partition, o.offset, o.leaderEpoch, o.metadata]), [['orders', 0, 10n, -1, 'm']]);
  offsetStore.completeTransaction(offsetStore.partitionFor('g'), 7n, true);
  t.deepEqual(offsetStore.fetch('g').map((o) => [o.partition, o.offset]), [[0, 10n]]);
});

test('handler: v3 member checks follow Kafka\'s transactional rules on a real group coordinator', async (t) => {
  const { offsetStore, groupCoordinator, send } = await components(t);
  const joined = await groupCoordinator.joinGroup({
    groupId: 'g',
    memberId: '',
    groupInstanceId: null,
    clientId: 'c',
    clientHost: '/127.0.0.1',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: subscription('orders') }],
    requireKnownMemberId: false,
    supportsSkipAssignment: false,
  });
  t.is(groupCoordinator.groupState('g'), 'CompletingRebalance');
  const body = (member: Partial<TxnOffsetCommitRequest>, value: bigint): TxnOffsetCommitRequest => ({
    transactionalId: 'tx',
    groupId: 'g',
    producerId: 7n,
    producerEpoch: 1,
    generationId: -1,
    memberId: '',
    groupInstanceId: null,
    ...member,
    topics: [{ name: 'orders', partitions: [{ partitionIndex: 1, committedOffset: value, committedLeaderEpoch: 2, committedMetadata: null }] }],
  });
  // The plain OffsetCommit check says REBALANCE_IN_PROGRESS here; a transaction commits anyway.
  t.deepEqual(flat(await send(body({ generationId: joined.generationId, memberId: joined.memberId }, 1n), 3)), [['orders', 1, ErrorCode.NONE]]);
  t.deepEqual(flat(await send(body({ generationId: joined.generationId + 1, memberId: joined.memberId }, 2n), 3)), [['orders', 1, ErrorCode.ILLEGAL_GENERATION]]);
  t.deepEqual(flat(await send(body({ generationId: joined.generationId, memberId: 'stranger' }, 3n), 4)), [['orders', 1, ErrorCode.UNKNOWN_MEMBER_ID]]);
  // No member fields (a producer without the consumer's group metadata): accepted on a group with members.
  t.deepEqual(flat(await send(body({}, 4n), 3)), [['orders', 1, ErrorCode.NONE]]);
  t.deepEqual(offsetStore.pendingOffsets('g', 7n).map((o) => [o.offset, o.leaderEpoch]), [[4n, 2]]);
});

test('handler: the log\'s refusal of a fenced epoch answers INVALID_PRODUCER_EPOCH for the partitions it was to write', async (t) => {
  const { offsetStore, send, logManager } = await components(t);
  const body = (producerEpoch: number): TxnOffsetCommitRequest => ({
    transactionalId: 'tx',
    groupId: 'g',
    producerId: 7n,
    producerEpoch,
    topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, committedOffset: 5n, committedMetadata: '' }, { partitionIndex: 1, committedOffset: 6n, committedMetadata: 'too long'.repeat(1000) }] }],
  });
  t.deepEqual(flat(await send(body(3), 1)), [['orders', 0, ErrorCode.NONE], ['orders', 1, ErrorCode.OFFSET_METADATA_TOO_LARGE]]);
  t.deepEqual(flat(await send(body(2), 1)), [['orders', 0, ErrorCode.INVALID_PRODUCER_EPOCH], ['orders', 1, ErrorCode.OFFSET_METADATA_TOO_LARGE]]);
  t.deepEqual(offsetStore.pendingOffsets('g', 7n).map((o) => o.offset), [5n]);
  t.is(logManager.getLog(OFFSETS_TOPIC, offsetStore.partitionFor('g'))!.logEndOffset, 1n, 'the refused batch was not written');
});
