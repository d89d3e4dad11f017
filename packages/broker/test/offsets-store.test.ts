import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { LogManager, ManualClock, ManualScheduler } from '@defter/log';
import { ErrorCode, decodeRecordBatch, encodeRecordBatch, Writer } from '@defter/protocol';
import type { BrokerConfig } from '../src/config.js';
import { ConfigError, loadBrokerConfig } from '../src/config-loader.js';
import { KafkaError } from '../src/errors.js';
import type { MetadataStore } from '../src/metadata/metadata-store.js';
import { openStorage } from './helpers/storage.js';
import { OFFSETS_TOPIC, OffsetStore, partitionForGroup, type CommittedOffset } from '../src/group/offset-store.js';
import { decodeOffsetCommitValue, decodeOffsetsTopicKey, encodeOffsetCommitKey, encodeOffsetCommitValue } from '../src/group/offset-records.js';

const START_MS = 1_700_000_000_000;
const MINUTE_MS = 60_000;

/** A fresh directory removed when the test ends (not the broker helpers': no broker starts here). */
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

/** The store on real metadata and logs, as startBroker wires them, without a network or coordinator. */
async function openStore(dataDir: string, clock: ManualClock, overrides: Partial<BrokerConfig> = {}, scheduler?: ManualScheduler): Promise<Components> {
  const storage = await openStorage(dataDir, clock, { offsetsTopicNumPartitions: 5, ...overrides });
  const { config, logger, metadata, logManager } = storage;
  const store = await OffsetStore.open({ logManager, metadata, config, clock, logger, ...(scheduler === undefined ? {} : { scheduler }) });
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

async function fresh(t: ExecutionContext, overrides: Partial<BrokerConfig> = {}) {
  const dataDir = await tempDir(t, 'defter-offsets-');
  const clock = new ManualClock(START_MS);
  const components = await openStore(dataDir, clock, overrides);
  t.teardown(() => components.close());
  return { dataDir, clock, ...components };
}

function offset(topic: string, partition: number, value: bigint, metadata: string | null = '', leaderEpoch = -1): Omit<CommittedOffset, 'commitTimestampMs'> {
  return { topic, partition, offset: value, leaderEpoch, metadata };
}

test('partitionFor is Kafka\'s: abs(String.hashCode) % partitions, Integer.MIN_VALUE to 0', (t) => {
  // Expected values computed from Java's String.hashCode definition over UTF-16 code units.
  t.is(partitionForGroup('hello', 50), 22);
  t.is(partitionForGroup('my-group', 50), 12); // negative hash
  t.is(partitionForGroup('console-consumer-12345', 50), 6);
  t.is(partitionForGroup('polygenelubricants', 50), 0); // hash == Integer.MIN_VALUE
  t.is(partitionForGroup('', 50), 0);
  t.is(partitionForGroup('grüße-😀', 50), 27); // surrogate pairs count as two units
});

test('the offsets topic is created on the first commit, compacted, with the configured partitions and segment size', async (t) => {
  const { store, metadata, logManager } = await fresh(t, { offsetsTopicNumPartitions: 7, offsetsTopicSegmentBytes: 65_536 });
  t.is(metadata.topic(OFFSETS_TOPIC), undefined, 'nothing is created before a group uses it');
  t.deepEqual(store.fetch('g'), []);
  await store.commit('g', [offset('orders', 0, 5n)]);
  const topic = metadata.topic(OFFSETS_TOPIC);
  t.is(topic?.partitions, 7);
  t.true(topic?.internal);
  t.is(topic?.configs['cleanup.policy'], 'compact');
  t.is(topic?.configs['segment.bytes'], '65536');
  t.deepEqual(metadata.logConfigFor(OFFSETS_TOPIC)?.cleanupPolicy, ['compact']);
  // The commit went to the group's partition, as Kafka's records.
  const partition = store.partitionFor('g');
  t.is(partition, partitionForGroup('g', 7));
  const log = logManager.getLog(OFFSETS_TOPIC, partition)!;
  t.is(log.logEndOffset, 1n);
  const [batch] = (await log.readBatches(0n, 1 << 20)).map((bytes) => decodeRecordBatch(bytes));
  const record = batch!.records[0]!;
  t.deepEqual(decodeOffsetsTopicKey(record.key!), { type: 'offset-commit', version: 1, key: { group: 'g', topic: 'orders', partition: 0 } });
  t.deepEqual(decodeOffsetCommitValue(record.value!), { offset: 5n, leaderEpoch: -1, metadata: '', commitTimestampMs: START_MS, expireTimestampMs: -1 });
  t.is(batch!.baseTimestamp, BigInt(START_MS));
});

test('commits round-trip: offsets, leader epochs, metadata (null stored as ""), and -1 where nothing is committed', async (t) => {
  const { store, clock } = await fresh(t);
  await store.commit('g', [offset('orders', 0, 10n, 'm0', 3), offset('orders', 1, 20n, null), offset('audit', 0, 0n, 'ünïcode ✓')]);
  clock.advance(1_000);
  await store.commit('g', [offset('orders', 0, 11n, 'm0b', 4)]);
  t.deepEqual(store.fetch('g'), [
    { topic: 'audit', partition: 0, offset: 0n, leaderEpoch: -1, metadata: 'ünïcode ✓', commitTimestampMs: START_MS },
    { topic: 'orders', partition: 0, offset: 11n, leaderEpoch: 4, metadata: 'm0b', commitTimestampMs: START_MS + 1_000 },
    { topic: 'orders', partition: 1, offset: 20n, leaderEpoch: -1, metadata: '', commitTimestampMs: START_MS },
  ]);
  t.deepEqual(store.fetch('g', [{ topic: 'orders', partition: 1 }, { topic: 'orders', partition: 9 }, { topic: 'nope', partition: 0 }]), [
    { topic: 'orders', partition: 1, offset: 20n, leaderEpoch: -1, metadata: '', commitTimestampMs: START_MS },
    { topic: 'orders', partition: 9, offset: -1n, leaderEpoch: -1, metadata: '', commitTimestampMs: -1 },
    { topic: 'nope', partition: 0, offset: -1n, leaderEpoch: -1, metadata: '', commitTimestampMs: -1 },
  ]);
  t.deepEqual(store.fetch('other'), []);
  t.deepEqual(store.groupIds(), ['g']);
  t.true(store.hasOffsets('g'));
  t.false(store.hasOffsets('other'));
  // Negative offsets are stored as sent, as Kafka does.
  await store.commit('h', [offset('orders', 0, -2n)]);
  t.is(store.fetch('h')[0]!.offset, -2n);
});

test('commits, deletions and group deletions survive a restart; the loader skips foreign records', async (t) => {
  const dataDir = await tempDir(t, 'defter-offsets-');
  const clock = new ManualClock(START_MS);
  let components = await openStore(dataDir, clock);
  const { store } = components;
  await store.commit('keep', [offset('a', 0, 1n, 'x'), offset('a', 1, 2n, 'y'), offset('b', 0, 3n, 'z', 7)]);
  await store.commit('drop', [offset('a', 0, 100n)]);
  await store.commit('partly', [offset('a', 0, 5n), offset('a', 1, 6n)]);
  await store.deleteOffsets('partly', [{ topic: 'a', partition: 0 }, { topic: 'never', partition: 3 }]);
  await store.deleteGroup('drop');
  t.deepEqual(store.groupIds(), ['keep', 'partly']);
  const before = store.groupIds().map((group) => store.fetch(group));

  // Records a newer Kafka or a group-metadata writer would leave: group metadata (key v2), an
  // unknown key version, a key that does not decode. All in one partition, all skipped.
  const log = components.logManager.getLog(OFFSETS_TOPIC, 0)!;
  await log.append(
    encodeRecordBatch({
      records: [
        { timestamp: 1n, key: new Writer().int16(2).string('keep').finish(), value: Buffer.from([0, 3, 1, 2]) },
        { timestamp: 1n, key: new Writer().int16(9).string('future').finish(), value: Buffer.from('?') },
        { timestamp: 1n, key: Buffer.from([0, 1, 0x7f]), value: Buffer.from('garbage') },
        { timestamp: 1n, key: encodeOffsetCommitKey({ group: 'bad-value', topic: 'a', partition: 0 }), value: Buffer.from([0, 3]) },
      ],
    }),
  );
  await components.close();

  components = await openStore(dataDir, clock);
  t.teardown(() => components.close());
  t.deepEqual(components.store.groupIds(), ['keep', 'partly']);
  t.deepEqual(components.store.groupIds().map((group) => components.store.fetch(group)), before);
  t.deepEqual(components.store.fetch('partly').map((o) => [o.topic, o.partition, o.offset]), [['a', 1, 6n]]);
  t.deepEqual(components.store.fetch('drop'), []);
  // Still writable after the reload, into the same topic.
  await components.store.commit('keep', [offset('a', 0, 50n)]);
  t.is(components.store.fetch('keep', [{ topic: 'a', partition: 0 }])[0]!.offset, 50n);
});

test('writes of one group apply in call order, whatever interleaves; memory equals the replayed log (property)', async (t) => {
  type Operation = { kind: 'commit'; group: string; partition: number; value: number } | { kind: 'delete'; group: string; partition: number } | { kind: 'drop'; group: string };
  const group = fc.constantFrom('g1', 'g2', 'g3');
  const partition = fc.integer({ min: 0, max: 2 });
  const operation: fc.Arbitrary<Operation> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('commit' as const), group, partition, value: fc.nat(1000) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), group, partition }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), group }) },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(operation, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 4 }), async (rounds) => {
      const dataDir = await tempDir(t, 'defter-offsets-model-');
      const clock = new ManualClock(START_MS);
      let components = await openStore(dataDir, clock, { offsetsTopicNumPartitions: 2 });
      const model = new Map<string, Map<number, bigint>>();
      try {
        for (const round of rounds) {
          // Each round's operations are issued without waiting: they race in the store.
          await Promise.all(
            round.map((op) => {
              const groupModel = model.get(op.group) ?? new Map<number, bigint>();
              model.set(op.group, groupModel);
              if (op.kind === 'commit') {
                groupModel.set(op.partition, BigInt(op.value));
                return components.store.commit(op.group, [offset('t', op.partition, BigInt(op.value))]);
              }
              if (op.kind === 'delete') {
                groupModel.delete(op.partition);
                return components.store.deleteOffsets(op.group, [{ topic: 't', partition: op.partition }]);
              }
              groupModel.clear();
              return components.store.deleteGroup(op.group);
            }),
          );
        }
        const expected = [...model]
          .filter(([, partitions]) => partitions.size > 0)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([groupId, partitions]) => [groupId, [...partitions].sort(([a], [b]) => a - b)]);
        const actual = (store: OffsetStore) => store.groupIds().map((groupId) => [groupId, store.fetch(groupId).map((o) => [o.partition, o.offset])]);
        t.deepEqual(actual(components.store), expected);
        await components.close();
        components = await openStore(dataDir, clock, { offsetsTopicNumPartitions: 2 });
        t.deepEqual(actual(components.store), expected);
        return true;
      } finally {
        await components.close();
      }
    }),
    { numRuns: 15 },
  );
});

