/**
 * Changelog records (from cache flushes, folded, restored into a store) and the `.checkpoint`
 * file (round trip, atomic write, torn and damaged files rejected).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import {
  CHECKPOINT_FILE_NAME,
  changelogTopicName,
  decodeCheckpoint,
  encodeCheckpoint,
  foldChangelogRecords,
  MemoryBudget,
  readCheckpoint,
  restoreFromChangelog,
  RocksDbStore,
  StateStoreError,
  toChangelogRecords,
  WriteBackCache,
  writeCheckpoint,
  type ChangelogRecord,
} from '../src/index.js';
import { collect, hexEntries, openStore, SortedMapModel, tempDir } from './state-support.js';

const b = (text: string): Buffer => Buffer.from(text);

test('the changelog topic is <applicationId>-<store>-changelog', (t) => {
  t.is(changelogTopicName('orders-etl', 'counts'), 'orders-etl-counts-changelog');
});

test('toChangelogRecords keeps one record per key, its last value, in the order of last writes', (t) => {
  const writes = [
    { key: b('a'), value: b('1') },
    { key: b('b'), value: b('2') },
    { key: b('a'), value: null },
    { key: b('c'), value: b('3') },
  ];
  t.deepEqual(
    toChangelogRecords(writes).map(({ key, value }) => [key.toString(), value?.toString() ?? null]),
    [['b', '2'], ['a', null], ['c', '3']],
  );
  t.is(writes.length, 4, 'the input is not changed');
  const folded = foldChangelogRecords(writes);
  t.deepEqual(folded.puts.map(({ key }) => key.toString()), ['b', 'c']);
  t.deepEqual(folded.deletes.map(String), ['a']);
});

test('restore: a RocksDB store restored from a cache flush history equals the store that wrote it', async (t) => {
  const record = fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd'), value: fc.option(fc.string({ maxLength: 5 }), { nil: null }) });
  const dir = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(record, { maxLength: 6 }), { maxLength: 6 }), fc.integer({ min: 1, max: 4 }), async (batches, batchRecordsMax) => {
      const original = await openStore(t, 'in-memory', 'source');
      const cache = new WriteBackCache({ store: original, budget: new MemoryBudget({ totalBytes: 1 << 20 }) });
      const changelog: ChangelogRecord[] = [];
      for (const batch of batches) {
        for (const { key, value } of batch) cache.put(b(key), value === null ? null : b(value));
        changelog.push(...(await cache.flush()));
      }
      const restored = new RocksDbStore({ name: 'restored', path: join(dir, `run-${run++}`) });
      await restored.open();
      try {
        t.is(await restoreFromChangelog(restored, changelog, { batchRecordsMax }), changelog.length);
        const want = JSON.stringify(hexEntries(await collect(original.range())));
        const got = JSON.stringify(hexEntries(await collect(restored.range())));
        if (want !== got) throw new Error(`restored ${got}, expected ${want}`);
      } finally {
        await restored.destroy();
        cache.close();
      }
    }),
    { numRuns: 20 },
  );
});

test('restore: last write wins and tombstones delete, across batch boundaries, from an async source', async (t) => {
  const store = await openStore(t, 'rocksdb');
  await store.writeBatch([{ key: b('stale'), value: b('x') }], []);
  const records: ChangelogRecord[] = [
    { key: b('stale'), value: null },
    { key: b('k'), value: b('1') },
    { key: b('j'), value: b('1') },
    { key: b('k'), value: null },
    { key: b('k'), value: b('3') },
  ];
  async function* fromLog(): AsyncIterable<ChangelogRecord> {
    yield* records;
  }
  t.is(await restoreFromChangelog(store, fromLog(), { batchRecordsMax: 2 }), 5);
  const model = new SortedMapModel();
  model.put(b('j'), b('1'));
  model.put(b('k'), b('3'));
  t.deepEqual(hexEntries(await collect(store.range())), hexEntries(model.range()));
});

test('checkpoint: encode/decode round trip, sorted, and the file written atomically', async (t) => {
  const entries = [
    { topic: 'app-counts-changelog', partition: 3, offset: 9_007_199_254_740_993n },
    { topic: 'app-counts-changelog', partition: 0, offset: 0n },
    { topic: 'app-agg-changelog', partition: 1, offset: 42n },
  ];
  const text = encodeCheckpoint(entries);
  t.is(
    text.split('\n').slice(0, 5).join('\n'),
    'defter-state-checkpoint 1\n3\napp-agg-changelog 1 42\napp-counts-changelog 0 0\napp-counts-changelog 3 9007199254740993',
  );
  t.regex(text, /\ncrc32c [0-9a-f]{8}\n$/);
  t.deepEqual(decodeCheckpoint(text, 'x'), [entries[2], entries[1], entries[0]]);
  const file = join(await tempDir(t), CHECKPOINT_FILE_NAME);
  t.is(await readCheckpoint(file), undefined, 'no file: undefined');
  await writeCheckpoint(file, entries);
  t.deepEqual(await readCheckpoint(file), [entries[2], entries[1], entries[0]]);
  await writeCheckpoint(file, []);
  t.deepEqual(await readCheckpoint(file), []);
});

test('checkpoint: a torn (truncated) file is rejected at every cut, and so is a damaged byte', async (t) => {
  const file = join(await tempDir(t), CHECKPOINT_FILE_NAME);
  await writeCheckpoint(file, [{ topic: 'app-s-changelog', partition: 0, offset: 1234n }, { topic: 'app-s-changelog', partition: 1, offset: 5n }]);
  const whole = await readFile(file, 'utf8');
  for (let length = 0; length < whole.length; length += 1) {
    await writeFile(file, whole.slice(0, length));
    const error = await t.throwsAsync(readCheckpoint(file), { instanceOf: StateStoreError }, `cut at ${length}`);
    t.is(error?.reason, 'corrupt');
    t.true(error!.message.startsWith(`the state checkpoint ${file} is corrupt: `), error!.message);
  }
  await writeFile(file, whole.replace('1234', '1235'));
  await t.throwsAsync(readCheckpoint(file), { instanceOf: StateStoreError, message: `the state checkpoint ${file} is corrupt: its checksum does not match its contents.` });
});

test('checkpoint: invalid entries are refused when written', (t) => {
  t.throws(() => encodeCheckpoint([{ topic: 'bad topic', partition: 0, offset: 0n }]), { instanceOf: StateStoreError, message: 'checkpoint: "bad topic" is not a valid topic name.' });
  t.throws(() => encodeCheckpoint([{ topic: 't', partition: -1, offset: 0n }]), { message: 'checkpoint: partition -1 of topic "t" is not a valid partition.' });
  t.throws(() => encodeCheckpoint([{ topic: 't', partition: 0, offset: -1n }]), { message: 'checkpoint: offset -1 of t-0 is not a valid offset.' });
  t.throws(() => encodeCheckpoint([{ topic: 't', partition: 0, offset: 1n }, { topic: 't', partition: 0, offset: 2n }]), { message: 'checkpoint: t-0 appears twice.' });
});
