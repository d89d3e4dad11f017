import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import { ApiKey, encodeRecordBatch } from '@defter/protocol';
import { partitionForKey, startBroker, type RunningBroker } from '@defter/broker';
import { ClusterClient } from '../src/cluster-client.js';
import { PartitionFetcher } from '../src/partition-fetcher.js';
import { runCli } from '../src/program.js';
import type { FormattableRecord } from '../src/record-format.js';
import { OrderedReader } from '../src/ordered-reader.js';
import { recordToJson } from '../src/record-json.js';
import { InProcessTransport } from '../src/request-transport.js';
import { parseLogPosition } from '../src/time-spec.js';
import { runDefter, type DefterExit } from './helpers/run-defter.js';

// `defter replay` as a child process against a real broker (and a stopped broker's data
// directory), over a 3-partition topic whose records carry known timestamps, one hour apart:
//   partition 0: offsets 0..3 at hours 0, 3, 4, 9
//   partition 1: offsets 0..3 at hours 1, 3, 7, 8   (hour 3 ties with partition 0's offset 1)
//   partition 2: offsets 0..3 at hours 2, 6, 5, 10  (not in time order within the partition)
// Record p<P>o<O> has value `p<P>o<O>`, key `k<P><O>`, except p1o3: binary value, null key.

const HOUR_MS = 3_600_000;
const HOURS = [
  [0, 3, 4, 9],
  [1, 3, 7, 8],
  [2, 6, 5, 10],
] as const;
const BINARY_VALUE = Buffer.from([0xff, 0xfe, 0x00, 0x41]);

let broker: RunningBroker;
let dataDir: string;
let bootstrap: string;
let kafka: Kafka;
/** Hour 0, a little over a day ago (so that `-19h` style times fall between records, with 30 minutes to spare). */
let baseMs: number;

test.before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'defter-replay-'));
  broker = await startBroker({ dataDir, port: 0 });
  bootstrap = `${broker.host}:${broker.port}`;
  kafka = new Kafka({ clientId: 'replay-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  baseMs = Math.floor(Date.now() / 1000) * 1000 - 24 * HOUR_MS - HOUR_MS / 2;
  await broker.context.metadata.createTopic('events', 3, {});
  await broker.context.metadata.createTopic('events-copy', 3, {});
  await broker.context.metadata.createTopic('events-narrow', 2, {});
  const producer = kafka.producer();
  await producer.connect();
  // One request per record: each record is its own batch, so the time index sees every timestamp.
  for (const [partition, hours] of HOURS.entries()) {
    for (const [offset, hour] of hours.entries()) {
      const binary = partition === 1 && offset === 3;
      const headers: IHeaders = binary ? { trace: 'abc', origin: 'replay-test' } : {};
      await producer.send({
        topic: 'events',
        acks: -1,
        messages: [{ partition, key: binary ? null : `k${partition}${offset}`, value: binary ? BINARY_VALUE : `p${partition}o${offset}`, timestamp: String(baseMs + hour * HOUR_MS), headers }],
      });
    }
  }
  await producer.disconnect();
});

test.after.always(async () => {
  await broker?.close();
  await rm(dataDir, { recursive: true, force: true });
});

function defter(args: readonly string[]): Promise<DefterExit> {
  return runDefter(args, { env: { DEFTER_BOOTSTRAP_SERVER: bootstrap } });
}

/** Read through a function: TypeScript would keep `process.exitCode` narrowed across the await. */
function currentExitCode(): number | string | null | undefined {
  return process.exitCode;
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0);
}

function iso(hour: number): string {
  return new Date(baseMs + hour * HOUR_MS).toISOString();
}