test('many commits to the same partitions stay bounded once the cleaner compacts the topic', async (t) => {
  const { store, logManager } = await fresh(t, { offsetsTopicNumPartitions: 1, offsetsTopicSegmentBytes: 2_048 });
  for (let i = 0; i < 400; i++) {
    await store.commit('busy', [offset('orders', 0, BigInt(i), 'meta'), offset('orders', 1, BigInt(i * 2), 'meta')]);
  }
  const log = logManager.getLog(OFFSETS_TOPIC, 0)!;
  const sizeBefore = log.sizeBytes;
  t.true(log.segments().length > 10, `${log.segments().length} segments before cleaning`);
  const result = await logManager.runMaintenance();
  t.deepEqual(result.failures, []);
  t.true(result.cleaned.length >= 1);
  t.true(log.sizeBytes < sizeBefore / 10, `${log.sizeBytes} bytes after cleaning, ${sizeBefore} before`);
  // The latest offsets are what the store serves, and what a reload of the compacted log gives.
  const latest = [
    { topic: 'orders', partition: 0, offset: 399n, leaderEpoch: -1, metadata: 'meta', commitTimestampMs: START_MS },
    { topic: 'orders', partition: 1, offset: 798n, leaderEpoch: -1, metadata: 'meta', commitTimestampMs: START_MS },
  ];
  t.deepEqual(store.fetch('busy'), latest);
  // Replaying the compacted log gives the same.
  const replay = new Map<string, bigint>();
  for (const bytes of await log.readBatches(log.logStartOffset, 1 << 24)) {
    for (const record of decodeRecordBatch(bytes).records) {
      const key = decodeOffsetsTopicKey(record.key!);
      if (key.type === 'offset-commit' && record.value !== null) replay.set(`${key.key.topic}-${key.key.partition}`, decodeOffsetCommitValue(record.value).offset);
    }
  }
  t.deepEqual([...replay], [['orders-0', 399n], ['orders-1', 798n]]);
});

