/**
 * The hot-partitions demo end to end, on a broker in this process: the seeded input gives exact
 * per-partition counts for both keyings, and salting cures the skew.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runHotPartitionsDemo } from '../src/demo.js';
import { saltedKey } from '../src/pipeline.js';

async function temporaryDirectory(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'defter-hot-partitions-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  return dataDir;
}

test('keyed by movie, one partition takes the blockbuster; salted, the views spread', async (t) => {
  const lines: string[] = [];
  const result = await runHotPartitionsDemo({ dataDir: await temporaryDirectory(t), print: (line) => lines.push(line) });
  t.is(result.viewsCount, 10_000);
  t.is(result.blockbusterViews, 4_988);
  t.deepEqual(result.byMovie.counts, [307, 5354, 892, 505, 605, 1540, 426, 371]);
  t.deepEqual(result.salted.counts, [1513, 1303, 1361, 759, 1233, 1551, 1335, 945]);
  t.is(result.byMovie.skew.toFixed(2), '4.28');
  t.is(result.salted.skew.toFixed(2), '1.24');
  t.true(result.byMovie.skew >= 3 * result.salted.skew, 'salting cuts the skew at least threefold');
  t.deepEqual(lines, [
    '10000 views; the blockbuster m001 has 4988 of them (49.9%).',
    '',
    'partition  views-by-movie    views-salted',
    '        0             307            1513',
    '        1            5354            1303',
    '        2             892            1361',
    '        3             505             759',
    '        4             605            1233',
    '        5            1540            1551',
    '        6             426            1335',
    '        7             371             945',
    ' max/mean            4.28            1.24',
  ]);
});

test('a salted key keeps one user\'s views of a movie on one key', (t) => {
  const view = { movieId: 'm001', userId: 'u0042', at: 0 };
  t.is(saltedKey(view, 32), saltedKey({ ...view, at: 1 }, 32));
  t.regex(saltedKey(view, 32), /^m001#([0-9]|[12][0-9]|3[01])$/);
  t.is(saltedKey(view, 1), 'm001#0');
});

test('the demo refuses a data directory that holds something', async (t) => {
  const dataDir = await temporaryDirectory(t);
  await writeFile(join(dataDir, 'leftover'), 'x');
  await t.throwsAsync(runHotPartitionsDemo({ dataDir }), { message: `the demo needs an empty data directory, and ${dataDir} is not (delete it to start over)` });
});
