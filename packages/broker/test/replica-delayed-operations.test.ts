import test from 'ava';
import { ManualClock } from '@defter/log';
import { DelayedFetch } from '../src/replica/delayed-fetch.js';
import { DelayedOperations } from '../src/replica/delayed-operations.js';
import { ManualTicker } from './helpers/virtual-time.js';

function setup(waitingMax = 100) {
  const clock = new ManualClock(1_000);
  const ticker = new ManualTicker();
  const purgatory = new DelayedOperations<number>({ clock, ticker, tickIntervalMs: 10, waitingMax });
  return { clock, ticker, purgatory };
}

function fetchOp(keys: Array<[string, number]>, deadlineMs: number, minBytes: number, done: string[], name: string, bytesAlreadyRead = 0) {
  return new DelayedFetch(keys.map(([key, bytesMax]) => ({ key, bytesMax })), deadlineMs, minBytes, bytesAlreadyRead, () => done.push(name));
}

test('an operation completes when appends on its partitions bring minBytes', (t) => {
  const { purgatory, ticker } = setup();
  const done: string[] = [];
  t.true(purgatory.watch(fetchOp([['a', 1000], ['b', 1000]], 2_000, 100, done, 'f1')));
  t.true(ticker.running);
  purgatory.notify('a', 60);
  t.deepEqual(done, []);
  purgatory.notify('c', 500); // not watched
  t.deepEqual(done, []);
  purgatory.notify('b', 40);
  t.deepEqual(done, ['f1']);
  t.is(purgatory.size, 0);
  t.false(ticker.running, 'the tick stops when nothing waits');
  purgatory.notify('a', 500);
  t.deepEqual(done, ['f1'], 'completed exactly once');
});

test('bytes count at most partitionMaxBytes per partition, on top of what the first read found', (t) => {
  const { purgatory } = setup();
  const done: string[] = [];
  purgatory.watch(fetchOp([['a', 50], ['b', 1000]], 2_000, 100, done, 'f1', 10));
  purgatory.notify('a', 500); // capped at 50: total 60
  purgatory.notify('a', 500); // still 60
  t.deepEqual(done, []);
  purgatory.notify('b', 29); // 89
  t.deepEqual(done, []);
  purgatory.notify('b', 11); // 100
  t.deepEqual(done, ['f1']);
});

test('the shared tick expires operations whose deadline passed, and only those', (t) => {
  const { clock, ticker, purgatory } = setup();
  const done: string[] = [];
  purgatory.watch(fetchOp([['a', 1000]], 1_100, 1, done, 'early'));
  purgatory.watch(fetchOp([['a', 1000]], 1_500, 1, done, 'late'));
  t.is(ticker.starts, 1, 'one timer for every waiting operation');
  ticker.tick();
  t.deepEqual(done, []);
  clock.set(1_099);
  ticker.tick();
  t.deepEqual(done, [], 'not before the deadline');
  clock.set(1_100);
  ticker.tick();
  t.deepEqual(done, ['early']);
  t.is(purgatory.size, 1);
  clock.set(1_509);
  ticker.tick();
  t.deepEqual(done, ['early', 'late']);
  t.false(ticker.running);
});

test('a full purgatory refuses; close completes everything and refuses later operations', (t) => {
  const { purgatory, ticker } = setup(2);
  const done: string[] = [];
  t.true(purgatory.watch(fetchOp([['a', 1]], 5_000, 10, done, 'f1')));
  t.true(purgatory.watch(fetchOp([['b', 1]], 5_000, 10, done, 'f2')));
  t.false(purgatory.watch(fetchOp([['c', 1]], 5_000, 10, done, 'f3')));
  t.is(purgatory.size, 2);
  purgatory.close();
  t.deepEqual(done.sort(), ['f1', 'f2']);
  t.is(purgatory.size, 0);
  t.false(ticker.running);
  t.false(purgatory.watch(fetchOp([['a', 1]], 5_000, 10, done, 'f4')));
});

test('completeAll answers the operations watching one partition; forceComplete one operation', (t) => {
  const { purgatory } = setup();
  const done: string[] = [];
  const f1 = fetchOp([['a', 100]], 5_000, 10, done, 'f1');
  purgatory.watch(f1);
  purgatory.watch(fetchOp([['a', 100], ['b', 100]], 5_000, 10, done, 'f2'));
  purgatory.watch(fetchOp([['b', 100]], 5_000, 10, done, 'f3'));
  purgatory.completeAll('b');
  t.deepEqual(done, ['f2', 'f3']);
  purgatory.forceComplete(f1);
  purgatory.forceComplete(f1);
  t.deepEqual(done, ['f2', 'f3', 'f1']);
  t.is(purgatory.size, 0);
});