test('expiry removes the offsets of empty groups committed longer ago than offsets.retention.minutes', async (t) => {
  const dataDir = await tempDir(t, 'defter-offsets-');
  const clock = new ManualClock(START_MS);
  const scheduler = new ManualScheduler(clock);
  let components = await openStore(dataDir, clock, { offsetsRetentionMinutes: 10, offsetsRetentionCheckIntervalMs: 30_000 }, scheduler);
  const { store } = components;
  await store.commit('idle', [offset('a', 0, 1n), offset('a', 1, 2n)]);
  await store.commit('active', [offset('a', 0, 3n)]);
  clock.advance(5 * MINUTE_MS);
  await store.commit('idle', [offset('a', 1, 4n)]); // newer: outlives the first
  const emptyGroups = new Set(['idle']);
  const isEmpty = (groupId: string) => emptyGroups.has(groupId);

  clock.advance(5 * MINUTE_MS - 1);
  t.is(await store.expireOffsets(isEmpty), 0, 'not yet: retention is measured from the commit');
  clock.advance(1);
  t.is(await store.expireOffsets(isEmpty), 1);
  t.deepEqual(store.fetch('idle').map((o) => [o.partition, o.offset]), [[1, 4n]]);
  t.is(store.fetch('active').length, 1, 'a group with members keeps its offsets');

  // The periodic run, through the injected scheduler.
  store.startExpiry(isEmpty);
  t.throws(() => store.startExpiry(isEmpty), { message: /already started/ });
  clock.advance(5 * MINUTE_MS);
  t.deepEqual(await scheduler.runDue(), ['offsets-expiry']);
  t.deepEqual(store.groupIds(), ['active']);
  emptyGroups.add('active');
  clock.advance(30_000);
  await scheduler.runDue();
  t.deepEqual(store.groupIds(), []);
  t.deepEqual(scheduler.failures, []);

  await components.close();
  components = await openStore(dataDir, clock);
  t.teardown(() => components.close());
  t.deepEqual(components.store.groupIds(), [], 'expired offsets stay expired after a restart');
});

