import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UNLIMITED } from '@defter/log';
import { ConfigError, brokerSettingNames, envVariableFor, loadBrokerConfig } from '../src/config-loader.js';
import { defaultBrokerConfig } from '../src/config.js';

async function tempDir(t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'defter-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const noEnv = {};

test('with no file, environment or flags the defaults come back unchanged', async (t) => {
  const dir = await tempDir(t);
  const config = await loadBrokerConfig({ searchDir: dir, env: noEnv });
  t.deepEqual(config, { ...defaultBrokerConfig, log: { ...defaultBrokerConfig.log } });
});

test('precedence: file < environment < flags, setting by setting', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'defter.config.json');
  await writeFile(file, JSON.stringify({ 'num.partitions': 3, 'log.retention.ms': 1000, 'node.id': 7, 'auto.create.topics.enable': true }));
  const config = await loadBrokerConfig({
    file,
    env: { DEFTER_NUM_PARTITIONS: '5', DEFTER_LOG_RETENTION_MS: '2000', PATH: '/usr/bin' },
    flags: { 'num.partitions': 9, port: undefined },
  });
  t.is(config.numPartitions, 9); // flag beats env and file
  t.is(config.log.retentionMs, 2000); // env beats file
  t.is(config.nodeId, 7); // file beats the default
  t.true(config.autoCreateTopicsEnable);
  t.is(config.port, defaultBrokerConfig.port); // an undefined flag is no flag
});

test('defter.config.json in the search directory is found without naming it', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'defter.config.json'), JSON.stringify({ 'log.segment.bytes': '1048576' }));
  const config = await loadBrokerConfig({ searchDir: dir, env: noEnv });
  t.is(config.log.segmentBytes, 1_048_576);
  const none = await loadBrokerConfig({ searchDir: dir, file: null, env: noEnv });
  t.is(none.log.segmentBytes, defaultBrokerConfig.log.segmentBytes);
});

test('a defter.config.ts file is compiled and its default export read', async (t) => {
  const dir = await tempDir(t);
  await writeFile(
    join(dir, 'defter.config.ts'),
    [
      "interface Settings { readonly [key: string]: string | number | boolean }",
      'const hours: number = 2;',
      "const settings: Settings = { 'log.retention.hours': hours, 'log.cleanup.policy': 'compact,delete', listeners: 'PLAINTEXT://0.0.0.0:19092' };",
      'export default settings;',
    ].join('\n'),
  );
  const config = await loadBrokerConfig({ searchDir: dir, env: noEnv });
  t.is(config.log.retentionMs, 2 * 3_600_000);
  t.deepEqual(config.log.cleanupPolicy, ['compact', 'delete']);
  t.is(config.host, '0.0.0.0');
  t.is(config.port, 19092);
});

test('a .ts file without a default export is refused in one sentence', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'broker.ts');
  await writeFile(file, 'export const settings = { port: 1 };\n');
  const error = await t.throwsAsync(loadBrokerConfig({ file, env: noEnv }), { instanceOf: ConfigError });
  t.regex(error!.message, /has no default export/);
});

test.serial('an unknown key in the file is refused naming it and the nearest valid one', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'defter.config.json'), JSON.stringify({ 'log.retention.msec': 1000 }));
  const previous = process.cwd();
  process.chdir(dir);
  t.teardown(() => process.chdir(previous));
  const error = await t.throwsAsync(loadBrokerConfig({ env: noEnv }), { instanceOf: ConfigError });
  t.is(error!.message, "unknown setting 'log.retention.msec' in defter.config.json: did you mean 'log.retention.ms'?");
  t.is(error!.key, 'log.retention.msec');
});

test('an unknown flag and an unknown DEFTER_ variable get suggestions too; other variables are ignored', async (t) => {
  const flagError = await t.throwsAsync(loadBrokerConfig({ file: null, env: noEnv, flags: { 'num.partition': 2 } }), { instanceOf: ConfigError });
  t.is(flagError!.message, "unknown setting 'num.partition' on the command line: did you mean 'num.partitions'?");
  const envError = await t.throwsAsync(loadBrokerConfig({ file: null, env: { DEFTER_LOG_RETENTON_MS: '1' } }), { instanceOf: ConfigError });
  t.is(envError!.message, 'unknown setting in environment variable DEFTER_LOG_RETENTON_MS: did you mean DEFTER_LOG_RETENTION_MS?');
  const config = await loadBrokerConfig({ file: null, env: { DEFTER_BOOTSTRAP_SERVER: 'h:1', HOME: '/root' } });
  t.is(config.numPartitions, defaultBrokerConfig.numPartitions);
});

