/**
 * State store operations per second beside a plain `Map` doing the same work, in one run:
 *
 * - `Map`: 1 000 sets, 1 000 gets (the baseline: what a store can at best approach);
 * - `InMemoryStore` and `RocksDbStore`: one `writeBatch` of 1 000 puts, one `getMany` of 1 000
 *   keys, a range scan of 1 000 entries, and (RocksDB) single awaited gets — the cost the hot
 *   path avoids by batching;
 * - `WriteBackCache` on RocksDB: a batch's preload (all hits), 1 000 synchronous get+put, and the
 *   commit's flush of 1 000 dirty entries.
 *
 * Keys are 16 bytes, values 100 bytes. Each row repeats its operation for about `--ms` (default
 * 1 000) after a warm-up and prints operations (keys) per second and microseconds per call.
 *
 *   pnpm bench:state [--ms N]      (node packages/streams/dist/bench/state.js)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryStore, MemoryBudget, RocksDbStore, WriteBackCache, type KeyValueBytesStore } from '../src/index.js';

const BATCH_KEYS = 1_000;
const KEYS_TOTAL = 100_000;
const VALUE = Buffer.alloc(100, 7);

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  if (index < 0) return fallback;
  const value = Number(process.argv[index + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number, got ${process.argv[index + 1]}`);
  return value;
}
const durationMs = argument('ms', 1_000);

function keyOf(index: number): Buffer {
  return Buffer.from(`key-${String(index).padStart(12, '0')}`);
}
const allKeys = Array.from({ length: KEYS_TOTAL }, (_, index) => keyOf(index));
/** A batch of keys spread over the key space (as a partition's records would be). */
function batchKeys(round: number): Buffer[] {
  return Array.from({ length: BATCH_KEYS }, (_, index) => allKeys[(round * 7_919 + index * 97) % KEYS_TOTAL]!);
}

interface Row {
  readonly row: string;
  readonly opsPerSecond: number;
  readonly microsPerCall: number;
}
const rows: Row[] = [];

/** Runs `call` (which does `opsPerCall` operations) repeatedly for about `durationMs`. */
async function measure(row: string, opsPerCall: number, call: (round: number) => unknown): Promise<void> {
  for (let round = 0; round < 3; round += 1) await call(round);
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < durationMs) {
    await call(calls);
    calls += 1;
    elapsed = performance.now() - start;
  }
  const result = { row, opsPerSecond: (calls * opsPerCall) / (elapsed / 1_000), microsPerCall: (elapsed * 1_000) / calls };
  rows.push(result);
  console.log(`| ${row.padEnd(64)} | ${formatRate(result.opsPerSecond).padStart(12)} | ${result.microsPerCall.toFixed(1).padStart(10)} |`);
}

function formatRate(opsPerSecond: number): string {
  return opsPerSecond >= 1e6 ? `${(opsPerSecond / 1e6).toFixed(2)} M/s` : `${(opsPerSecond / 1e3).toFixed(0)} k/s`;
}

async function fill(store: KeyValueBytesStore): Promise<void> {
  for (let start = 0; start < KEYS_TOTAL; start += 10_000) {
    await store.writeBatch(allKeys.slice(start, start + 10_000).map((key) => ({ key, value: VALUE })), []);
  }
}

async function benchStore(label: string, store: KeyValueBytesStore): Promise<void> {
  await store.open();
  await fill(store);
  await measure(`${label}: writeBatch of 1 000 puts (keys/s)`, BATCH_KEYS, (round) => store.writeBatch(batchKeys(round).map((key) => ({ key, value: VALUE })), []));
  await measure(`${label}: getMany of 1 000 keys (keys/s)`, BATCH_KEYS, (round) => store.getMany(batchKeys(round)));
  await measure(`${label}: range scan of 1 000 entries (entries/s)`, BATCH_KEYS, async (round) => {
    let count = 0;
    for await (const entry of store.range(keyOf((round * 1_000) % (KEYS_TOTAL - BATCH_KEYS)))) {
      count += entry.value.length > 0 ? 1 : 0;
      if (count === BATCH_KEYS) break;
    }
  });
  if (store.persistent) {
    await measure(`${label}: single awaited get (gets/s)`, 1, (round) => store.getMany([allKeys[(round * 7_919) % KEYS_TOTAL]!]));
  }
}

async function main(): Promise<void> {
  console.log(`state stores: ${KEYS_TOTAL} keys of 16 bytes, values of 100 bytes, batches of ${BATCH_KEYS}; ~${durationMs} ms per row`);
  console.log(`| ${'row'.padEnd(64)} | ${'ops/s'.padStart(12)} | ${'µs/call'.padStart(10)} |`);
  console.log(`|${'-'.repeat(66)}|${'-'.repeat(14)}|${'-'.repeat(12)}|`);

  const map = new Map<string, Buffer>();
  for (const key of allKeys) map.set(key.toString('latin1'), VALUE);
  await measure('Map (baseline): 1 000 sets (keys/s)', BATCH_KEYS, (round) => {
    for (const key of batchKeys(round)) map.set(key.toString('latin1'), VALUE);
  });
  await measure('Map (baseline): 1 000 gets (keys/s)', BATCH_KEYS, (round) => {
    let found = 0;
    for (const key of batchKeys(round)) found += map.get(key.toString('latin1')) === undefined ? 0 : 1;
    return found;
  });

  const memory = new InMemoryStore('bench-memory');
  await benchStore('InMemoryStore', memory);
  await memory.close();

  const dir = await mkdtemp(join(tmpdir(), 'defter-bench-state-'));
  try {
    const budget = new MemoryBudget({ totalBytes: 256 * 1024 * 1024 });
    const rocks = new RocksDbStore({ name: 'bench-rocksdb', path: join(dir, 'rocksdb'), budget });
    await benchStore('RocksDbStore', rocks);

    const cache = new WriteBackCache({ store: rocks, budget });
    await cache.preload(batchKeys(0));
    cache.endBatch();
    await measure('WriteBackCache: preload of 1 000 cached keys (keys/s)', BATCH_KEYS, async () => {
      await cache.preload(batchKeys(0));
      cache.endBatch();
    });
    await cache.preload(batchKeys(0));
    const keys = batchKeys(0);
    await measure('WriteBackCache: 1 000 sync get + put (keys/s)', BATCH_KEYS, () => {
      for (const key of keys) cache.put(key, cache.get(key) ?? VALUE);
    });
    await measure('WriteBackCache: flush of 1 000 dirty entries to RocksDB (keys/s)', BATCH_KEYS, async () => {
      for (const key of keys) cache.put(key, VALUE);
      await cache.flush();
    });
    cache.endBatch();
    cache.close();
    await rocks.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const mapGets = rows.find((row) => row.row.startsWith('Map (baseline): 1 000 gets'))!.opsPerSecond;
  const cacheGets = rows.find((row) => row.row.startsWith('WriteBackCache: 1 000 sync'))!.opsPerSecond;
  const rocksGetMany = rows.find((row) => row.row.startsWith('RocksDbStore: getMany'))!.opsPerSecond;
  const rocksSingle = rows.find((row) => row.row.startsWith('RocksDbStore: single'))!.opsPerSecond;
  console.log(`cache get+put vs Map get: ${(cacheGets / mapGets).toFixed(2)}×; RocksDB getMany per key vs single awaited get: ${(rocksGetMany / rocksSingle).toFixed(1)}× faster`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
