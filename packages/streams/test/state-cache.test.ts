/**
 * The write-back cache: synchronous reads only of preloaded keys, one getMany per preload, dirty
 * tracking and flushes in write order, the LRU bound on a shared `MemoryBudget` (clean entries
 * evicted, dirty and pinned ones kept, an early commit asked for), and a property test against a
 * Map model over both stores.
 */
import test from 'ava';
import fc from 'fast-check';
import { InMemoryStore, MemoryBudget, StateStoreError, WriteBackCache, type KeyValueBytesStore, type KeyValueEntry } from '../src/index.js';
import { collect, hexEntries, openStore, SortedMapModel, STORE_KINDS } from './state-support.js';

const b = (text: string): Buffer => Buffer.from(text);
const MIB = 1024 * 1024;
/** What the cache charges an entry: the key twice (buffer and map key), the value, 96 bytes of overhead. */
const entryBytes = (key: string, value: string | null): number => 2 * Buffer.byteLength(key) + (value === null ? 0 : Buffer.byteLength(value)) + 96;

/** A store that counts the calls reaching it. */
class CountingStore extends InMemoryStore {
  getManyCalls: Buffer[][] = [];
  writeBatchCalls: Array<{ puts: readonly KeyValueEntry[]; deletes: readonly Buffer[] }> = [];
  override getMany(keys: readonly Buffer[]): Promise<Array<Buffer | null>> {
    this.getManyCalls.push([...keys]);
    return super.getMany(keys);
  }
  override writeBatch(puts: readonly KeyValueEntry[], deletes: readonly Buffer[]): Promise<void> {
    this.writeBatchCalls.push({ puts, deletes });
    return super.writeBatch(puts, deletes);
  }
}

async function countingStore(name = 'counts'): Promise<CountingStore> {
  const store = new CountingStore(name);
  await store.open();
  return store;
}

test('a read of a key that was not preloaded throws an error naming the store', async (t) => {
  const cache = new WriteBackCache({ store: await countingStore(), budget: new MemoryBudget({ totalBytes: MIB }) });
  const error = t.throws(() => cache.get(b('k1')), { instanceOf: StateStoreError });
  t.is(error?.reason, 'not-preloaded');
  t.is(error?.message, 'store "counts": the key 0x6b31 was read before it was preloaded; preload every key a batch reads before processing it.');
});

test('preload reads only the missing keys, once each, with one getMany; absent keys read as null', async (t) => {
  const store = await countingStore();
  await store.writeBatch([{ key: b('a'), value: b('1') }], []);
  const cache = new WriteBackCache({ store, budget: new MemoryBudget({ totalBytes: MIB }) });
  cache.put(b('w'), b('written'));
  await cache.preload([b('a'), b('b'), b('a'), b('w')]);
  t.deepEqual(store.getManyCalls.map((keys) => keys.map(String)), [['a', 'b']]);
  t.is(cache.get(b('a'))?.toString(), '1');
  t.is(cache.get(b('b')), null);
  t.is(cache.get(b('w'))?.toString(), 'written');
  await cache.preload([b('a'), b('b')]);
  t.is(store.getManyCalls.length, 1, 'cached keys are not read again');
  t.deepEqual(cache.metrics().misses, 2);
  t.deepEqual(cache.metrics().hits, 3);
});

test('flush writes the dirty entries in one batch and returns them in the order of each key last write', async (t) => {
  const store = await countingStore();
  const cache = new WriteBackCache({ store, budget: new MemoryBudget({ totalBytes: MIB }) });
  cache.put(b('a'), b('1'));
  cache.put(b('b'), b('2'));
  cache.put(b('c'), b('3'));
  cache.put(b('a'), b('4'));
  cache.delete(b('b'));
  t.is(cache.dirtyBytes, entryBytes('a', '4') + entryBytes('b', null) + entryBytes('c', '3'));
  const records = await cache.flush();
  t.deepEqual(
    records.map(({ key, value }) => [key.toString(), value?.toString() ?? null]),
    [['c', '3'], ['a', '4'], ['b', null]],
  );
  t.is(store.writeBatchCalls.length, 1);
  t.deepEqual(hexEntries(await collect(store.range())), hexEntries([{ key: b('a'), value: b('4') }, { key: b('c'), value: b('3') }]));
  t.is(cache.dirtyBytes, 0);
  t.deepEqual(await cache.flush(), [], 'nothing dirty: nothing written');
  t.is(store.writeBatchCalls.length, 1);
  t.is(cache.get(b('b')), null, 'a flushed delete stays cached as absent');
});

