import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDefter, startDefter } from './helpers/run-defter.js';

test('an unknown command is refused with the nearest known one suggested', async (t) => {
  const { code, stderr } = await runDefter(['brokr']);
  t.is(code, 2);
  t.regex(stderr, /unknown command 'brokr'\. Did you mean 'broker'\?/);
  const topics = await runDefter(['topics', 'lst']);
  t.is(topics.code, 2);
  t.regex(topics.stderr, /defter topics: unknown command 'lst'\. Did you mean 'list'\?/);
});

test('broker starts on a data directory, refuses a second process on it, and closes cleanly on SIGTERM', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'defter-cli-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const first = startDefter(['broker', '--data-dir', dataDir, '--port', '0', '--log-level', 'warn']);
  const line = await first.stdoutLine(/listening on/);
  t.regex(line, /^defter broker 1 listening on 127\.0\.0\.1:\d+ \(data in .*defter-cli-.*, cluster \S+\); stop with Ctrl-C\.$/);

  const second = await runDefter(['broker', '--data-dir', dataDir, '--port', '0', '--log-level', 'warn']);
  t.is(second.code, 1);
  t.regex(second.stderr, /^defter: .*lock/im);
  t.notRegex(second.stderr, /^\s+at /m); // one sentence, no stack trace

  first.kill('SIGTERM');
  const stopped = await first.exit;
  t.is(stopped.code, 0);
  t.regex(stopped.stdout, /defter broker stopped\./);
});

test('broker reads defter.config.json from the working directory; a flag beats it; a bad key gets a suggestion', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'defter-cli-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'defter.config.json'), JSON.stringify({ 'node.id': 4, 'log.dirs': join(dir, 'from-file'), port: 0 }));
  const running = startDefter(['broker', '--data-dir', join(dir, 'from-flag'), '--log-level', 'warn'], { cwd: dir });
  const line = await running.stdoutLine(/listening on/);
  t.regex(line, /^defter broker 4 listening on .*\(data in .*from-flag,/);
  running.kill('SIGINT');
  t.is((await running.exit).code, 0);

  await writeFile(join(dir, 'defter.config.json'), JSON.stringify({ 'num.partitons': 3 }));
  const bad = await runDefter(['broker'], { cwd: dir });
  t.is(bad.code, 1);
  t.is(bad.stderr.trim(), "defter: unknown setting 'num.partitons' in defter.config.json: did you mean 'num.partitions'?");

  const badEnv = await runDefter(['broker', '--config', join(dir, 'missing.json')], { cwd: dir, env: { DEFTER_NUM_PARTITIONS: 'many' } });
  t.is(badEnv.code, 1);
  t.regex(badEnv.stderr, /^defter: cannot read configuration file .*missing\.json/);
});

test('a bad option value is one sentence with a non-zero exit', async (t) => {
  const result = await runDefter(['broker', '--port', 'high']);
  t.is(result.code, 1);
  t.is(result.stderr.trim(), "defter: option '-p, --port <n>' argument 'high' is invalid. expected an integer in [0, 65535].");
});
