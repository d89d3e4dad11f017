import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { partitionForKey, startBroker, type RunningBroker } from '@defter/broker';
import { ClusterClient } from '../src/cluster-client.js';
import { runDefter, type DefterExit } from './helpers/run-defter.js';

// The real `defter` command, as a child process, against a real broker started in this process.

let broker: RunningBroker;
let dataDir: string;
let bootstrap: string;

test.before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'defter-cli-clients-'));
  broker = await startBroker({ dataDir, port: 0 });
  bootstrap = `${broker.host}:${broker.port}`;
});

test.after.always(async () => {
  await broker?.close();
  await rm(dataDir, { recursive: true, force: true });
});

function defter(args: readonly string[], input?: string): Promise<DefterExit> {
  return runDefter(args, { env: { DEFTER_BOOTSTRAP_SERVER: bootstrap }, ...(input === undefined ? {} : { input }) });
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0);
}

test.serial('topics create, list, describe, alter and delete', async (t) => {
  const created = await defter(['topics', 'create', 'admin-orders', '--partitions', '3', '--config', 'retention.ms=86400000']);
  t.is(created.code, 0, created.stderr);
  t.is(created.stdout.trim(), 'Created topic admin-orders with 3 partition(s).');

  const again = await defter(['topics', 'create', 'admin-orders']);
  t.is(again.code, 1);
  t.is(again.stderr.trim(), "defter: topic 'admin-orders' already exists.");

  const listed = await defter(['topics', 'list']);
  t.true(lines(listed.stdout).includes('admin-orders'));

  const described = await defter(['topics', 'describe', 'admin-orders']);
  t.is(described.code, 0, described.stderr);
  const describedLines = lines(described.stdout);
  t.is(describedLines[0], 'Topic: admin-orders\tPartitionCount: 3\tReplicationFactor: 1');
  for (const partition of [0, 1, 2]) {
    t.is(describedLines[1 + partition], `\tPartition: ${partition}\tLeader: ${broker.nodeId}\tReplicas: ${broker.nodeId}\tIsr: ${broker.nodeId}\tEarliest: 0\tLatest: 0`);
  }
  t.deepEqual(describedLines.slice(4), ['Configs (overrides):', '\tretention.ms=86400000']);

  const altered = await defter(['topics', 'alter', 'admin-orders', '--config', 'cleanup.policy=compact', '--delete-config', 'retention.ms']);
  t.is(altered.code, 0, altered.stderr);
  t.is(altered.stdout.trim(), 'Altered topic admin-orders: cleanup.policy=compact, retention.ms (deleted).');
  const afterAlter = lines((await defter(['topics', 'describe', 'admin-orders'])).stdout);
  t.deepEqual(afterAlter.slice(4), ['Configs (overrides):', '\tcleanup.policy=compact']);

  const badConfig = await defter(['topics', 'alter', 'admin-orders', '--config', 'retention.ms=soon']);
  t.is(badConfig.code, 1);
  t.regex(badConfig.stderr, /^defter: altering topic 'admin-orders': INVALID_CONFIG/);

  const grown = await defter(['topics', 'alter', 'admin-orders', '--partitions', '4']);
  t.is(grown.code, 0, grown.stderr);
  t.is(lines((await defter(['offsets', 'admin-orders'])).stdout).length, 1 + 4);

  const deleted = await defter(['topics', 'delete', 'admin-orders']);
  t.is(deleted.code, 0, deleted.stderr);
  t.is(deleted.stdout.trim(), 'Deleted topic admin-orders.');
  t.false(lines((await defter(['topics', 'list'])).stdout).includes('admin-orders'));
});

test.serial('keyed lines land in their murmur2 partitions, with headers, and come back in order', async (t) => {
  const partitionCount = 4;
  t.is((await defter(['topics', 'create', 'keyed', '--partitions', String(partitionCount)])).code, 0);
  const keys = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'];
  const input = Array.from({ length: 70 }, (_, i) => `${keys[i % keys.length]}|value-${i}`);
  const produced = await defter(['produce', 'keyed', '--key-separator', '|', '--header', 'source=cli', '--header', 'run=1', '--acks', 'all'], input.join('\n') + '\n');
  t.is(produced.code, 0, produced.stderr);
  t.is(produced.stderr.trim(), 'Produced 70 record(s) to keyed.');

  const consumed = await defter(['consume', 'keyed', '--from-beginning', '--max-messages', '70', '--format', '%p|%o|%k|%v|%h']);
  t.is(consumed.code, 0, consumed.stderr);
  const records = lines(consumed.stdout).map((line) => {
    const [partition, offset, key, value, headers] = line.split('|') as [string, string, string, string, string];
    return { partition: Number(partition), offset: Number(offset), key, value, headers };
  });
  t.is(records.length, 70);
  const nextOffset = new Map<number, number>();
  const valuesByKey = new Map<string, string[]>();
  for (const record of records) {
    t.is(record.partition, partitionForKey(Buffer.from(record.key), partitionCount), `key ${record.key}`);
    t.is(record.headers, 'source=cli,run=1');
    t.is(record.offset, nextOffset.get(record.partition) ?? 0, 'dense offsets, in order');
    nextOffset.set(record.partition, record.offset + 1);
    valuesByKey.set(record.key, [...(valuesByKey.get(record.key) ?? []), record.value]);
  }
  for (const [index, key] of keys.entries()) {
    t.deepEqual(valuesByKey.get(key), Array.from({ length: 10 }, (_, round) => `value-${round * keys.length + index}`), `order of ${key}`);
  }

  const offsets = await defter(['offsets', 'keyed']);
  t.is(offsets.code, 0, offsets.stderr);
  const expected = ['PARTITION\tEARLIEST\tLATEST'];
  for (let partition = 0; partition < partitionCount; partition++) expected.push(`${partition}\t0\t${nextOffset.get(partition) ?? 0}`);
  t.deepEqual(lines(offsets.stdout), expected);
});

