/**
 * The `KeyValueBytesStore` contract, run on both stores (one suite for every backend): getMany,
 * writeBatch, ranges and prefixes in bytewise order, errors; RocksDB's persistence across
 * reopen; and a property test of each store against a sorted Map with random operation sequences.
 */
import { existsSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { MemoryBudget, RocksDbStore, StateStoreError, type KeyValueBytesStore } from '../src/index.js';
import { collect, hexEntries, openStore, SortedMapModel, STORE_KINDS, tempDir } from './state-support.js';

const b = (text: string): Buffer => Buffer.from(text);

for (const kind of STORE_KINDS) {
  test(`${kind}: getMany answers in the order asked, null for absent keys`, async (t) => {
    const store = await openStore(t, kind);
    await store.writeBatch([{ key: b('a'), value: b('1') }, { key: b('c'), value: b('3') }], []);
    const values = await store.getMany([b('c'), b('b'), b('a'), b('c')]);
    t.deepEqual(values.map((value) => value?.toString() ?? null), ['3', null, '1', '3']);
    t.deepEqual(await store.getMany([]), []);
  });

  test(`${kind}: writeBatch puts and deletes; a key both put and deleted is refused`, async (t) => {
    const store = await openStore(t, kind);
    await store.writeBatch([{ key: b('a'), value: b('1') }, { key: b('b'), value: b('2') }], []);
    await store.writeBatch([{ key: b('a'), value: b('one') }], [b('b'), b('missing')]);
    t.deepEqual(hexEntries(await collect(store.range())), hexEntries([{ key: b('a'), value: b('one') }]));
    const error = await t.throwsAsync(store.writeBatch([{ key: b('x'), value: b('1') }], [b('x')]), { instanceOf: StateStoreError });
    t.is(error?.reason, 'invalid-argument');
    t.is(error?.message, 'store "test-store": a write batch both puts and deletes the key 0x78.');
  });

  test(`${kind}: range and prefix are in bytewise order with [from, to) bounds`, async (t) => {
    const store = await openStore(t, kind);
    const keys = [b('b'), b('a'), b('ab'), Buffer.from([0xff]), Buffer.from([0xff, 0x00]), b('a\u0000'), Buffer.alloc(0), b('c')];
    await store.writeBatch(keys.map((key, index) => ({ key, value: Buffer.from([index]) })), []);
    const all = await collect(store.range());
    t.deepEqual(all.map(({ key }) => key.toString('hex')), ['', '61', '6100', '6162', '62', '63', 'ff', 'ff00']);
    t.deepEqual((await collect(store.range(b('ab'), b('c')))).map(({ key }) => key.toString()), ['ab', 'b']);
    t.deepEqual((await collect(store.range(b('c'), b('a')))).length, 0);
    t.deepEqual((await collect(store.range(undefined, Buffer.alloc(0)))).length, 0);
    t.deepEqual((await collect(store.prefix(b('a')))).map(({ key }) => key.toString('hex')), ['61', '6100', '6162']);
    t.deepEqual((await collect(store.prefix(Buffer.from([0xff])))).map(({ key }) => key.toString('hex')), ['ff', 'ff00']);
    t.is((await collect(store.prefix(Buffer.alloc(0)))).length, 8);
  });

  test(`${kind}: a range longer than one read chunk comes back whole and in order`, async (t) => {
    const store = await openStore(t, kind);
    const count = 2_500;
    const puts = Array.from({ length: count }, (_, index) => ({ key: Buffer.from(String(index).padStart(5, '0')), value: Buffer.from([index % 256]) }));
    await store.writeBatch(puts, []);
    const read = await collect(store.range(b('00100'), b('02400')));
    t.is(read.length, 2_300);
    t.is(read[0]!.key.toString(), '00100');
    t.is(read[2_299]!.key.toString(), '02399');
    t.true(read.every((entry, index) => index === 0 || Buffer.compare(read[index - 1]!.key, entry.key) < 0));
  });

  test(`${kind}: a closed store rejects every operation with not-open`, async (t) => {
    const store = await openStore(t, kind);
    await store.close();
    t.false(store.isOpen);
    for (const operation of [() => store.getMany([b('a')]), () => store.writeBatch([], []), () => collect(store.range()), () => store.approximateBytes(), () => store.flush()]) {
      const error = await t.throwsAsync(operation, { instanceOf: StateStoreError });
      t.is(error?.reason, 'not-open');
      t.is(error?.message, 'store "test-store" is not open.');
    }
  });

  test(`${kind}: approximateBytes grows with the contents`, async (t) => {
    const store = await openStore(t, kind);
    const before = await store.approximateBytes();
    await store.writeBatch(Array.from({ length: 200 }, (_, index) => ({ key: b(`k${index}`), value: Buffer.alloc(500, index) })), []);
    const after = await store.approximateBytes();
    t.true(after > before + 50_000, `approximateBytes went from ${before} to ${after}`);
  });
}

test('rocksdb: contents survive close and reopen; destroy deletes the directory', async (t) => {
  const path = `${await tempDir(t)}/counts`;
  const store = new RocksDbStore({ name: 'counts', path });
  await store.open();
  await store.writeBatch([{ key: b('a'), value: b('1') }, { key: b('b'), value: b('2') }], []);
  await store.writeBatch([], [b('b')]);
  await store.flush();
  await store.close();
  const reopened = new RocksDbStore({ name: 'counts', path });
  await reopened.open();
  t.deepEqual(hexEntries(await collect(reopened.range())), hexEntries([{ key: b('a'), value: b('1') }]));
  await reopened.destroy();
  t.false(existsSync(path));
  t.false(reopened.isOpen);
});

test('rocksdb: a second open of the same directory fails with a storage error naming the store', async (t) => {
  const path = `${await tempDir(t)}/twice`;
  const first = new RocksDbStore({ name: 'twice', path });
  await first.open();
  t.teardown(() => first.close());
  const second = new RocksDbStore({ name: 'twice', path });
  const error = await t.throwsAsync(second.open(), { instanceOf: StateStoreError });
  t.is(error?.reason, 'storage');
  t.true(error!.message.startsWith(`store "twice" at ${path}: RocksDB open failed: `), error!.message);
  t.false(second.isOpen);
});

test('rocksdb: stores lease their block cache and memtables from the budget and give them back on close', async (t) => {
  const mib = 1024 * 1024;
  const budget = new MemoryBudget({ totalBytes: 40 * mib, rocksDbShare: 0.5, rocksDbBytesPerStore: 12 * mib });
  const dir = await tempDir(t);
  const first = new RocksDbStore({ name: 'first', path: `${dir}/first`, budget });
  const second = new RocksDbStore({ name: 'second', path: `${dir}/second`, budget });
  await first.open();
  await second.open();
  // 20 MiB for RocksDB: the first gets its 12 MiB slice (4 MiB memtables, up to 6 MiB of write buffers, 6 MiB block cache);
  // the second the 8 MiB left (memtables 2.67 MiB → 4 MiB worst case, 4 MiB block cache).
  t.deepEqual(first.memoryLease, { blockCacheBytes: 6 * mib, memtableBytes: 4 * mib });
  t.deepEqual(second.memoryLease, { blockCacheBytes: 8 * mib - Math.ceil(Math.floor((8 * mib) / 3) * 1.5), memtableBytes: Math.floor((8 * mib) / 3) });
  t.true(budget.snapshot().rocksDbBytesLeased <= budget.rocksDbBytesMax);
  const third = new RocksDbStore({ name: 'third', path: `${dir}/third`, budget });
  await third.open();
  t.is(third.memoryLease?.blockCacheBytes, 0, 'no share left: no block cache');
  await third.writeBatch([{ key: b('k'), value: b('v') }], []);
  t.is((await third.getMany([b('k')]))[0]?.toString(), 'v');
  await Promise.all([first.close(), second.close(), third.close()]);
  t.is(budget.snapshot().rocksDbBytesLeased, 0);
  t.is(budget.snapshot().rocksDbLeases, 0);
});

// ---- property tests against the oracle ----

const keyArb = fc.array(fc.constantFrom(0x00, 0x01, 0x61, 0xff), { maxLength: 3 }).map((bytes) => Buffer.from(bytes));
const valueArb = fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes));
type StoreOp =
  | { readonly op: 'write'; readonly puts: Array<[Buffer, Buffer]>; readonly deletes: Buffer[] }
  | { readonly op: 'getMany'; readonly keys: Buffer[] }
  | { readonly op: 'range'; readonly from: Buffer | undefined; readonly to: Buffer | undefined }
  | { readonly op: 'prefix'; readonly prefix: Buffer }
  | { readonly op: 'flush' }
  | { readonly op: 'reopen' };