test('refusals: metadata too large, a group id too long for the record key, a commit larger than max.message.bytes, a closed store', async (t) => {
  const { store, metadata } = await fresh(t, { offsetMetadataMaxBytes: 8 });
  t.is(store.metadataBytesMax, 8);
  t.false(store.isMetadataTooLarge('12345678'));
  t.true(store.isMetadataTooLarge('123456789'));
  t.true(store.isMetadataTooLarge('ééééé')); // 10 UTF-8 bytes
  t.false(store.isMetadataTooLarge(null));
  const tooLarge = await t.throwsAsync(store.commit('g', [offset('a', 0, 1n, '123456789')]), { instanceOf: KafkaError });
  t.is(tooLarge?.code, ErrorCode.OFFSET_METADATA_TOO_LARGE);
  const longGroup = await t.throwsAsync(store.commit('g'.repeat(40_000), [offset('a', 0, 1n)]), { instanceOf: KafkaError });
  t.is(longGroup?.code, ErrorCode.INVALID_GROUP_ID);
  t.deepEqual(store.groupIds(), []);
  t.is(metadata.topic(OFFSETS_TOPIC), undefined, 'refused before anything was written');

  const many = Array.from({ length: 30_000 }, (_, i) => offset('a-rather-long-topic-name-to-fill-the-batch', i, 1n));
  const tooBig = await t.throwsAsync(store.commit('g', many), { instanceOf: KafkaError });
  t.is(tooBig?.code, ErrorCode.INVALID_COMMIT_OFFSET_SIZE);
  t.deepEqual(store.fetch('g'), []);
  await store.commit('g', [offset('a', 0, 1n)]);
  t.is(store.fetch('g').length, 1, 'a failed write does not block the group');

  await store.close();
  const closed = await t.throwsAsync(store.commit('g', [offset('a', 0, 2n)]), { instanceOf: KafkaError });
  t.is(closed?.code, ErrorCode.COORDINATOR_NOT_AVAILABLE);
});

