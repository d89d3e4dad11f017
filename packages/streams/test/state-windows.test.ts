/**
 * Window and session stores against brute force: random windows/sessions written through the
 * cache (some flushed to the store, some still dirty), then fetch / fetchAll / findSessions
 * compared with plain loops over the written list; retention drops; and the key layouts.
 */
import test from 'ava';
import fc from 'fast-check';
import { MemoryBudget, SessionStore, Serdes, WindowStore, WriteBackCache, type KeyValueBytesStore } from '../src/index.js';
import { decodeWindowKey, encodeWindowKey } from '../src/state/window-key-layout.js';
import { decodeSessionKey, encodeSessionKey } from '../src/state/session-key-layout.js';
import { collect, openStore, STORE_KINDS } from './state-support.js';

const MIB = 1024 * 1024;

function windowStore(store: KeyValueBytesStore, retentionMs: number, segmentIntervalMs: number): { windows: WindowStore<string, number>; cache: WriteBackCache } {
  const cache = new WriteBackCache({ store, budget: new MemoryBudget({ totalBytes: 8 * MIB }) });
  const windows = new WindowStore({ cache, keySerde: Serdes.string(), valueSerde: Serdes.int32(), changelogTopic: 'app-windows-changelog', retentionMs, segmentIntervalMs });
  return { windows, cache };
}

test('window keys: one key windows are contiguous and time-ordered inside a segment, negative times included', (t) => {
  const keys = [
    encodeWindowKey(0, Buffer.from('ab'), 5),
    encodeWindowKey(0, Buffer.from('a'), 7),
    encodeWindowKey(0, Buffer.from('a'), -3),
    encodeWindowKey(-1, Buffer.from('zz'), -100),
    encodeWindowKey(0, Buffer.from('a'), 2 ** 40),
  ].sort(Buffer.compare);
  t.deepEqual(
    keys.map((key) => {
      const decoded = decodeWindowKey(key)!;
      return `${decoded.segmentId}/${decoded.key}/${decoded.windowStartMs}`;
    }),
    ['-1/zz/-100', '0/a/-3', '0/a/7', `0/a/${2 ** 40}`, '0/ab/5'],
  );
  t.is(decodeWindowKey(Buffer.alloc(5)), undefined);
  const session = decodeSessionKey(encodeSessionKey(Buffer.from('k'), 20, -4))!;
  t.deepEqual([session.key.toString(), session.startMs, session.endMs], ['k', -4, 20]);
});