const storeOpArb: fc.Arbitrary<StoreOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('write' as const), puts: fc.array(fc.tuple(keyArb, valueArb), { maxLength: 6 }), deletes: fc.array(keyArb, { maxLength: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('getMany' as const), keys: fc.array(keyArb, { maxLength: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('range' as const), from: fc.option(keyArb, { nil: undefined }), to: fc.option(keyArb, { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('prefix' as const), prefix: keyArb }) },
  { weight: 1, arbitrary: fc.constant({ op: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
);

async function checkAgainstModel(store: KeyValueBytesStore, ops: readonly StoreOp[], reopen: () => Promise<KeyValueBytesStore>): Promise<void> {
  const model = new SortedMapModel();
  for (const step of ops) {
    switch (step.op) {
      case 'write': {
        const deleted = new Set(step.deletes.map((key) => key.toString('hex')));
        const puts = step.puts.filter(([key]) => !deleted.has(key.toString('hex')));
        await store.writeBatch(puts.map(([key, value]) => ({ key, value })), step.deletes);
        for (const key of step.deletes) model.delete(key);
        for (const [key, value] of puts) model.put(key, value);
        break;
      }
      case 'getMany': {
        const values = await store.getMany(step.keys);
        const expected = step.keys.map((key) => model.get(key)?.toString('hex') ?? null);
        if (JSON.stringify(values.map((value) => value?.toString('hex') ?? null)) !== JSON.stringify(expected)) {
          throw new Error(`getMany(${step.keys.map((key) => key.toString('hex'))}) = ${JSON.stringify(values)}, expected ${JSON.stringify(expected)}`);
        }
        break;
      }
      case 'range':
      case 'prefix': {
        const read = step.op === 'range' ? await collect(store.range(step.from, step.to)) : await collect(store.prefix(step.prefix));
        const expected =
          step.op === 'range'
            ? model.range(step.from, step.to)
            : model.range().filter(({ key }) => key.subarray(0, step.prefix.length).equals(step.prefix));
        if (JSON.stringify(hexEntries(read)) !== JSON.stringify(hexEntries(expected))) {
          throw new Error(`${step.op} read ${JSON.stringify(hexEntries(read))}, expected ${JSON.stringify(hexEntries(expected))}`);
        }
        break;
      }
      case 'flush':
        await store.flush();
        break;
      case 'reopen':
        store = await reopen();
        break;
    }
  }
}

test('in-memory: random operation sequences match a sorted Map', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(storeOpArb.filter((step) => step.op !== 'reopen'), { maxLength: 40 }), async (ops) => {
      const store = await openStore(t, 'in-memory');
      await checkAgainstModel(store, ops, async () => store);
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('rocksdb: random operation sequences, with flushes and reopens, match a sorted Map', async (t) => {
  const dir = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(storeOpArb, { maxLength: 30 }), async (ops) => {
      const path = `${dir}/run-${run++}`;
      let store = new RocksDbStore({ name: 'prop', path });
      await store.open();
      try {
        await checkAgainstModel(store, ops, async () => {
          await store.close();
          store = new RocksDbStore({ name: 'prop', path });
          await store.open();
          return store;
        });
      } finally {
        await store.destroy();
      }
    }),
    { numRuns: 25 },
  );
  t.pass();
});