test('bad values name the key, the source and what was expected', async (t) => {
  const cases: Array<[Record<string, string | number | boolean>, string]> = [
    [{ 'num.partitions': 0 }, "invalid value 0 for 'num.partitions' on the command line: expected an integer in [1, 2147483647]."],
    [{ 'num.partitions': 'three' }, `invalid value "three" for 'num.partitions' on the command line: expected an integer.`],
    [{ port: 70000 }, "invalid value 70000 for 'port' on the command line: expected an integer in [0, 65535]."],
    [{ 'auto.create.topics.enable': 'yes' }, `invalid value "yes" for 'auto.create.topics.enable' on the command line: expected true or false.`],
    [{ 'log.cleanup.policy': 'shred' }, `invalid value "shred" for 'log.cleanup.policy' on the command line: unknown policy "shred" (expected delete or compact).`],
    [{ 'log.segment.bytes': 2 }, "invalid value 2 for 'log.segment.bytes' on the command line: must be in [14, 2147483647]."],
    [{ listeners: 'SSL://h:9093' }, `invalid value "SSL://h:9093" for 'listeners' on the command line: security protocol SSL is not supported (only PLAINTEXT).`],
    [{ 'log.dirs': '/a,/b' }, `invalid value "/a,/b" for 'log.dirs' on the command line: defter stores its data in one directory; give exactly one.`],
    [{ 'num.partitions': 1.5 }, "invalid value 1.5 for 'num.partitions' on the command line: expected an integer."],
  ];
  for (const [flags, message] of cases) {
    const error = await t.throwsAsync(loadBrokerConfig({ file: null, env: noEnv, flags }), { instanceOf: ConfigError });
    t.is(error!.message, message);
  }
  const envError = await t.throwsAsync(loadBrokerConfig({ file: null, env: { DEFTER_FETCH_MAX_BYTES: '10' } }), { instanceOf: ConfigError });
  t.is(envError!.message, `invalid value "10" for 'fetch.max.bytes' in environment variable DEFTER_FETCH_MAX_BYTES: expected an integer in [1024, 2147483647].`);
});

test('a file that is not JSON, not an object, or holds a nested value is refused', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'c.json');
  await writeFile(file, '{ "port": ');
  t.regex((await t.throwsAsync(loadBrokerConfig({ file, env: noEnv }), { instanceOf: ConfigError }))!.message, /is not valid JSON/);
  await writeFile(file, '[1]');
  t.regex((await t.throwsAsync(loadBrokerConfig({ file, env: noEnv }), { instanceOf: ConfigError }))!.message, /must hold one object of settings/);
  await writeFile(file, '{ "log": { "retention": 1 } }');
  t.regex(
    (await t.throwsAsync(loadBrokerConfig({ file, env: noEnv }), { instanceOf: ConfigError }))!.message,
    /setting 'log' in .* must be a string, number or boolean, not object\./,
  );
  const missing = await t.throwsAsync(loadBrokerConfig({ file: join(dir, 'absent.json'), env: noEnv }), { instanceOf: ConfigError });
  t.regex(missing!.message, /^cannot read configuration file .*absent\.json/);
  const yaml = await t.throwsAsync(loadBrokerConfig({ file: join(dir, 'c.yaml'), env: noEnv }), { instanceOf: ConfigError });
  t.regex(yaml!.message, /must end in \.json or \.ts/);
});

test('Kafka resolves log.retention.ms over .minutes over .hours within one source; a later source still wins', async (t) => {
  const both = await loadBrokerConfig({ file: null, env: noEnv, flags: { 'log.retention.ms': 500, 'log.retention.hours': 1, 'log.retention.minutes': 2 } });
  t.is(both.log.retentionMs, 500);
  const minutes = await loadBrokerConfig({ file: null, env: noEnv, flags: { 'log.retention.minutes': 2, 'log.retention.hours': 1 } });
  t.is(minutes.log.retentionMs, 120_000);
  const layered = await loadBrokerConfig({ file: null, env: { DEFTER_LOG_RETENTION_MS: '500' }, flags: { 'log.retention.hours': 3 } });
  t.is(layered.log.retentionMs, 3 * 3_600_000);
  const unlimited = await loadBrokerConfig({ file: null, env: noEnv, flags: { 'log.retention.hours': -1 } });
  t.is(unlimited.log.retentionMs, -1);
  const huge = await loadBrokerConfig({ file: null, env: noEnv, flags: { 'log.flush.interval.messages': '9223372036854775807' } });
  t.is(huge.log.flushMessages, UNLIMITED);
});

test('listeners, port/host and advertised.listeners set the listener; the specific setting wins', async (t) => {
  const config = await loadBrokerConfig({
    file: null,
    env: { DEFTER_LISTENERS: 'PLAINTEXT://[::1]:9000' },
    flags: { port: 9100, 'advertised.listeners': 'PLAINTEXT://broker.example:9200' },
  });
  t.is(config.host, '::1');
  t.is(config.port, 9100);
  t.is(config.advertisedHost, 'broker.example');
  t.is(config.advertisedPort, 9200);
});

test('message.max.bytes sets the broker limit and the topic default max.message.bytes together', async (t) => {
  const config = await loadBrokerConfig({ file: null, env: noEnv, flags: { 'message.max.bytes': 2048, 'log.dirs': ' /srv/defter ' } });
  t.is(config.messageMaxBytes, 2048);
  t.is(config.log.maxMessageBytes, 2048);
  t.is(config.dataDir, '/srv/defter');
});

test('every setting has an environment variable named after it', (t) => {
  t.is(envVariableFor('log.retention.ms'), 'DEFTER_LOG_RETENTION_MS');
  t.is(envVariableFor('shutdownTimeoutMs'), 'DEFTER_SHUTDOWN_TIMEOUT_MS');
  const names = brokerSettingNames();
  t.is(new Set(names.map(envVariableFor)).size, names.length);
  t.true(names.includes('num.partitions') && names.includes('log.flush.interval.ms') && names.includes('log.roll.hours'));
});
