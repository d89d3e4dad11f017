/**
 * Table–table joins (inner, left, outer) against plain loops: random updates and deletes of both
 * tables, written to two topics in random order (the join's final state does not depend on how
 * the two topics' batches interleave); the joined stores hold exactly the reference rows, and the
 * last change emitted per key is the final row (a delete when the row went away).
 */
import test from 'ava';
import { app, Serdes } from '../src/index.js';
import { closeAtEnd, produce, readAll, startCluster, waitForIdle } from './runtime-support.js';
import { seededRandom, stateDirectory, storeContents } from './stateful-support.js';
import { joinText } from './joins-support.js';

const KINDS = ['inner', 'left', 'outer'] as const;

function reference(kind: (typeof KINDS)[number], left: ReadonlyMap<string, string>, right: ReadonlyMap<string, string>): Record<string, string> {
  const rows: Record<string, string> = {};
  for (const key of new Set([...left.keys(), ...right.keys()])) {
    const l = left.get(key) ?? null;
    const r = right.get(key) ?? null;
    if (kind === 'inner' && (l === null || r === null)) continue;
    if (kind === 'left' && l === null) continue;
    rows[key] = joinText(l, r);
  }
  return rows;
}

test('embedded log: table–table inner/left/outer joins end in the reference rows, deletes emitted when a row goes away', async (t) => {
  const seed = Date.now() % 100_000;
  t.log(`seed ${seed}`);
  const random = seededRandom(seed);
  const cluster = await startCluster(t);
  await cluster.createTopic('left-table', 2);
  await cluster.createTopic('right-table', 2);
  for (const kind of KINDS) await cluster.createTopic(`${kind}-rows`, 1);
  const leftFinal = new Map<string, string>();
  const rightFinal = new Map<string, string>();
  const updates = Array.from({ length: 300 }, (_, index) => {
    const side = random() < 0.5 ? 'left' : 'right';
    const key = `k${Math.floor(random() * 15)}`;
    const value = random() < 0.25 ? null : `${side[0]}${index}`;
    const final = side === 'left' ? leftFinal : rightFinal;
    if (value === null) final.delete(key);
    else final.set(key, value);
    return { side, key, value };
  });

  const pipeline = closeAtEnd(t, app({ applicationId: 'table-joins', log: { broker: cluster.broker }, stateDir: await stateDirectory(t), commitIntervalMs: 200 }));
  const leftTable = pipeline.table('left-table', { key: Serdes.string(), value: Serdes.string() });
  const rightTable = pipeline.table('right-table', { key: Serdes.string(), value: Serdes.string() });
  const rows = { key: Serdes.string(), value: Serdes.string() };
  leftTable.join(rightTable, (l, r) => joinText(l, r), { name: 'inner-join', value: Serdes.string() }).toStream().to('inner-rows', rows);
  leftTable.leftJoin(rightTable, (l, r) => joinText(l, r), { name: 'left-join', value: Serdes.string() }).toStream().to('left-rows', rows);
  leftTable.outerJoin(rightTable, (l, r) => joinText(l, r), { name: 'outer-join', value: Serdes.string() }).toStream().to('outer-rows', rows);
  await pipeline.start();
  // Written in chunks, alternating topics as the updates come: batches of the two topics interleave.
  for (let index = 0; index < updates.length; index += 20) {
    const chunk = updates.slice(index, index + 20);
    await produce(cluster, 'left-table', chunk.filter((update) => update.side === 'left'), 7);
    await produce(cluster, 'right-table', chunk.filter((update) => update.side === 'right'), 7);
  }
  t.true(await waitForIdle(pipeline, updates.length, 60_000));

  for (const kind of KINDS) {
    const expected = reference(kind, leftFinal, rightFinal);
    t.deepEqual(await storeContents(pipeline, `${kind}-join`), expected, `${kind} join store, seed ${seed}`);
    const changes = await readAll(cluster, [`${kind}-rows`], 1, { settleMs: 1_000 });
    const last = new Map<string, string | null>();
    for (const change of changes) last.set(change.key!, change.value);
    for (const [key, value] of last) t.is(value, expected[key] ?? null, `${kind} join, last change of ${key}, seed ${seed}`);
    for (const key of Object.keys(expected)) t.true(last.has(key), `${kind} join emitted ${key}`);
    // A delete is emitted only for a row that existed: no key starts with a delete.
    const first = new Map<string, string | null>();
    for (const change of changes) if (!first.has(change.key!)) first.set(change.key!, change.value);
    t.false([...first.values()].includes(null), `${kind} join: no delete of a row that never was`);
  }
  t.true(Object.keys(reference('outer', leftFinal, rightFinal)).length > Object.keys(reference('inner', leftFinal, rightFinal)).length);
});

test('a table–table join needs materialised tables and a store for its rows', (t) => {
  const pipeline = app({ applicationId: 'bad-table-join', log: { brokers: ['localhost:1'] }, shutdownOnSignals: false });
  const a = pipeline.table('a', { key: Serdes.string(), value: Serdes.string() });
  const b = pipeline.table('b', { key: Serdes.string(), value: Serdes.string() });
  t.throws(() => a.join(b.filter(() => true), (x, y) => x + y, { name: 'ab', value: Serdes.string() }), { message: /needs a materialised table/ });
  t.throws(() => a.join(b, (x, y) => x + y, { name: 'a-table', value: Serdes.string() }), { message: /a store named "a-table" exists already/ });
});