test('an entry written again while a flush is under way stays dirty for the next flush', async (t) => {
  const store = await countingStore();
  const cache = new WriteBackCache({ store, budget: new MemoryBudget({ totalBytes: MIB }) });
  cache.put(b('a'), b('1'));
  const flushing = cache.flush();
  cache.put(b('a'), b('2'));
  t.deepEqual((await flushing).map(({ value }) => value?.toString()), ['1']);
  t.deepEqual((await cache.flush()).map(({ value }) => value?.toString()), ['2']);
  t.is((await store.getMany([b('a')]))[0]?.toString(), '2');
});

test('a failed store write keeps every entry dirty', async (t) => {
  const store = await countingStore();
  const cache = new WriteBackCache({ store, budget: new MemoryBudget({ totalBytes: MIB }) });
  cache.put(b('a'), b('1'));
  await store.close();
  await t.throwsAsync(cache.flush(), { instanceOf: StateStoreError, message: 'store "counts" is not open.' });
  await store.open();
  t.deepEqual((await cache.flush()).map(({ key }) => key.toString()), ['a']);
});

test('range reads the store with the dirty entries laid over it', async (t) => {
  const store = await countingStore();
  await store.writeBatch([{ key: b('a'), value: b('1') }, { key: b('c'), value: b('3') }, { key: b('e'), value: b('5') }], []);
  const cache = new WriteBackCache({ store, budget: new MemoryBudget({ totalBytes: MIB }) });
  cache.put(b('b'), b('2'));
  cache.delete(b('c'));
  cache.put(b('e'), b('five'));
  cache.put(b('f'), b('6'));
  const read = await collect(cache.range(b('a'), b('f')));
  t.deepEqual(read.map(({ key, value }) => `${key}=${value}`), ['a=1', 'b=2', 'e=five']);
  t.deepEqual((await collect(cache.range())).map(({ key }) => key.toString()), ['a', 'b', 'e', 'f']);
  t.is((await cache.getAsync(b('c'))), null);
  t.is((await cache.getAsync(b('a')))?.toString(), '1');
});

test('over budget, clean entries are evicted least recently used first; dirty and pinned entries stay', async (t) => {
  const store = await countingStore();
  const entry = entryBytes('k0', 'x'.repeat(100));
  // Room for exactly four entries in the cache share (no RocksDB share).
  const budget = new MemoryBudget({ totalBytes: 4 * entry, rocksDbShare: 0 });
  await store.writeBatch(Array.from({ length: 8 }, (_, index) => ({ key: b(`k${index}`), value: Buffer.alloc(100, 120) })), []);
  const cache = new WriteBackCache({ store, budget, dirtyBytesMax: 10 * entry });
  await cache.preload([b('k0'), b('k1'), b('k2')]);
  cache.endBatch();
  cache.get(b('k0')); // k0 is now the most recently used: k1 is the least
  await cache.preload([b('k3'), b('k4')]);
  t.false(cache.has(b('k1')), 'the least recently used clean entry went first');
  t.true(cache.has(b('k0')) && cache.has(b('k2')) && cache.has(b('k3')) && cache.has(b('k4')));
  t.is(budget.cacheBytesUsed, 4 * entry);
  cache.endBatch();
  // A batch whose pinned keys alone exceed the budget keeps them all (reads must not fail mid-batch).
  await cache.preload([b('k5'), b('k6'), b('k7'), b('k1'), b('k0')]);
  for (const key of ['k5', 'k6', 'k7', 'k1', 'k0']) t.true(cache.has(b(key)), `${key} is pinned`);
  t.true(budget.cacheOvercommitted);
  t.is(cache.metrics().evictions, 1 + 3);
  // Once the batch ends its keys are evictable again, and the excess goes (k0, the least recently used).
  cache.endBatch();
  t.false(budget.cacheOvercommitted);
  t.false(cache.has(b('k0')));
  t.true(cache.has(b('k5')) && cache.has(b('k1')));
  t.is(cache.metrics().evictions, 1 + 3 + 1);
});