for (const kind of STORE_KINDS) {
  test(`${kind}: window fetch and fetchAll match brute force over random windows, flushed and dirty`, async (t) => {
    const written = fc.array(fc.record({ key: fc.constantFrom('a', 'ab', 'b', ''), start: fc.integer({ min: -50, max: 400 }), value: fc.integer(), flushAfter: fc.boolean() }), { maxLength: 40 });
    const query = fc.record({ key: fc.constantFrom('a', 'ab', 'b', '', 'zz'), from: fc.integer({ min: -60, max: 420 }), span: fc.integer({ min: 0, max: 300 }) });
    await fc.assert(
      fc.asyncProperty(written, fc.array(query, { minLength: 1, maxLength: 5 }), async (writes, queries) => {
        const store = await openStore(t, kind);
        const { windows, cache } = windowStore(store, 10_000, 37);
        const expected = new Map<string, { key: string; start: number; value: number }>();
        for (const { key, start, value, flushAfter } of writes) {
          windows.put(key, start, value);
          expected.set(`${key}@${start}`, { key, start, value });
          if (flushAfter) await cache.flush();
        }
        for (const { key, from, span } of queries) {
          const to = from + span;
          const fetched = (await windows.fetch(key, from, to)).map(({ windowStartMs, value }) => [windowStartMs, value]);
          const brute = [...expected.values()].filter((w) => w.key === key && w.start >= from && w.start <= to).sort((x, y) => x.start - y.start).map((w) => [w.start, w.value]);
          if (JSON.stringify(fetched) !== JSON.stringify(brute)) throw new Error(`fetch(${key}, ${from}, ${to}) = ${JSON.stringify(fetched)}, expected ${JSON.stringify(brute)}`);
          const all = (await collect(windows.fetchAll(from, to))).map((w) => `${w.key}@${w.windowStartMs}=${w.value}`).sort();
          const bruteAll = [...expected.values()].filter((w) => w.start >= from && w.start <= to).map((w) => `${w.key}@${w.start}=${w.value}`).sort();
          if (JSON.stringify(all) !== JSON.stringify(bruteAll)) throw new Error(`fetchAll(${from}, ${to}) = ${JSON.stringify(all)}, expected ${JSON.stringify(bruteAll)}`);
        }
        cache.close();
        await store.close();
      }),
      { numRuns: kind === 'rocksdb' ? 20 : 150 },
    );
    t.pass();
  });

  test(`${kind}: window retention hides and refuses expired windows and drops whole expired segments from the store`, async (t) => {
    const store = await openStore(t, kind);
    const { windows, cache } = windowStore(store, 100, 50);
    for (const start of [0, 40, 60, 120, 190]) windows.put('k', start, start);
    await cache.flush();
    windows.put('k', 10, 10); // dirty, in segment 0
    // Stream time 215: cutoff 115; segments 0 ([0, 50)) and 1 ([50, 100)) end before it, segment 2 ([100, 150)) does not.
    const deleted = await windows.dropExpired(215);
    t.is(deleted, 3, 'windows 0, 40 and 60 left the store (10 was only in the cache)');
    t.deepEqual((await collect(store.range())).map(({ key }) => decodeWindowKey(key)!.windowStartMs), [120, 190]);
    t.deepEqual((await windows.fetch('k', 0, 1_000)).map(({ windowStartMs }) => windowStartMs), [120, 190]);
    t.deepEqual(await cache.flush(), [], 'the dropped dirty window is not flushed');
    t.false(windows.put('k', 114, 1), 'a window before the cutoff is refused');
    t.true(windows.put('k', 115, 1));
    await windows.preload([{ key: 'k', windowStartMs: 120 }]);
    t.is(windows.get('k', 120), 120);
    t.is(windows.get('k', 100), null, 'expired: null without a preload');
    await windows.dropExpired(260); // cutoff 160: segment 2 goes, and with it 115 and 120
    t.deepEqual((await windows.fetch('k', 0, 1_000)).map(({ windowStartMs }) => windowStartMs), [190]);
  });

  test(`${kind}: findSessions matches brute force over random sessions`, async (t) => {
    const session = fc.record({ key: fc.constantFrom('u1', 'u2', 'u'), start: fc.integer({ min: -20, max: 200 }), length: fc.integer({ min: 0, max: 40 }), value: fc.integer(), flushAfter: fc.boolean() });
    const query = fc.record({ key: fc.constantFrom('u1', 'u2', 'u', 'x'), earliestEnd: fc.integer({ min: -30, max: 250 }), latestStart: fc.integer({ min: -30, max: 250 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(session, { maxLength: 30 }), fc.array(query, { minLength: 1, maxLength: 5 }), async (writes, queries) => {
        const store = await openStore(t, kind);
        const cache = new WriteBackCache({ store, budget: new MemoryBudget({ totalBytes: 8 * MIB }) });
        const sessions = new SessionStore({ cache, keySerde: Serdes.string(), valueSerde: Serdes.int32(), changelogTopic: 'app-sessions-changelog', retentionMs: 10_000 });
        const expected = new Map<string, { key: string; start: number; end: number; value: number }>();
        for (const { key, start, length, value, flushAfter } of writes) {
          sessions.put({ key, startMs: start, endMs: start + length }, value);
          expected.set(`${key}@${start}-${start + length}`, { key, start, end: start + length, value });
          if (flushAfter) await cache.flush();
        }
        for (const { key, earliestEnd, latestStart } of queries) {
          const found = (await sessions.findSessions(key, earliestEnd, latestStart)).map((s) => `${s.startMs}-${s.endMs}=${s.value}`);
          const brute = [...expected.values()]
            .filter((s) => s.key === key && s.end >= earliestEnd && s.start <= latestStart)
            .sort((x, y) => x.end - y.end || x.start - y.start)
            .map((s) => `${s.start}-${s.end}=${s.value}`);
          if (JSON.stringify(found) !== JSON.stringify(brute)) throw new Error(`findSessions(${key}, ${earliestEnd}, ${latestStart}) = ${JSON.stringify(found)}, expected ${JSON.stringify(brute)}`);
        }
        cache.close();
        await store.close();
      }),
      { numRuns: kind === 'rocksdb' ? 20 : 150 },
    );
    t.pass();
  });

  test(`${kind}: sessions merge, are removed, and expire by end time`, async (t) => {
    const store = await openStore(t, kind);
    const cache = new WriteBackCache({ store, budget: new MemoryBudget({ totalBytes: 8 * MIB }) });
    const sessions = new SessionStore({ cache, keySerde: Serdes.string(), valueSerde: Serdes.int32(), changelogTopic: 'app-sessions-changelog', retentionMs: 100 });
    sessions.put({ key: 'u', startMs: 0, endMs: 10 }, 2);
    sessions.put({ key: 'u', startMs: 30, endMs: 35 }, 1);
    sessions.put({ key: 'u', startMs: 300, endMs: 320 }, 4);
    await cache.flush();
    // A record at 20 with a gap of 10 merges the sessions ending at or after 10 and starting at or before 30.
    const merging = await sessions.findSessions('u', 10, 30);
    t.deepEqual(merging.map((s) => [s.startMs, s.endMs, s.value]), [[0, 10, 2], [30, 35, 1]]);
    for (const s of merging) sessions.remove(s);
    sessions.put({ key: 'u', startMs: 0, endMs: 35 }, 4);
    t.deepEqual((await sessions.fetchSessions('u')).map((s) => [s.startMs, s.endMs, s.value]), [[0, 35, 4], [300, 320, 4]]);
    await cache.flush();
    t.is(await sessions.dropExpired(200), 1, 'the session ending at 35 < 200 − 100 is dropped');
    t.deepEqual((await sessions.fetchSessions('u')).map((s) => [s.startMs, s.endMs]), [[300, 320]]);
    t.false(sessions.put({ key: 'u', startMs: 50, endMs: 99 }, 1));
    t.throws(() => sessions.put({ key: 'u', startMs: 5, endMs: 4 }, 1), { message: 'session store "test-store": a session needs safe integer times with start <= end, got [5, 4].' });
  });
}