test.serial('unkeyed lines round-robin; --partition, --offset, --exit-at-end and compression work together', async (t) => {
  t.is((await defter(['topics', 'create', 'plain', '--partitions', '2'])).code, 0);
  const input = Array.from({ length: 10 }, (_, i) => `line ${i}`).join('\n');
  t.is((await defter(['produce', 'plain', '--compression', 'gzip', '-q'], input)).code, 0);
  const both = await defter(['consume', 'plain', '--from-beginning', '--exit-at-end', '-q', '--format', '%p:%o:%v']);
  t.is(both.code, 0, both.stderr);
  t.is(both.stderr, '');
  const byPartition = [0, 1].map((partition) => lines(both.stdout).filter((line) => line.startsWith(`${partition}:`)));
  t.deepEqual(byPartition[0], ['0:0:line 0', '0:1:line 2', '0:2:line 4', '0:3:line 6', '0:4:line 8']);
  t.deepEqual(byPartition[1], ['1:0:line 1', '1:1:line 3', '1:2:line 5', '1:3:line 7', '1:4:line 9']);

  t.is((await defter(['produce', 'plain', '--partition', '1', '--compression', 'zstd', '-q'], 'pinned a\npinned b\n')).code, 0);
  const tail = await defter(['consume', 'plain', '--partition', '1', '--offset', '-2', '--exit-at-end', '-q', '--format', '%o %v (%K/%V)']);
  t.is(tail.code, 0, tail.stderr);
  t.deepEqual(lines(tail.stdout), ['5 pinned a (-1/8)', '6 pinned b (-1/8)']);

  const fromOffset = await defter(['consume', 'plain', '--partition', '0', '--offset', '3', '--max-messages', '1', '-q']);
  t.is(fromOffset.stdout, 'line 6\n');

  const outside = await defter(['consume', 'plain', '--partition', '0', '--offset', '99', '-q']);
  t.is(outside.code, 1);
  t.is(outside.stderr.trim(), "defter: offset 99 is outside partition 0 of 'plain', which holds offsets 0 to 5 (exclusive).");
});

test.serial('mistyped topic names get the nearest existing topic; errors are one sentence', async (t) => {
  t.is((await defter(['topics', 'create', 'payments', '--partitions', '1'])).code, 0);
  const mistyped = [
    ['consume', 'paymnets', '--from-beginning'],
    ['produce', 'paymnets'],
    ['offsets', 'paymnets'],
    ['topics', 'describe', 'paymnets'],
    ['topics', 'delete', 'paymnets'],
    ['topics', 'alter', 'paymnets', '--config', 'retention.ms=1'],
  ];
  const results = await Promise.all(mistyped.map((args) => defter(args, '')));
  for (const [index, result] of results.entries()) {
    const args = mistyped[index]!.join(' ');
    t.is(result.code, 1, args);
    t.is(result.stderr.trim(), "defter: topic 'paymnets' does not exist. Did you mean 'payments'?", args);
  }
  const unreachable = await runDefter(['topics', 'list', '--bootstrap-server', '127.0.0.1:1']);
  t.is(unreachable.code, 1);
  t.is(unreachable.stderr.trim(), 'defter: cannot reach a broker at 127.0.0.1:1 (connection refused: is the broker running?).');
  const badFormat = await defter(['consume', 'payments', '--format', '%q']);
  t.is(badFormat.code, 1);
  t.regex(badFormat.stderr, /^defter: unknown placeholder '%q' in --format/);
  const badAcks = await defter(['produce', 'payments', '--acks', '2'], 'x\n');
  t.is(badAcks.stderr.trim(), "defter: --acks must be 0, 1, -1 or all, not '2'.");
});

test.serial('the raw-protocol client reads metadata and offsets itself', async (t) => {
  t.is((await defter(['topics', 'create', 'raw', '--partitions', '2'])).code, 0);
  t.is((await defter(['produce', 'raw', '-K', '=', '-q'], 'k=v\nk=w\n')).code, 0);
  const client = await ClusterClient.connect(bootstrap);
  t.teardown(() => client.close());
  const topic = await client.topic('raw');
  t.deepEqual(topic.partitions.map((partition) => partition.partition), [0, 1]);
  const keyed = partitionForKey(Buffer.from('k'), 2);
  t.deepEqual(await client.partitionOffsets(topic), [
    { partition: 0, earliest: 0n, latest: keyed === 0 ? 2n : 0n },
    { partition: 1, earliest: 0n, latest: keyed === 1 ? 2n : 0n },
  ]);
  await t.throwsAsync(client.topic('rwa'), { message: "topic 'rwa' does not exist. Did you mean 'raw'?" });
});
