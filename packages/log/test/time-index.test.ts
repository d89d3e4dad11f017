import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { TimeIndex } from '../src/time-index.js';
import { tempDir } from './helpers/temp-dir.js';

const BASE = 500n;

interface Entry {
  timestampMs: bigint;
  offset: bigint;
}

/** Oracle: keep a candidate only when its timestamp beats the last kept one. */
function oracleAppend(kept: Entry[], candidate: Entry): void {
  const last = kept[kept.length - 1];
  if (last === undefined || candidate.timestampMs > last.timestampMs) kept.push(candidate);
}

function oracleLookupBefore(kept: Entry[], target: bigint): Entry {
  let found: Entry = { timestampMs: -1n, offset: BASE };
  for (const entry of kept) if (entry.timestampMs < target) found = entry;
  return found;
}

/** Non-decreasing offsets with arbitrary (possibly repeating or falling) timestamps. */
const candidatesArbitrary = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.bigInt({ min: 0n, max: 10_000n })), { maxLength: 200 })
  .map((steps) => {
    let offset = BASE;
    return steps.map(([offsetStep, timestampMs]) => {
      offset += BigInt(offsetStep);
      return { timestampMs, offset };
    });
  });

test('maybeAppend keeps only growing timestamps; lookups and reopen match the oracle', async (t) => {
  const dir = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(candidatesArbitrary, fc.array(fc.bigInt({ min: -5n, max: 11_000n }), { maxLength: 30 }), fc.bigInt({ min: BASE, max: BASE + 6000n }), async (candidates, targets, truncateAt) => {
      const file = path.join(dir, `${run++}.timeindex`);
      const index = await TimeIndex.open(file, BASE, 1024 * 1024);
      const kept: Entry[] = [];
      for (const candidate of candidates) {
        const before = kept.length;
        oracleAppend(kept, candidate);
        t.is(index.maybeAppend(candidate.timestampMs, candidate.offset), kept.length > before);
      }
      t.is(index.entryCount, kept.length);
      for (const target of targets) {
        t.deepEqual(index.lookupBefore(target), oracleLookupBefore(kept, target));
        t.deepEqual(index.lookup(target), oracleLookupBefore(kept, target + 1n));
      }
      await index.close();
      const reopened = await TimeIndex.open(file, BASE, 1024 * 1024);
      t.deepEqual(Array.from({ length: reopened.entryCount }, (_, i) => reopened.entry(i)), kept);
      t.is(reopened.sanityCheck(BASE + 1_000_000n), undefined);
      reopened.truncateTo(truncateAt);
      t.deepEqual(
        Array.from({ length: reopened.entryCount }, (_, i) => reopened.entry(i)),
        kept.filter((entry) => entry.offset < truncateAt),
      );
      await reopened.close();
    }),
    { numRuns: 40 },
  );
});

test('the file holds big-endian (int64 timestamp, int32 relative offset) entries', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'a.timeindex');
  const index = await TimeIndex.open(file, BASE, 1024);
  index.maybeAppend(0x0102030405n, BASE + 7n);
  await index.close();
  t.deepEqual([...(await readFile(file))], [0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0, 7]);
});

test('a full time index refuses entries unless the final entry skips the check', async (t) => {
  const dir = await tempDir(t);
  const index = await TimeIndex.open(path.join(dir, 'b.timeindex'), BASE, 24);
  t.true(index.maybeAppend(10n, BASE));
  t.true(index.maybeAppend(20n, BASE + 1n));
  t.true(index.isFull);
  t.throws(() => index.maybeAppend(30n, BASE + 2n), { instanceOf: RangeError });
  t.true(index.maybeAppend(30n, BASE + 2n, true));
  t.throws(() => index.maybeAppend(40n, BASE + 1n, true), { instanceOf: RangeError });
  t.regex(index.sanityCheck(BASE + 1n) ?? '', /past the last offset/);
  await index.close();
});
