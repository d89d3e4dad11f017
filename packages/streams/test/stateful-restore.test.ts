/**
 * Restore and checkpoints, on the embedded log and over kafkajs: a clean close checkpoints, so a
 * restart restores nothing; a deleted state directory is rebuilt from the changelog and counting
 * goes on exactly; a topology that drops a store with state is refused; the preload is one
 * getMany per batch per store; a read of a key the batch did not name is a bug error.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  app,
  changelogTopicName,
  EmbeddedLog,
  MemoryBudget,
  RocksDbStore,
  Serdes,
  StateStoreError,
  type KeyValueBytesStore,
  type LogOption,
  type RestoreProgress,
  type StreamsApp,
} from '../src/index.js';
import { TaskState } from '../src/runtime/task-state.js';
import { closeAtEnd, produce, startCluster, waitForIdle, type TestCluster } from './runtime-support.js';
import { countBy, defineCounting, stateDirectory, storeContents } from './stateful-support.js';

const keys = (from: number, to: number): Array<{ key: string; value: string }> =>
  Array.from({ length: to - from }, (_, index) => ({ key: `k${(from + index) % 7}`, value: String(from + index) }));

interface Started {
  readonly pipeline: StreamsApp;
  readonly restores: RestoreProgress[];
}

async function startCounting(t: ExecutionContext, log: LogOption, stateDir: string, extra: { getManyCalls?: Map<string, number> } = {}): Promise<Started> {
  const restores: RestoreProgress[] = [];
  const pipeline = closeAtEnd(
    t,
    app({
      applicationId: 'restore-app',
      log,
      stateDir,
      commitIntervalMs: 200,
      onRestore: (progress) => restores.push(progress),
      ...(extra.getManyCalls !== undefined
        ? {
            stateStoreFactory: (options: { name: string; path: string; budget: MemoryBudget }): KeyValueBytesStore => {
              const store = new RocksDbStore(options);
              const getMany = store.getMany.bind(store);
              store.getMany = (list) => {
                extra.getManyCalls!.set(options.path, (extra.getManyCalls!.get(options.path) ?? 0) + 1);
                return getMany(list);
              };
              return store;
            },
          }
        : {}),
    }),
  );
  defineCounting(pipeline);
  await pipeline.start();
  return { pipeline, restores };
}

const restoredTotal = (restores: readonly RestoreProgress[]): number => restores.filter((entry) => entry.done).reduce((sum, entry) => sum + entry.restoredRecords, 0);

async function restoreScenario(t: ExecutionContext, cluster: TestCluster, log: LogOption): Promise<void> {
  await cluster.createTopic('in', 2);
  await cluster.createTopic('counts-out', 2);
  const stateDir = await stateDirectory(t);
  await produce(cluster, 'in', keys(0, 200));

  const first = await startCounting(t, log, stateDir);
  t.true(await waitForIdle(first.pipeline, 200, 30_000));
  t.deepEqual(await storeContents(first.pipeline, 'counts'), countBy(keys(0, 200), (entry) => entry.key));
  t.is(restoredTotal(first.restores), 0, 'nothing to restore on the first start');
  await first.pipeline.close();

  // A clean close wrote checkpoints: the restart restores only the tail, which is empty.
  const second = await startCounting(t, log, stateDir);
  t.is(second.restores.filter((entry) => entry.done).length, 2, 'one restore per task');
  t.is(restoredTotal(second.restores), 0, 'the checkpoint covers the whole changelog');
  await produce(cluster, 'in', keys(200, 300));
  t.true(await waitForIdle(second.pipeline, 100, 30_000));
  t.deepEqual(await storeContents(second.pipeline, 'counts'), countBy(keys(0, 300), (entry) => entry.key));
  await second.pipeline.close();

  // Local state gone: everything comes back from the changelog, and counting goes on exactly.
  await rm(join(stateDir, 'restore-app'), { recursive: true, force: true });
  const getManyCalls = new Map<string, number>();
  const third = await startCounting(t, log, stateDir, { getManyCalls });
  const restored = restoredTotal(third.restores);
  t.true(restored >= 7 && restored <= 300 + 7, `restored ${restored} changelog records`);
  t.deepEqual(await storeContents(third.pipeline, 'counts'), countBy(keys(0, 300), (entry) => entry.key));
  await produce(cluster, 'in', keys(300, 400), 25);
  t.true(await waitForIdle(third.pipeline, 100, 30_000));
  t.deepEqual(await storeContents(third.pipeline, 'counts'), countBy(keys(0, 400), (entry) => entry.key));
  // One getMany per batch per store at most (none when every key is cached already).
  const batches = third.pipeline.metrics().tasks.reduce((sum, task) => sum + task.batches, 0);
  const calls = [...getManyCalls.values()].reduce((sum, count) => sum + count, 0);
  t.true(calls >= 1 && calls <= batches, `${calls} getMany calls for ${batches} batches`);
  await third.pipeline.close();

  // A topology without the store "counts" would orphan its state: refused, naming it.
  const renamed = closeAtEnd(t, app({ applicationId: 'restore-app', log, stateDir, shutdownOnSignals: false }));
  renamed
    .stream('in', { key: Serdes.string(), value: Serdes.string() })
    .groupByKey({ key: Serdes.string(), value: Serdes.string() })
    .count({ name: 'counts-v2' });
  const error = await t.throwsAsync(() => renamed.start());
  t.regex(error!.message, /has no store named "counts", which has local state in .* and the changelog topic "restore-app-counts-changelog"/);
  t.regex(error!.message, /reset the app/);
}

test('embedded log: checkpoint after a clean close, restore from the changelog, orphaned state refused', async (t) => {
  const cluster = await startCluster(t);
  await restoreScenario(t, cluster, { broker: cluster.broker });
});

test('kafkajs: checkpoint after a clean close, restore from the changelog, orphaned state refused', async (t) => {
  const cluster = await startCluster(t);
  await restoreScenario(t, cluster, { brokers: [cluster.bootstrap] });
});

test('a read or write of a key the batch did not preload is a StateStoreError, not "absent"', async (t) => {
  const cluster = await startCluster(t);
  const log = new EmbeddedLog({ broker: cluster.broker });
  await log.connect();
  t.teardown(() => log.close());
  await log.createTopics([{ name: changelogTopicName('unit', 'store'), partitions: 1, configs: { 'cleanup.policy': 'compact' } }]);
  const state = new TaskState({
    applicationId: 'unit',
    taskId: '0_0',
    partition: 0,
    directory: join(await stateDirectory(t), 'unit', '0_0'),
    specs: [{ name: 'store', nodeId: 1, keySerde: Serdes.string() as never, valueSerde: Serdes.string() as never }],
    budget: new MemoryBudget({ totalBytes: 1 << 24 }),
    storeFactory: (options) => new RocksDbStore(options),
    exactlyOnce: false,
    onCommitNeeded: () => undefined,
    onRestore: () => undefined,
  });
  await state.open(log);
  t.teardown(() => state.close(undefined, false));
  const store = state.beginRun().store('store');
  await store.update(['a'], (view) => view.put('a', 'A'));
  t.is(await store.update(['a'], (view) => view.get('a')), 'A');
  const readError = await t.throwsAsync(() => store.update(['a'], (view) => view.get('b')));
  t.true(readError instanceof StateStoreError && readError.reason === 'not-preloaded', String(readError));
  const writeError = await t.throwsAsync(() => store.update(['a'], (view) => view.put('c', 'C')));
  t.true(writeError instanceof StateStoreError && writeError.reason === 'not-preloaded', String(writeError));
  const changelog = await state.flush(1_000);
  t.deepEqual(changelog.map((record) => [record.key?.toString(), record.value?.toString()]), [['a', 'A']]);
});
