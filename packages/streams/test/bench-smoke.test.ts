/**
 * Keeps `pnpm bench:streams` from rotting: the bench runs from source with a tiny input and must
 * print its rows (the embedded log, the network, the kafkajs loop, and exactly_once on both logs)
 * and the targets, with every output record accounted for. Timings are not asserted: the machine
 * is shared.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const BENCH = fileURLToPath(new URL('../bench/main.ts', import.meta.url));

async function runBench(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=defter-source', BENCH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() };
}

/** The cells of the table rows the bench printed. */
function tableRows(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| row |'))
    .map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));
}

test('the bench runs with 2,000 records and prints the embedded, network and kafkajs rows, the exactly_once rows and the targets', async (t) => {
  t.timeout(180_000);
  const { code, stdout, stderr } = await runBench(['--records', '2000']);
  t.is(code, 0, stderr);
  t.regex(stdout, /over 2,000 records .* → 1,800 outputs/);
  const rows = tableRows(stdout);
  t.deepEqual(
    rows.map((cells) => cells.slice(0, 4)),
    [
    ['embedded', 'streams app', 'embedded (in-process broker, no sockets)', 'at_least_once'],
    ['network', 'streams app', 'broker process on loopback (kafkajs underneath)', 'at_least_once'],
    ['kafkajs', 'kafkajs loop (baseline)', 'broker process on loopback', 'idempotent, commit after send'],
    ['embedded-eos', 'streams app', 'embedded (in-process broker, no sockets)', 'exactly_once'],
    ['network-eos', 'streams app', 'broker process on loopback (kafkajs underneath)', 'exactly_once'],
    ],
  );
  for (const cells of rows) {
    // seconds, records/s, ratio, bench CPU, broker CPU (a share, or in-process), CPU per record.
    t.regex(cells[4]!, /^\d+\.\d\d$/);
    t.regex(cells[5]!, /^[1-9][\d,]*$/);
    t.regex(cells[6]!, /^\d+\.\d\d×$/);
    t.regex(cells[7]!, /^\d+%$/);
    t.regex(cells[8]!, cells[0]!.startsWith('embedded') ? /^in the bench process$/ : /^\d+%$/);
    t.regex(cells[9]!, /^\d+\.\d$/);
  }
  t.is(rows.find((cells) => cells[0] === 'kafkajs')![6], '1.00×');
  t.regex(stdout, /^Targets: embedded ÷ kafkajs loop \d+\.\d\d \(≥ 2\.0: (met|MISSED)\); network ÷ kafkajs loop \d+\.\d\d \(≥ 1\.0: (met|MISSED)\)\.$/m);
  t.regex(stdout, /^CPU per record, the kafkajs loop's ÷ the row's .*: embedded \d+\.\d\d×, network \d+\.\d\d×\.$/m);
  // Every row's output held exactly the expected records.
  t.notRegex(stdout, /^Note:/m);
});

test('the bench refuses a bad record count with one clear sentence', async (t) => {
  const { code, stdout, stderr } = await runBench(['--records', 'many']);
  t.is(code, 2);
  t.is(stdout, '');
  t.is(stderr.trim(), '--records needs a whole number of records above 0, not many');
});
