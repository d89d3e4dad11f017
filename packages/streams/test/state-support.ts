/** Shared by the state store tests: temp directories, stores of both kinds, and a sorted-Map oracle. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { InMemoryStore, RocksDbStore, type KeyValueBytesStore, type KeyValueEntry, type MemoryBudget } from '../src/index.js';

export async function tempDir(t: ExecutionContext, prefix = 'defter-state-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export type StoreKind = 'in-memory' | 'rocksdb';
export const STORE_KINDS: readonly StoreKind[] = ['in-memory', 'rocksdb'];

/** An open store of the given kind; closed at the test's end. */
export async function openStore(t: ExecutionContext, kind: StoreKind, name = 'test-store', budget?: MemoryBudget): Promise<KeyValueBytesStore> {
  const store: KeyValueBytesStore =
    kind === 'in-memory' ? new InMemoryStore(name) : new RocksDbStore({ name, path: join(await tempDir(t), name), ...(budget === undefined ? {} : { budget }) });
  await store.open();
  t.teardown(async () => {
    if (store.isOpen) await store.close();
  });
  return store;
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** The oracle: a Map keyed by hex, read back in bytewise key order. */
export class SortedMapModel {
  readonly entries = new Map<string, Buffer>();

  put(key: Buffer, value: Buffer): void {
    this.entries.set(key.toString('hex'), value);
  }

  delete(key: Buffer): void {
    this.entries.delete(key.toString('hex'));
  }

  get(key: Buffer): Buffer | null {
    return this.entries.get(key.toString('hex')) ?? null;
  }

  range(from?: Buffer, to?: Buffer): KeyValueEntry[] {
    return [...this.entries]
      .map(([hex, value]) => ({ key: Buffer.from(hex, 'hex'), value }))
      .filter(({ key }) => (from === undefined || Buffer.compare(key, from) >= 0) && (to === undefined || Buffer.compare(key, to) < 0))
      .sort((a, b) => Buffer.compare(a.key, b.key));
  }
}

/** Entries as comparable hex pairs (so that ava's diff is readable). */
export function hexEntries(entries: readonly KeyValueEntry[]): Array<[string, string]> {
  return entries.map(({ key, value }) => [key.toString('hex'), value.toString('hex')]);
}
