/** `pnpm bench:nexmark` end to end with tiny counts: every row runs, every output checks, the table prints. */
import test from 'ava';
import { UsageError, parseArguments, runNexmarkBench } from '../nexmark/bench.js';

test('the bench runs every query and row on a tiny input and prints the table beside Flink', async (t) => {
  t.timeout(120_000);
  const lines: string[] = [];
  const rows = await runNexmarkBench({ ...parseArguments(['--events', '1000', '--seed', '5']) }, (line) => lines.push(line));
  // The stateful queries have the app row only; the other rows say "not measured".
  t.deepEqual(
    rows.map((row) => `${row.query}/${row.row}`),
    [...['q0', 'q1', 'q2'].flatMap((query) => ['ceiling', 'app', 'loop', 'kafkats'].map((row) => `${query}/${row}`)), 'q3/app', 'q5/app', 'q8/app'],
  );
  for (const row of rows) t.true(row.check.ok, `${row.query}/${row.row}: ${row.check.problem}`);
  const table = lines.filter((line) => /^\| q\d/.test(line));
  t.is(table.length, 15);
  t.true(lines.includes('q3/loop: not measured — a stateful query has no per-event function to run'));
  t.true(lines.includes('q8/kafkats: not measured — the query is not written for @kafkats/flow here'));
  t.true(lines.some((line) => line.startsWith('q5 differs from NEXMark: only the first stage')));
  t.regex(table[0]!, /^\| q0 \| ceiling \| .* \| 155,000 \|/);
  t.true(lines.some((line) => line.startsWith('kafka-streams: not run.')));
  t.true(lines.some((line) => line.startsWith('- q11 user sessions: needs session windows over bids re-keyed by bidder') && line.endsWith('(Flink: 39,700 events/s per core)')));
});

test('bad arguments are refused in one sentence', (t) => {
  t.throws(() => parseArguments(['--events', '0']), { instanceOf: UsageError, message: '--events needs a whole number ≥ 1, not 0' });
  t.throws(() => parseArguments(['--queries', 'q9']), { instanceOf: UsageError, message: '--queries takes a comma-separated list of q0, q1, q2, q3, q5, q8; got q9' });
  t.throws(() => parseArguments(['--fast']), { instanceOf: UsageError, message: /^unknown argument --fast/ });
  t.deepEqual(parseArguments(['--quick']).events, 100_000);
});