/** `%p:%o` lines of a replay, for order checks. */
async function replayed(args: readonly string[]): Promise<string[]> {
  const result = await defter(['replay', 'events', ...args, '--format', '%p:%o', '-q']);
  if (result.code !== 0) throw new Error(`replay ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return lines(result.stdout);
}

test('by offset: partitions merged by timestamp (ties by partition), each partition in its own order', async (t) => {
  const [fromTwo, fromOneToThree, onePartition, wholeTopic] = await Promise.all([
    replayed(['--from', '2']),
    replayed(['--from', '1', '--to', '3']),
    replayed(['--from', '0', '--partition', '2']),
    replayed(['--from', '0']),
  ]);
  t.deepEqual(fromTwo, ['0:2', '2:2', '1:2', '1:3', '0:3', '2:3']);
  t.deepEqual(fromOneToThree, ['0:1', '1:1', '0:2', '2:1', '2:2', '1:2']);
  // One partition: offset order, though its timestamps go back at offset 2.
  t.deepEqual(onePartition, ['2:0', '2:1', '2:2', '2:3']);
  t.deepEqual(wholeTopic, ['0:0', '1:0', '2:0', '0:1', '1:1', '0:2', '2:1', '2:2', '1:2', '1:3', '0:3', '2:3']);
});

test('by time: ISO 8601, epoch milliseconds and times before now resolve per partition to the first offset at or after them', async (t) => {
  const [isoRange, epochFrom, relativeRange, relativeFrom] = await Promise.all([
    replayed(['--from', iso(3), '--to', iso(8)]),
    replayed(['--from', `@${baseMs + 9 * HOUR_MS}`]),
    // Hour 0 is 24.5 hours ago: -19h is hour 5.5 (plus the seconds the test took), -16h hour 8.5.
    replayed(['--from', '-19h', '--to', '-16h']),
    replayed(['--from=-19h']),
  ]);
  // Partition 2 starts at offset 1 (hour 6) and ends before offset 3 (hour 10): hour 5 at offset 2 comes along.
  t.deepEqual(isoRange, ['0:1', '1:1', '0:2', '2:1', '2:2', '1:2']);
  t.deepEqual(epochFrom, ['0:3', '2:3']);
  t.deepEqual(relativeRange, ['2:1', '2:2', '1:2', '1:3']);
  t.deepEqual(relativeFrom, ['2:1', '2:2', '1:2', '1:3', '0:3', '2:3']);

  const summary = await defter(['replay', 'events', '--from', iso(3), '--to', iso(8), '--format', '%v']);
  t.is(summary.code, 0, summary.stderr);
  t.is(summary.stderr, `Replayed 6 record(s) from 3 partition(s) of events, timestamps from ${iso(3)} to ${iso(7)}.\n`);
  const empty = await defter(['replay', 'events', '--from', iso(11)]);
  t.is(empty.code, 0, empty.stderr);
  t.is(empty.stdout, '');
  t.is(empty.stderr, 'Replayed 0 records from events: the range holds none.\n');
});

test('--out writes JSON lines: text as UTF-8, a record with bytes that are not UTF-8 in base64', async (t) => {
  const outDir = await mkdtemp(join(tmpdir(), 'defter-replay-out-'));
  t.teardown(() => rm(outDir, { recursive: true, force: true }));
  const file = join(outDir, 'slice.jsonl');
  const result = await defter(['replay', 'events', '--partition', '1', '--from', '2', '--out', file]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stdout, '');
  t.is(result.stderr, `Replayed 2 record(s) from 1 partition(s) of events to ${file}, timestamps from ${iso(7)} to ${iso(8)}.\n`);
  const written = lines(await readFile(file, 'utf8')).map((line) => JSON.parse(line) as unknown);
  t.deepEqual(written, [
    { topic: 'events', partition: 1, offset: 2, timestamp: baseMs + 7 * HOUR_MS, encoding: 'utf8', key: 'k12', value: 'p1o2', headers: [] },
    {
      topic: 'events',
      partition: 1,
      offset: 3,
      timestamp: baseMs + 8 * HOUR_MS,
      encoding: 'base64',
      key: null,
      value: BINARY_VALUE.toString('base64'),
      headers: [
        { key: 'trace', value: Buffer.from('abc').toString('base64') },
        { key: 'origin', value: Buffer.from('replay-test').toString('base64') },
      ],
    },
  ]);
  // Without --out and --format, the same lines go to stdout.
  const toStdout = await defter(['replay', 'events', '--partition', '1', '--from', '2', '--to', '3', '-q']);
  t.is(toStdout.stdout, `{"topic":"events","partition":1,"offset":2,"timestamp":${baseMs + 7 * HOUR_MS},"encoding":"utf8","key":"k12","value":"p1o2","headers":[]}\n`);
});

/** Every record of a topic, partition by partition, read with the raw client. */
async function readTopic(topic: string): Promise<FormattableRecord[]> {
  const client = await ClusterClient.connect(bootstrap);
  try {
    const info = await client.topic(topic);
    const fetcher = new PartitionFetcher(client, info, info.partitions.map(({ partition }) => ({ partition, offset: 0n, highWatermark: -1n })), { maxWaitMs: 10 });
    const records: FormattableRecord[] = [];
    do records.push(...(await fetcher.fetchOnce()));
    while (!fetcher.atEnd());
    return records;
  } finally {
    await client.close();
  }
}

function summarise(record: FormattableRecord): { partition: number; offset: bigint; timestamp: bigint; key: string | null; value: string | null; headers: string[] } {
  return {
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestamp,
    key: record.key?.toString('latin1') ?? null,
    value: record.value?.toString('latin1') ?? null,
    headers: record.headers.map((header) => `${header.key}=${header.value?.toString('latin1') ?? ''}`),
  };
}

test.serial('--to-topic writes the records in order, keeping key, value, headers, timestamp and (when it can) the partition', async (t) => {
  const source = (await readTopic('events')).map(summarise);
  const copied = await defter(['replay', 'events', '--from', '0', '--to-topic', 'events-copy']);
  t.is(copied.code, 0, copied.stderr);
  t.is(copied.stderr, `Replayed 12 record(s) from 3 partition(s) of events to topic events-copy, timestamps from ${iso(0)} to ${iso(10)}.\n`);
  // Same partition count: the same partitions, hence the same offsets.
  t.deepEqual((await readTopic('events-copy')).map(summarise), source);

  const narrowed = await defter(['replay', 'events', '--from', '0', '--to-topic', 'events-narrow', '-q']);
  t.is(narrowed.code, 0, narrowed.stderr);
  t.is(narrowed.stderr, '');
  // Fewer partitions: murmur2 of the key; the keyless record goes to its partition number modulo 2.
  // Within a target partition the records arrive in replay (timestamp-merge) order.
  const order = ['0:0', '1:0', '2:0', '0:1', '1:1', '0:2', '2:1', '2:2', '1:2', '1:3', '0:3', '2:3'];
  const bySource = new Map(source.map((record) => [`${record.partition}:${record.offset}`, record]));
  const expected = new Map<number, Array<Omit<ReturnType<typeof summarise>, 'partition' | 'offset'>>>([
    [0, []],
    [1, []],
  ]);
  for (const id of order) {
    const record = bySource.get(id)!;
    const target = record.key === null ? record.partition % 2 : partitionForKey(Buffer.from(record.key, 'latin1'), 2);
    expected.get(target)!.push({ timestamp: record.timestamp, key: record.key, value: record.value, headers: record.headers });
  }
  const narrow = (await readTopic('events-narrow')).map(summarise);
  for (const partition of [0, 1]) {
    t.deepEqual(
      narrow.filter((record) => record.partition === partition).map(({ timestamp, key, value, headers }) => ({ timestamp, key, value, headers })),
      expected.get(partition),
      `partition ${partition}`,
    );
  }
  t.true(expected.get(0)!.length > 0 && expected.get(1)!.length > 0, 'both target partitions are used');
});

test('--data-dir reads a stopped broker\'s directory in-process; a directory in use gets the lock error and a hint', async (t) => {
  const stoppedDir = await mkdtemp(join(tmpdir(), 'defter-replay-stopped-'));
  t.teardown(() => rm(stoppedDir, { recursive: true, force: true }));
  const stopped = await startBroker({ dataDir: stoppedDir, port: 0 });
  await stopped.context.metadata.createTopic('archive', 2, {});
  await stopped.context.metadata.createTopic('archive-copy', 2, {});
  const producer = new Kafka({ clientId: 'replay-test', brokers: [`${stopped.host}:${stopped.port}`], logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  for (let index = 0; index < 6; index++) {
    await producer.send({ topic: 'archive', acks: -1, messages: [{ partition: index % 2, key: `k${index}`, value: `v${index}`, timestamp: String(baseMs + index * HOUR_MS) }] });
  }
  await producer.disconnect();
  await stopped.close();

  const read = await runDefter(['replay', 'archive', '--from', '1', '--data-dir', stoppedDir, '--format', '%p:%o:%k=%v']);
  t.is(read.code, 0, read.stderr);
  t.deepEqual(lines(read.stdout), ['0:1:k2=v2', '1:1:k3=v3', '0:2:k4=v4', '1:2:k5=v5']);
  t.is(read.stderr, `Replayed 4 record(s) from 2 partition(s) of archive, timestamps from ${iso(2)} to ${iso(5)}.\n`);

  // In-process writes too; a second in-process open sees them.
  const copied = await runDefter(['replay', 'archive', '--from', iso(4), '--data-dir', stoppedDir, '--to-topic', 'archive-copy', '-q']);
  t.is(copied.code, 0, copied.stderr);
  const readBack = await runDefter(['replay', 'archive-copy', '--from', '0', '--data-dir', stoppedDir, '--format', '%p:%o:%k=%v:%t', '-q']);
  t.deepEqual(lines(readBack.stdout), [`0:0:k4=v4:${baseMs + 4 * HOUR_MS}`, `1:0:k5=v5:${baseMs + 5 * HOUR_MS}`]);

  const [held, missing, typo] = await Promise.all([
    runDefter(['replay', 'events', '--from', '0', '--data-dir', dataDir]),
    runDefter(['replay', 'events', '--from', '0', '--data-dir', join(stoppedDir, 'nope')]),
    runDefter(['replay', 'archiv', '--from', '0', '--data-dir', stoppedDir]),
  ]);
  t.is(held.code, 1);
  t.is(held.stderr, `defter: data directory ${dataDir} is locked by process ${process.pid}, which is still running: to replay from a running broker, use --brokers host:port.\n`);
  t.is(missing.code, 1);
  t.is(missing.stderr, `defter: data directory '${join(stoppedDir, 'nope')}' does not exist.\n`);
  t.is(typo.code, 1);
  t.is(typo.stderr, "defter: topic 'archiv' does not exist. Did you mean 'archive'?\n");
});

test.serial('errors are one sentence: unknown topics, from not before to, bad times, partitions out of range, unwritable files', async (t) => {
  const cases: Array<[string[], string]> = [
    [['replay', 'evnets', '--from', '0'], "defter: topic 'evnets' does not exist. Did you mean 'events'?"],
    [['replay', 'events', '--from', '0', '--to-topic', 'events-cpy'], "defter: the --to-topic topic 'events-cpy' does not exist. Did you mean 'events-copy'?"],
    [['replay', 'events', '--from', '0', '--to-topic', 'elsewhere'], "defter: the --to-topic topic 'elsewhere' does not exist: create it first (defter topics create elsewhere)."],
    [['replay', 'events', '--from', '3', '--to', '3'], 'defter: --from (offset 3) must come before --to (offset 3), which is exclusive.'],
    [['replay', 'events', '--from', iso(5), '--to', iso(2)], `defter: --from (${iso(5)}) must come before --to (${iso(2)}), which is exclusive.`],
    [
      ['replay', 'events', '--from', 'yesterday'],
      "defter: --from 'yesterday' is neither an offset nor a time: give an offset (e.g. 1500), an ISO 8601 time (e.g. 2026-11-23T10:00:00Z), @<epoch ms>, or a time before now such as -15m or -2h.",
    ],
    [
      ['replay', 'events', '--from', '0', '--to', '2026-13-45T99:00:00Z'],
      "defter: --to '2026-13-45T99:00:00Z' is neither an offset nor a time: give an offset (e.g. 1500), an ISO 8601 time (e.g. 2026-11-23T10:00:00Z), @<epoch ms>, or a time before now such as -15m or -2h.",
    ],
    [['replay', 'events', '--from', '0', '--partition', '3'], "defter: topic 'events' has 3 partition(s): --partition must be below 3."],
    [['replay', 'events', '--from', '0', '--out', '/nonexistent-dir/slice.jsonl'], "defter: cannot write to '/nonexistent-dir/slice.jsonl': its directory does not exist."],
    [['replay', 'events', '--from', '0', '--out', tmpdir()], `defter: cannot write to '${tmpdir()}': it is a directory.`],
    [['replay', 'events', '--from', '0', '--out', 'x.jsonl', '--to-topic', 'events-copy'], 'defter: give either --out or --to-topic, not both.'],
    [['replay', 'events', '--from', '0', '--brokers', bootstrap, '--data-dir', dataDir], 'defter: give either --brokers (a running broker) or --data-dir (a stopped one), not both.'],
    [['replay', 'events', '--from', '0', '--brokers', '127.0.0.1:1'], 'defter: cannot connect to a broker at 127.0.0.1:1 (connection refused: is the broker running?).'],
  ];
  // In this process (the command's code, without a child per case): one sentence, exit code 1.
  for (const [args, message] of cases) {
    const out: string[] = [];
    const err: string[] = [];
    process.exitCode = undefined;
    await runCli(args, { out: (line) => out.push(line), err: (line) => err.push(line), input: Readable.from([]), env: { DEFTER_BOOTSTRAP_SERVER: bootstrap } });
    const exitCode = currentExitCode();
    process.exitCode = undefined;
    t.is(exitCode, 1, args.join(' '));
    t.deepEqual(err, [message], args.join(' '));
    t.deepEqual(out, [], args.join(' '));
  }
});

test('positions: offsets, ISO 8601 times, @epoch ms and times before now; anything else is refused', (t) => {
  const nowMs = 1_795_428_000_000n;
  const parse = (text: string): ReturnType<typeof parseLogPosition> => parseLogPosition(text, nowMs, '--from');
  t.deepEqual(parse('1500'), { kind: 'offset', offset: 1500n });
  t.deepEqual(parse(' 0 '), { kind: 'offset', offset: 0n });
  t.deepEqual(parse('2026-11-23T10:00:00Z'), { kind: 'time', timestampMs: 1_795_428_000_000n });
  t.deepEqual(parse('2026-11-23T12:00:00+02:00'), { kind: 'time', timestampMs: 1_795_428_000_000n });
  t.deepEqual(parse('2026-11-23'), { kind: 'time', timestampMs: 1_795_392_000_000n });
  t.deepEqual(parse('@1795428000123'), { kind: 'time', timestampMs: 1_795_428_000_123n });
  t.deepEqual(parse('-500ms'), { kind: 'time', timestampMs: nowMs - 500n });
  t.deepEqual(parse('-90s'), { kind: 'time', timestampMs: nowMs - 90_000n });
  t.deepEqual(parse('-15m'), { kind: 'time', timestampMs: nowMs - 900_000n });
  t.deepEqual(parse('-2h'), { kind: 'time', timestampMs: nowMs - 7_200_000n });
  t.deepEqual(parse('-1d'), { kind: 'time', timestampMs: nowMs - 86_400_000n });
  for (const text of ['-5', '15m', '1.5', '@', '@-3', '-2w', 'now', '2026-11-23T25:00:00Z', '']) {
    t.throws(() => parse(text), { message: new RegExp(`^--from '${text}' is neither an offset nor a time: `) }, text);
  }
});

test('a record as a JSON line: text when every payload is UTF-8, else all of them in base64', (t) => {
  const record = { topic: 't', partition: 2, offset: 7n, timestamp: 1_795_428_000_000n, key: Buffer.from('ключ'), value: null, headers: [{ key: 'h', value: Buffer.from('v') }, { key: 'h', value: null }] };
  t.deepEqual(recordToJson(record), { topic: 't', partition: 2, offset: 7, timestamp: 1_795_428_000_000, encoding: 'utf8', key: 'ключ', value: null, headers: [{ key: 'h', value: 'v' }, { key: 'h', value: null }] });
  const binaryHeader = { ...record, headers: [{ key: 'h', value: Buffer.from([0xc3]) }] };
  t.deepEqual(recordToJson(binaryHeader), {
    topic: 't',
    partition: 2,
    offset: 7,
    timestamp: 1_795_428_000_000,
    encoding: 'base64',
    key: Buffer.from('ключ').toString('base64'),
    value: null,
    headers: [{ key: 'h', value: 'ww==' }],
  });
});

test('the ordered reader against an oracle: small fetch windows, random timestamps, in-process', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'defter-replay-oracle-'));
  const inProcess = await startBroker({ dataDir: dir, listen: false });
  t.teardown(async () => {
    await inProcess.close();
    await rm(dir, { recursive: true, force: true });
  });
  const seed = Date.now() % 100_000;
  t.log(`seed ${seed}`);
  let state = seed;
  const random = (below: number): number => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state % below;
  };
  const partitionCount = 4;
  await inProcess.context.metadata.createTopic('oracle', partitionCount, {});
  const client = inProcess.client('oracle-test');
  // Per partition: batches of 1-20 records; timestamps mostly rising, sometimes going back.
  const written: Array<Array<{ offset: bigint; timestamp: bigint }>> = Array.from({ length: partitionCount }, () => []);
  for (let partition = 0; partition < partitionCount; partition++) {
    let clockMs = 1_000_000 + random(1_000);
    for (let batch = 0; batch < 15; batch++) {
      const records = Array.from({ length: 1 + random(20) }, () => {
        clockMs += random(4) === 0 ? -random(50) : random(100);
        return { timestamp: BigInt(clockMs), key: Buffer.from(`k${random(10)}`), value: Buffer.alloc(40, partition) };
      });
      const response = await client.send(ApiKey.Produce, 9, {
        transactionalId: null,
        acks: -1,
        timeoutMs: 5_000,
        topicData: [{ name: 'oracle', partitionData: [{ index: partition, records: encodeRecordBatch({ records }) }] }],
      });
      const base = response.responses[0]!.partitionResponses[0]!.baseOffset;
      for (const [index, record] of records.entries()) written[partition]!.push({ offset: base + BigInt(index), timestamp: record.timestamp });
    }
  }
  const ranges = written.map((records, partition) => ({ partition, start: BigInt(random(5)), end: BigInt(records.length - random(5)) }));
  // The oracle: take the smallest head (timestamp, partition, offset) until every range is empty.
  const heads = ranges.map((range) => written[range.partition]!.filter((record) => record.offset >= range.start && record.offset < range.end));
  const expected: string[] = [];
  for (;;) {
    let best = -1;
    for (const [partition, queue] of heads.entries()) {
      const head = queue[0];
      if (head === undefined) continue;
      const current = heads[best]?.[0];
      if (current === undefined || head.timestamp < current.timestamp || (head.timestamp === current.timestamp && partition < best)) best = partition;
    }
    if (best < 0) break;
    const taken = heads[best]!.shift()!;
    expected.push(`${best}:${taken.offset}:${taken.timestamp}`);
  }

  const cluster = ClusterClient.inProcess(await InProcessTransport.open(inProcess.client('oracle-reader')));
  const reader = new OrderedReader(cluster, await cluster.topic('oracle'), ranges, { partitionMaxBytes: 300 });
  const actual: string[] = [];
  let chunks = 0;
  for (let chunk = await reader.next(); chunk.length > 0; chunk = await reader.next()) {
    chunks += 1;
    actual.push(...chunk.map((record) => `${record.partition}:${record.offset}:${record.timestamp}`));
  }
  t.deepEqual(actual, expected);
  t.true(chunks > partitionCount, `small windows: many refills (${chunks} chunks)`);
  await cluster.close();
});
