import test from 'ava';
import fc from 'fast-check';
import { patchBaseOffset } from '@defter/protocol';
import { ManualClock } from '../src/clock.js';
import { defaultLogConfig, type LogConfig } from '../src/log-config.js';
import { RecentBatches } from '../src/recent-batches.js';
import { Segment, type FileRange } from '../src/segment.js';
import { makeBatch } from './helpers/batches.js';
import { tempDir } from './helpers/temp-dir.js';

/*
 * Segment.read finds ranges three ways: from the recent-batch cache (active segment, near its
 * end), by index jumps plus a few header reads, or both mixed at the cache's edge. Each is
 * checked against an oracle computed from the list of appended batches.
 */

interface StoredBatch {
  position: number;
  sizeBytes: number;
  baseOffset: bigint;
  lastOffset: bigint;
}

interface Query {
  startOffset: bigint;
  maxBytes: number;
  maxOffset: bigint | undefined;
  minOneBatch: boolean;
}

type Expected = Pick<FileRange, 'position' | 'size' | 'firstOffset' | 'nextOffset'> | undefined;

/** What a read must return, straight from the definition. */
function oracle(batches: readonly StoredBatch[], query: Query): Expected {
  const first = batches.findIndex((batch) => batch.lastOffset >= query.startOffset);
  if (first < 0) return undefined;
  let total = 0;
  let last = -1;
  for (let i = first; i < batches.length; i++) {
    const batch = batches[i]!;
    if (query.maxOffset !== undefined && batch.lastOffset >= query.maxOffset) break;
    if (total + batch.sizeBytes > query.maxBytes && !(i === first && query.minOneBatch)) break;
    total += batch.sizeBytes;
    last = i;
    if (total > query.maxBytes) break;
  }
  if (last < 0) return undefined;
  return { position: batches[first]!.position, size: total, firstOffset: batches[first]!.baseOffset, nextOffset: batches[last]!.lastOffset + 1n };
}

function simplify(range: FileRange | undefined): Expected {
  return range === undefined ? undefined : { position: range.position, size: range.size, firstOffset: range.firstOffset, nextOffset: range.nextOffset };
}

const layoutArbitrary = fc.record({
  baseOffset: fc.constantFrom(0n, 1000n, 4_294_967_290n, 9_007_199_254_740_000n),
  batches: fc.array(fc.record({ records: fc.integer({ min: 1, max: 4 }), valueBytes: fc.integer({ min: 0, max: 400 }), gap: fc.constantFrom(0, 0, 0, 1, 7) }), {
    minLength: 1,
    maxLength: 40,
  }),
  indexIntervalBytes: fc.constantFrom(0, 100, 700, 4096),
  recentBatchesMax: fc.constantFrom(0, 1, 3, 4096),
});

const queryArbitrary = fc.record({
  startPick: fc.integer({ min: -2, max: 200 }),
  maxBytes: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 20_000 })),
  maxOffsetPick: fc.option(fc.integer({ min: -2, max: 200 }), { nil: undefined }),
  minOneBatch: fc.boolean(),
});

test('reads equal the oracle: from the recent-batch cache, through the index, and after reopening', async (t) => {
  const dir = await tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(layoutArbitrary, fc.array(queryArbitrary, { minLength: 1, maxLength: 25 }), async (layout, queries) => {
      const config: LogConfig = { ...defaultLogConfig, indexIntervalBytes: layout.indexIntervalBytes };
      const clock = new ManualClock(0);
      const suffix = `.run${run++}`;
      const segment = await Segment.create(dir, layout.baseOffset, { config, clock, fileSuffix: suffix, recentBatchesMax: layout.recentBatchesMax });
      const stored: StoredBatch[] = [];
      let offset = layout.baseOffset;
      let position = 0;
      for (const [i, shape] of layout.batches.entries()) {
        offset += BigInt(shape.gap);
        const batch = makeBatch({ values: Array.from({ length: shape.records }, (_, r) => `${i}-${r}-${'v'.repeat(shape.valueBytes)}`) });
        patchBaseOffset(batch, offset);
        await segment.append(batch);
        stored.push({ position, sizeBytes: batch.length, baseOffset: offset, lastOffset: offset + BigInt(shape.records - 1) });
        position += batch.length;
        offset += BigInt(shape.records);
      }
      const span = Number(offset - layout.baseOffset);
      const resolved = queries.map((q) => ({
        startOffset: layout.baseOffset + BigInt(Math.round((q.startPick / 200) * (span + 2))),
        maxBytes: q.maxBytes,
        maxOffset: q.maxOffsetPick === undefined ? undefined : layout.baseOffset + BigInt(Math.round((q.maxOffsetPick / 200) * (span + 2))),
        minOneBatch: q.minOneBatch,
      }));
      try {
        for (const query of resolved) {
          const options = query.maxOffset === undefined ? { minOneBatch: query.minOneBatch } : { maxOffset: query.maxOffset, minOneBatch: query.minOneBatch };
          t.deepEqual(simplify(await segment.read(query.startOffset, query.maxBytes, options)), oracle(stored, query), `active, ${JSON.stringify(query, bigintJson)}`);
        }
      } finally {
        await segment.close();
      }
      // Reopened: no cache, the index comes from its file.
      const reopened = await Segment.open(dir, layout.baseOffset, { config, clock, fileSuffix: suffix });
      try {
        t.is(await reopened.loadState(), undefined);
        for (const query of resolved) {
          const options = query.maxOffset === undefined ? { minOneBatch: query.minOneBatch } : { maxOffset: query.maxOffset, minOneBatch: query.minOneBatch };
          t.deepEqual(simplify(await reopened.read(query.startOffset, query.maxBytes, options)), oracle(stored, query), `reopened, ${JSON.stringify(query, bigintJson)}`);
        }
      } finally {
        await reopened.delete();
      }
    }),
    { numRuns: 60 },
  );
});

