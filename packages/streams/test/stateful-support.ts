/**
 * Shared by the stateful tests: a seeded input generator, the reference results computed with
 * plain loops, and a counting app definition used in-process and by the crash child.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { Serdes, type StreamsApp } from '../src/index.js';

export interface Purchase {
  readonly user: string;
  readonly category: string;
  readonly amount: number;
}

/** A small deterministic generator (mulberry32): the seed is printed by the tests that use it. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

export function purchases(count: number, seed: number): Purchase[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, () => ({
    user: `u${Math.floor(random() * 12)}`,
    category: `c${Math.floor(random() * 5)}`,
    amount: 1 + Math.floor(random() * 100),
  }));
}

export async function stateDirectory(t: ExecutionContext): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'defter-state-'));
  t.teardown(() => rm(directory, { recursive: true, force: true }));
  return directory;
}

/** Counts records per key of `in` into the store "counts", and writes each update to `counts-out`. */
export function defineCounting(pipeline: StreamsApp): void {
  pipeline
    .stream('in', { key: Serdes.string(), value: Serdes.string() })
    .groupByKey({ key: Serdes.string(), value: Serdes.string() })
    .count({ name: 'counts' })
    .toStream()
    .to('counts-out', { key: Serdes.string(), value: Serdes.float64() });
}

/** Every entry of a store, as a plain object. */
export async function storeContents<V>(pipeline: StreamsApp, name: string): Promise<Record<string, V>> {
  const result: Record<string, V> = {};
  for await (const { key, value } of pipeline.store<string, V>(name).all()) result[key] = value;
  return result;
}

export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const result: Record<string, number> = {};
  for (const item of items) result[key(item)] = (result[key(item)] ?? 0) + 1;
  return result;
}
