import { stat, writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { OffsetIndex, OFFSET_INDEX_ENTRY_BYTES } from '../src/offset-index.js';
import { tempDir } from './helpers/temp-dir.js';

const BASE = 1_000n;

/** Strictly increasing (relative offset, position) pairs. */
const entriesArbitrary = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 5000 })), { maxLength: 200 })
  .map((steps) => {
    let offset = -1;
    let position = -1;
    return steps.map(([offsetStep, positionStep]) => {
      offset += offsetStep;
      position += positionStep;
      return { offset: BASE + BigInt(offset), position };
    });
  });

/** Oracle: the largest entry with offset <= target in a sorted array, else (base, 0). */
function oracleLookup(entries: Array<{ offset: bigint; position: number }>, target: bigint): { offset: bigint; position: number } {
  let found = { offset: BASE, position: 0 };
  for (const entry of entries) if (entry.offset <= target) found = entry;
  return found;
}

test('lookup, truncate and reopen agree with a sorted-array oracle', async (t) => {
  const dir = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(entriesArbitrary, fc.array(fc.bigInt({ min: 0n, max: BASE + 300_000n }), { maxLength: 30 }), fc.bigInt({ min: BASE, max: BASE + 200_000n }), async (entries, targets, truncateAt) => {
      const file = path.join(dir, `${run++}.index`);
      const index = await OffsetIndex.open(file, BASE, 1024 * 1024);
      for (const entry of entries) index.append(entry.offset, entry.position);
      await index.writePending();
      t.is(index.entryCount, entries.length);
      for (const target of targets) t.deepEqual(index.lookup(target), oracleLookup(entries, target));
      await index.close();
      t.is((await stat(file)).size, entries.length * OFFSET_INDEX_ENTRY_BYTES);

      const reopened = await OffsetIndex.open(file, BASE, 1024 * 1024);
      for (const target of targets) t.deepEqual(reopened.lookup(target), oracleLookup(entries, target));
      const kept = entries.filter((entry) => entry.offset < truncateAt);
      reopened.truncateTo(truncateAt);
      await reopened.close();
      const again = await OffsetIndex.open(file, BASE, 1024 * 1024);
      t.is(again.entryCount, kept.length);
      for (const target of targets) t.deepEqual(again.lookup(target), oracleLookup(kept, target));
      await again.close();
    }),
    { numRuns: 40 },
  );
});

test('the file holds big-endian (relative offset, position) pairs', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'a.index');
  const index = await OffsetIndex.open(file, BASE, 80);
  index.append(BASE + 5n, 4100);
  index.append(BASE + 9n, 8300);
  await index.close();
  t.deepEqual([...(await readFile(file))], [0, 0, 0, 5, 0, 0, 0x10, 0x04, 0, 0, 0, 9, 0, 0, 0x20, 0x6c]);
});

test('the index is full at segment.index.bytes / 8 entries and refuses more', async (t) => {
  const dir = await tempDir(t);
  const index = await OffsetIndex.open(path.join(dir, 'b.index'), BASE, 8 * 3 + 5);
  index.append(BASE + 1n, 10);
  index.append(BASE + 2n, 20);
  t.false(index.isFull);
  index.append(BASE + 3n, 30);
  t.true(index.isFull);
  t.throws(() => index.append(BASE + 4n, 40), { instanceOf: RangeError });
  t.throws(() => index.append(BASE + 3n, 40), { instanceOf: RangeError });
  await index.close();
});

test('entries must increase in both offset and position', async (t) => {
  const dir = await tempDir(t);
  const index = await OffsetIndex.open(path.join(dir, 'c.index'), BASE, 1024);
  index.append(BASE + 10n, 100);
  t.throws(() => index.append(BASE + 10n, 200), { instanceOf: RangeError });
  t.throws(() => index.append(BASE + 11n, 100), { instanceOf: RangeError });
  t.throws(() => index.append(BASE - 1n, 300), { instanceOf: RangeError });
  await index.close();
});

test('sanityCheck reports a torn entry, disorder and positions past the log end', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'd.index');
  const good = Buffer.alloc(16);
  good.writeInt32BE(1, 0);
  good.writeInt32BE(100, 4);
  good.writeInt32BE(2, 8);
  good.writeInt32BE(200, 12);
  await writeFile(file, good);
  let index = await OffsetIndex.open(file, BASE, 1024);
  t.is(index.sanityCheck(201), undefined);
  t.regex(index.sanityCheck(200) ?? '', /past the log end/);
  await index.close();

  await writeFile(file, Buffer.concat([good, Buffer.from([1, 2, 3])]));
  index = await OffsetIndex.open(file, BASE, 1024);
  t.regex(index.sanityCheck(1000) ?? '', /not a multiple of 8/);
  await index.closeQuietly();

  const disordered = Buffer.from(good);
  disordered.writeInt32BE(1, 8);
  await writeFile(file, disordered);
  index = await OffsetIndex.open(file, BASE, 1024);
  t.regex(index.sanityCheck(1000) ?? '', /not after entry/);
  await index.closeQuietly();
});