test('dirty bytes over dirtyBytesMax ask for a commit once (flag and callback); a flush clears it', async (t) => {
  const store = await countingStore();
  const asked: string[] = [];
  const cache = new WriteBackCache({ store, budget: new MemoryBudget({ totalBytes: MIB }), dirtyBytesMax: 2 * entryBytes('k0', 'v'), onCommitNeeded: (name) => asked.push(name) });
  cache.put(b('k0'), b('v'));
  cache.put(b('k1'), b('v'));
  t.false(cache.commitNeeded);
  cache.put(b('k2'), b('v'));
  t.true(cache.commitNeeded);
  cache.put(b('k3'), b('v'));
  t.deepEqual(asked, ['counts'], 'called once, not per write');
  await cache.flush();
  t.false(cache.commitNeeded);
  t.is(cache.dirtyBytes, 0);
  for (let index = 0; index < 3; index += 1) cache.put(b(`k${index}`), b('w'));
  t.deepEqual(asked, ['counts', 'counts'], 'asked again after the flush');
});

test('caches share one budget: one cache growing evicts another cache clean entries, never dirty ones', async (t) => {
  const entry = entryBytes('k0', 'x'.repeat(100));
  const budget = new MemoryBudget({ totalBytes: 6 * entry, rocksDbShare: 0 });
  const first = new WriteBackCache({ store: await countingStore('first'), budget, dirtyBytesMax: 100 * entry });
  const second = new WriteBackCache({ store: await countingStore('second'), budget, dirtyBytesMax: 100 * entry });
  t.is(budget.snapshot().caches, 2);
  first.put(b('k0'), Buffer.alloc(100));
  first.put(b('k1'), Buffer.alloc(100));
  await first.flush(); // k0, k1 clean
  first.put(b('k2'), Buffer.alloc(100)); // dirty
  for (let index = 0; index < 3; index += 1) second.put(b(`k${index}`), Buffer.alloc(100));
  t.is(budget.cacheBytesUsed, 6 * entry);
  t.false(first.commitNeeded);
  second.put(b('k3'), Buffer.alloc(100));
  t.false(first.has(b('k0')), "the other cache's least recently used clean entry made room");
  t.true(first.has(b('k1')) && first.has(b('k2')));
  second.put(b('k4'), Buffer.alloc(100));
  second.put(b('k5'), Buffer.alloc(100));
  t.false(first.has(b('k1')));
  t.true(first.has(b('k2')), 'dirty entries are never evicted');
  t.true(budget.cacheOvercommitted);
  t.true(first.commitNeeded && second.commitNeeded, 'only dirty bytes left: every cache with dirty bytes asks for a commit');
  first.close();
  second.close();
  t.is(budget.cacheBytesUsed, 0);
  t.is(budget.snapshot().caches, 0);
});

test('a closed cache refuses further use', async (t) => {
  const cache = new WriteBackCache({ store: await countingStore(), budget: new MemoryBudget({ totalBytes: MIB }) });
  cache.close();
  t.throws(() => cache.put(b('a'), b('1')), { instanceOf: StateStoreError, message: 'store "counts": its cache is closed.' });
  await t.throwsAsync(cache.preload([b('a')]), { instanceOf: StateStoreError });
});

test('bad budget options are refused with one sentence', (t) => {
  t.throws(() => new MemoryBudget({ totalBytes: 0 }), { instanceOf: StateStoreError, message: "the memory budget's totalBytes must be a positive integer, got 0." });
  t.throws(() => new MemoryBudget({ totalBytes: MIB, rocksDbShare: 1 }), { message: "the memory budget's rocksDbShare must be in [0, 1), got 1." });
});

// ---- property test: the cache over each store against a Map model ----