test('value records written by the store decode with Kafka\'s v3 layout', (t) => {
  // The same bytes the store appends, checked field by field (an operator tool reads these).
  const value = encodeOffsetCommitValue({ offset: 7n, leaderEpoch: 2, metadata: 'md', commitTimestampMs: START_MS });
  t.deepEqual(value.subarray(0, 2), Buffer.from([0, 3]));
  t.is(value.readBigInt64BE(2), 7n);
  t.is(value.readInt32BE(10), 2);
  t.is(value.readInt16BE(14), 2);
  t.is(value.toString('utf8', 16, 18), 'md');
  t.is(value.readBigInt64BE(18), BigInt(START_MS));
});

test('the group and offset settings load under their Kafka names', async (t) => {
  const config = await loadBrokerConfig({
    file: null,
    env: { DEFTER_OFFSETS_RETENTION_MINUTES: '15' },
    flags: {
      'group.initial.rebalance.delay.ms': 0,
      'group.min.session.timeout.ms': 1_000,
      'group.max.session.timeout.ms': 60_000,
      'group.max.size': 10,
      'offsets.topic.num.partitions': 3,
      'offsets.topic.segment.bytes': '1048576',
      'offsets.retention.check.interval.ms': 5_000,
      'offset.metadata.max.bytes': 100,
    },
  });
  t.like(config, {
    groupInitialRebalanceDelayMs: 0,
    groupMinSessionTimeoutMs: 1_000,
    groupMaxSessionTimeoutMs: 60_000,
    groupMaxSize: 10,
    offsetsTopicNumPartitions: 3,
    offsetsTopicSegmentBytes: 1_048_576,
    offsetsRetentionMinutes: 15,
    offsetsRetentionCheckIntervalMs: 5_000,
    offsetMetadataMaxBytes: 100,
  });
  await t.throwsAsync(loadBrokerConfig({ file: null, env: {}, flags: { 'offsets.topic.num.partitions': 0 } }), { instanceOf: ConfigError, message: /offsets\.topic\.num\.partitions/ });
});