test('a tail read of the active segment is answered from memory: no header is read from the file', async (t) => {
  const dir = await tempDir(t);
  const config: LogConfig = { ...defaultLogConfig, indexIntervalBytes: 4096 };
  const segment = await Segment.create(dir, 0n, { config, clock: new ManualClock(0) });
  const sizes: number[] = [];
  for (let i = 0; i < 50; i++) {
    const batch = makeBatch({ values: [`record-${i}`] });
    patchBaseOffset(batch, BigInt(i));
    await segment.append(batch);
    sizes.push(batch.length);
  }
  // Reads that would scan headers fail loudly if they touch the file.
  const file = segment.logFile;
  const originalRead = file.read.bind(file);
  let fileReads = 0;
  file.read = ((...args: Parameters<typeof file.read>) => {
    fileReads++;
    return originalRead(...args);
  }) as typeof file.read;
  const range = await segment.read(45n, 1 << 20, { minOneBatch: true });
  t.is(fileReads, 0);
  t.is(range?.firstOffset, 45n);
  t.is(range?.nextOffset, 50n);
  t.is(range?.position, sizes.slice(0, 45).reduce((a, b) => a + b, 0));
  t.is(range?.size, sizes.slice(45).reduce((a, b) => a + b, 0));
  t.is(await segment.read(50n, 1 << 20, { minOneBatch: true }), undefined);
  await segment.close();
});

test('RecentBatches keeps the last batches only, and refuses a batch that does not follow', (t) => {
  const recent = new RecentBatches(3);
  // Batches of 10 bytes at offsets [0,1], [2,2], [3,5], [6,6], [10,12] (a gap before 10).
  const layout: Array<[number, number]> = [
    [0, 1],
    [2, 2],
    [3, 5],
    [6, 6],
    [10, 12],
  ];
  layout.forEach(([base, last], i) => recent.push(i * 10, 10, base, last));
  t.is(recent.size, 3);
  t.is(recent.find(0, 100, Infinity, true), undefined, 'older than the ring: the caller reads the file');
  t.deepEqual(recent.find(4, 100, Infinity, true), { position: 20, sizeBytes: 30, firstBaseDelta: 3, lastDelta: 12 });
  t.deepEqual(recent.find(7, 100, Infinity, true), { position: 40, sizeBytes: 10, firstBaseDelta: 10, lastDelta: 12 }, 'offset in a gap');
  t.deepEqual(recent.find(3, 15, Infinity, true), { position: 20, sizeBytes: 10, firstBaseDelta: 3, lastDelta: 5 });
  t.deepEqual(recent.find(3, 5, Infinity, true), { position: 20, sizeBytes: 10, firstBaseDelta: 3, lastDelta: 5 }, 'first batch whole');
  t.is(recent.find(3, 5, Infinity, false), null);
  t.deepEqual(recent.find(3, 100, 10, true), { position: 20, sizeBytes: 20, firstBaseDelta: 3, lastDelta: 6 }, 'stops below maxOffset');
  t.is(recent.find(13, 100, Infinity, true), null, 'past the end');
  t.throws(() => recent.push(60, 10, 13, 13), { instanceOf: RangeError });
  recent.clear();
  t.is(recent.find(13, 100, Infinity, true), undefined);
  const disabled = new RecentBatches(0);
  disabled.push(0, 10, 0, 0);
  t.is(disabled.size, 0);
});

function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