const keyArb = fc.constantFrom(...['a', 'b', 'c', 'd', 'e', 'f'].map((key) => Buffer.from(key)));
type CacheOp =
  | { readonly op: 'preloadGet'; readonly keys: Buffer[] }
  | { readonly op: 'put'; readonly key: Buffer; readonly value: Buffer }
  | { readonly op: 'delete'; readonly key: Buffer }
  | { readonly op: 'flush' }
  | { readonly op: 'range'; readonly from: Buffer | undefined; readonly to: Buffer | undefined };
const cacheOpArb: fc.Arbitrary<CacheOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('preloadGet' as const), keys: fc.array(keyArb, { minLength: 1, maxLength: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyArb, value: fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.constant({ op: 'flush' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('range' as const), from: fc.option(keyArb, { nil: undefined }), to: fc.option(keyArb, { nil: undefined }) }) },
);

async function checkCache(store: KeyValueBytesStore, ops: readonly CacheOp[], budget: MemoryBudget): Promise<void> {
  const cache = new WriteBackCache({ store, budget });
  const model = new SortedMapModel();
  const stored = new SortedMapModel(); // what the store should hold: the model as of the last flush
  const pending = new Map<string, Buffer | null>();
  for (const step of ops) {
    switch (step.op) {
      case 'preloadGet': {
        await cache.preload(step.keys);
        for (const key of step.keys) {
          const value = cache.get(key);
          const expected = model.get(key);
          if ((value?.toString('hex') ?? null) !== (expected?.toString('hex') ?? null)) throw new Error(`get(${key}) = ${value?.toString('hex')}, expected ${expected?.toString('hex')}`);
        }
        cache.endBatch();
        break;
      }
      case 'put':
        cache.put(step.key, step.value);
        model.put(step.key, step.value);
        pending.delete(step.key.toString('hex'));
        pending.set(step.key.toString('hex'), step.value);
        break;
      case 'delete':
        cache.delete(step.key);
        model.delete(step.key);
        pending.delete(step.key.toString('hex'));
        pending.set(step.key.toString('hex'), null);
        break;
      case 'flush': {
        const records = (await cache.flush()).map(({ key, value }) => [key.toString('hex'), value?.toString('hex') ?? null]);
        const expected = [...pending].map(([key, value]) => [key, value?.toString('hex') ?? null]);
        if (JSON.stringify(records) !== JSON.stringify(expected)) throw new Error(`flush gave ${JSON.stringify(records)}, expected ${JSON.stringify(expected)}`);
        for (const [hex, value] of pending) {
          if (value === null) stored.delete(Buffer.from(hex, 'hex'));
          else stored.put(Buffer.from(hex, 'hex'), value);
        }
        pending.clear();
        const inStore = hexEntries(await collect(store.range()));
        if (JSON.stringify(inStore) !== JSON.stringify(hexEntries(stored.range()))) throw new Error(`the store holds ${JSON.stringify(inStore)} after a flush`);
        break;
      }
      case 'range': {
        const read = hexEntries(await collect(cache.range(step.from, step.to)));
        const expected = hexEntries(model.range(step.from, step.to));
        if (JSON.stringify(read) !== JSON.stringify(expected)) throw new Error(`range read ${JSON.stringify(read)}, expected ${JSON.stringify(expected)}`);
        break;
      }
    }
  }
  cache.close();
  if (budget.cacheBytesUsed !== 0) throw new Error(`the closed cache left ${budget.cacheBytesUsed} bytes reserved`);
}

for (const kind of STORE_KINDS) {
  test(`${kind}: the cache matches a Map model under random reads, writes, deletes, flushes and ranges (small budget: constant eviction)`, async (t) => {
    await fc.assert(
      fc.asyncProperty(fc.array(cacheOpArb, { maxLength: 40 }), fc.integer({ min: 200, max: 2_000 }), async (ops, totalBytes) => {
        const store = await openStore(t, kind);
        await checkCache(store, ops, new MemoryBudget({ totalBytes, rocksDbShare: 0 }));
        await store.close();
      }),
      { numRuns: kind === 'rocksdb' ? 25 : 200 },
    );
    t.pass();
  });
}
