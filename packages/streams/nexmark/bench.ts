/**
 * `pnpm bench:nexmark`: NEXMark q0–q2, q3, q5 and q8 in events/s on one core, beside baselines and
 * peers measured in the same run (q0–q2), and Apache Flink's published per-core figures.
 *
 * One process, one broker (in this process: it serves the embedded log without sockets and
 * listens on loopback for the peer). The generated events are written once to `nexmark-events`
 * (4 partitions, keyed by auction / person id) before any timing. Per query, rows:
 * - `ceiling` — deserialize, apply, serialize over the encoded events in memory: no log at all;
 * - `app` — the query as a streams app on the embedded log (`queries.ts`);
 * - `loop` — a hand-written consume → transform → produce loop on the embedded log's consumer and
 *   producer (`rows.ts`);
 * - `@kafkats/flow` — the same query in that DSL over loopback to the same broker (`peers.ts`), on
 *   the first `peerEvents` events (written to a topic of their own): it runs at a few thousand
 *   events/s, so the whole input would take many minutes.
 * The stateful queries (`stateful-queries.ts`) have the `app` row only: they have no per-event
 * function for `ceiling` and `loop`, and nobody has written them for the peer yet; the report says
 * "not measured" for those rows, never a number.
 * events/s = input events (all kinds: a query reads the whole stream) ÷ seconds from the client's
 * start until the output holds the reference's count. Each output is then read back and checked
 * against the reference (`reference.ts`): total, per-key counts, and content on a sample.
 *
 * `main.ts` is the command line around `runNexmarkBench`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startBroker, type RunningBroker } from '@defter/broker';
import { UsageError } from '../bench/command-line.js';
import { EmbeddedLog } from '../src/index.js';
import { nexmarkEventSerde } from './event-serde.js';
import { NexmarkGenerator } from './generator.js';
import { eventKey } from './model.js';
import { checkOutput, endOffsets, readTopic, type CheckResult } from './output-check.js';
import { KAFKA_STREAMS_VERDICT, runKafkatsRow } from './peers.js';
import { FLINK_EVENTS_PER_SECOND_PER_CORE, PENDING_QUERIES, STATELESS_QUERIES, type NexmarkQuery, type NexmarkTopology, type QueryName } from './queries.js';
import { STATEFUL_QUERIES, type StatefulQuery } from './stateful-queries.js';
import { referenceOutput, type ReferenceOutput } from './reference.js';
import { runAppRow, runCeilingRow, runLoopRow, type LogRowOptions, type RowTiming } from './rows.js';
import { NEXMARK_EVENTS_TOPIC, writeNexmarkEvents } from './writer.js';

const PEER_EVENTS_TOPIC = 'nexmark-events-peers';

const ROW_NAMES = ['ceiling', 'app', 'loop', 'kafkats'] as const;
type RowName = (typeof ROW_NAMES)[number];
const QUERY_NAMES: readonly QueryName[] = ['q0', 'q1', 'q2', 'q3', 'q5', 'q8'];
const EVENTS_FULL = 1_000_000;
const EVENTS_QUICK = 100_000;
/** The peer reads a prefix of the events (its own topic): at a few thousand events/s the whole input would take many minutes. */
const PEER_EVENTS_FULL = 100_000;
const PEER_EVENTS_QUICK = 20_000;
export const PARTITIONS = 4;
const POLL_INTERVAL_MS = 10;
/** A row gives up after this long plus a millisecond per event. */
const ROW_TIMEOUT_BASE_MS = 60_000;
/** Content is compared for every SAMPLE_STRIDE-th record of each key (and each key's first and last). */
const SAMPLE_STRIDE = 25;

export interface NexmarkBenchArguments {
  readonly events: number;
  /** Events the peer rows read (the first ones of the same stream). */
  readonly peerEvents: number;
  readonly queries: readonly QueryName[];
  readonly rows: ReadonlySet<RowName>;
  readonly seed: number;
  readonly quick: boolean;
}

export { UsageError };

export function parseArguments(argv: readonly string[]): NexmarkBenchArguments {
  let quick = false;
  let events: number | undefined;
  let peerEvents: number | undefined;
  let seed = 0;
  let queries: QueryName[] = [...QUERY_NAMES];
  let rows = new Set<RowName>(ROW_NAMES);
  const list = <T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T[] => {
    const names = (value ?? '').split(',').filter((name) => name.length > 0);
    const unknown = names.filter((name) => !(allowed as readonly string[]).includes(name));
    if (names.length === 0 || unknown.length > 0) throw new UsageError(`${flag} takes a comma-separated list of ${allowed.join(', ')}; got ${names.length === 0 ? 'nothing' : unknown.join(', ')}`);
    return names as T[];
  };
  const whole = (flag: string, value: string | undefined, minimum: number): number => {
    const parsed = Number(value);
    if (value === undefined || !Number.isSafeInteger(parsed) || parsed < minimum) throw new UsageError(`${flag} needs a whole number ≥ ${minimum}, not ${String(value)}`);
    return parsed;
  };
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index]!;
    if (argument === '--quick') quick = true;
    else if (argument === '--events') events = whole('--events', argv[++index], 1);
    else if (argument === '--peer-events') peerEvents = whole('--peer-events', argv[++index], 1);
    else if (argument === '--seed') seed = whole('--seed', argv[++index], 0);
    else if (argument === '--queries') queries = list('--queries', argv[++index], QUERY_NAMES);
    else if (argument === '--rows') rows = new Set(list('--rows', argv[++index], ROW_NAMES));
    else throw new UsageError(`unknown argument ${argument}; usage: main.js [--quick] [--events N] [--peer-events N] [--queries ${QUERY_NAMES.join(',')}] [--rows ${ROW_NAMES.join(',')}] [--seed N]`);
  }
  const eventCount = events ?? (quick ? EVENTS_QUICK : EVENTS_FULL);
  return { quick, events: eventCount, peerEvents: Math.min(eventCount, peerEvents ?? (quick ? PEER_EVENTS_QUICK : PEER_EVENTS_FULL)), queries, rows, seed };
}

export interface BenchRow {
  readonly query: QueryName;
  readonly row: RowName;
  readonly client: string;
  /** The input events the row processed. */
  readonly events: number;
  readonly timing: RowTiming;
  readonly check: CheckResult;
}

const format = (n: number) => Math.round(n).toLocaleString('en-US');

export async function runNexmarkBench(args: NexmarkBenchArguments, print: (line: string) => void = console.log): Promise<BenchRow[]> {
  const root = await mkdtemp(join(tmpdir(), 'defter-nexmark-'));
  let broker: RunningBroker | undefined;
  const rows: BenchRow[] = [];
  const notMeasured: string[] = [];
  try {
    broker = await startBroker({ dataDir: join(root, 'broker'), port: 0, host: '127.0.0.1', groupInitialRebalanceDelayMs: 0, logLevel: 'warn' });
    const generator = new NexmarkGenerator({ seed: args.seed });
    const generatedAtMs = performance.now();
    const events = Array.from(generator.events(args.events));
    const generationSeconds = (performance.now() - generatedAtMs) / 1000;
    const log = new EmbeddedLog({ broker, clientId: 'nexmark-writer' });
    const writtenAtMs = performance.now();
    await writeNexmarkEvents(log, events, { partitions: PARTITIONS });
    const writeSeconds = (performance.now() - writtenAtMs) / 1000;
    const peerEvents = events.slice(0, args.peerEvents);
    if (args.rows.has('kafkats')) await writeNexmarkEvents(log, peerEvents, { topic: PEER_EVENTS_TOPIC, partitions: PARTITIONS });
    // The offsets topic is created on first use: not inside the first timed row.
    await broker.context.offsetStore.ensureTopic();
    const serde = nexmarkEventSerde();
    const encoded = events.map((event) => ({ key: Buffer.from(eventKey(event)), value: serde.serialize(event, { topic: NEXMARK_EVENTS_TOPIC, role: 'value' })! }));
    const valueBytes = encoded.reduce((total, record) => total + record.value.length, 0);
    const timeoutMs = ROW_TIMEOUT_BASE_MS + args.events;

    for (const queryName of args.queries) {
      const stateless = STATELESS_QUERIES.find((candidate) => candidate.name === queryName) as NexmarkQuery<unknown> | undefined;
      const stateful = STATEFUL_QUERIES.find((candidate) => candidate.name === queryName) as StatefulQuery<unknown> | undefined;
      const topology: NexmarkTopology<unknown> = (stateless ?? stateful)!;
      const fullReference = referenceOutput(queryName, events);
      const peerReference = stateless !== undefined && args.rows.has('kafkats') ? referenceOutput(queryName, peerEvents) : fullReference;
      const logRow = (row: RowName): LogRowOptions => ({
        broker: broker!,
        inputTopic: row === 'kafkats' ? PEER_EVENTS_TOPIC : NEXMARK_EVENTS_TOPIC,
        outputTopic: `nexmark-${queryName}-${row}`,
        partitions: PARTITIONS,
        expectedRecords: (row === 'kafkats' ? peerReference : fullReference).count,
        pollIntervalMs: POLL_INTERVAL_MS,
        timeoutMs,
      });
      const checkTopic = async (topic: string, reference: ReferenceOutput): Promise<CheckResult> => {
        const until = await endOffsets(broker!.client('nexmark-check'), topic, PARTITIONS);
        const records = await readTopic(log, topic, until, timeoutMs);
        return checkOutput(records.flat(), reference, SAMPLE_STRIDE);
      };
      for (const row of ROW_NAMES) {
        if (!args.rows.has(row)) continue;
        if (stateless === undefined && row !== 'app') {
          notMeasured.push(`${queryName}/${row}: not measured — ${row === 'kafkats' ? 'the query is not written for @kafkats/flow here' : 'a stateful query has no per-event function to run'}`);
          continue;
        }
        if (row === 'ceiling') {
          const query = stateless!;
          // The first pass warms the JIT up; the second is timed.
          runCeilingRow(query, encoded, NEXMARK_EVENTS_TOPIC);
          const result = runCeilingRow(query, encoded, NEXMARK_EVENTS_TOPIC);
          rows.push({ query: queryName, row, client: 'function calls over in-memory events (CPU ceiling)', events: events.length, timing: result, check: checkOutput(result.outputs, fullReference, SAMPLE_STRIDE) });
          continue;
        }
        const options = logRow(row);
        await broker.context.metadata.createTopic(options.outputTopic, PARTITIONS, {});
        let timing: RowTiming;
        let client: string;
        if (row === 'app') {
          client = 'defter streams app, embedded log';
          timing = await runAppRow(topology, { ...options, applicationId: `nexmark-${queryName}-app`, stateDir: join(root, 'state') });
        } else if (row === 'loop') {
          client = 'hand-written loop, embedded log consumer/producer';
          timing = await runLoopRow(stateless!, { ...options, groupId: `nexmark-${queryName}-loop` });
        } else {
          client = `@kafkats/flow 0.12, loopback to the same broker (first ${format(peerEvents.length)} events)`;
          timing = await runKafkatsRow(stateless!, { ...options, applicationId: `nexmark-${queryName}-kafkats` });
        }
        const eventCount = row === 'kafkats' ? peerEvents.length : events.length;
        rows.push({ query: queryName, row, client, events: eventCount, timing, check: await checkTopic(options.outputTopic, row === 'kafkats' ? peerReference : fullReference) });
      }
    }
    await log.close();
    printReport(args, { generationSeconds, writeSeconds, valueBytes }, rows, notMeasured, print);
    return rows;
  } finally {
    await broker?.close();
    await rm(root, { recursive: true, force: true });
  }
}

function printReport(
  args: NexmarkBenchArguments,
  setup: { generationSeconds: number; writeSeconds: number; valueBytes: number },
  rows: readonly BenchRow[],
  notMeasured: readonly string[],
  print: (line: string) => void,
): void {
  const [load1] = loadavg();
  print(
    `defter NEXMark: ${format(args.events)} events (seed ${args.seed}; persons:auctions:bids 1:3:46; ${Math.round(setup.valueBytes / args.events)}-byte JSON on average), ` +
      `${PARTITIONS} partitions${args.quick ? ' (--quick)' : ''}. Machine: ${cpus().length} cores, load average ${load1!.toFixed(2)} at the end.`,
  );
  print(
    `Generated at ${format(args.events / setup.generationSeconds)} events/s; written to ${NEXMARK_EVENTS_TOPIC} at ${format(args.events / setup.writeSeconds)} events/s (untimed setup).`,
  );
  print(
    'events/s = input events ÷ seconds from the client start until the output holds every expected record. One process: the app and the broker share one event loop ' +
      '(the embedded log has no sockets; the peer reaches the same in-process broker over loopback). CPU = this process\'s CPU time ÷ wall time.',
  );
  print('');
  print('| query | row | client | seconds | events/s | ÷ ceiling | CPU | Flink per core | ÷ Flink | output check |');
  print('|---|---|---|---:|---:|---:|---:|---:|---:|---|');
  for (const row of rows) {
    const rate = row.events / row.timing.seconds;
    const ceiling = rows.find((candidate) => candidate.query === row.query && candidate.row === 'ceiling');
    const partial = STATEFUL_QUERIES.some((query) => query.name === row.query && query.partial === true);
    const flink = partial ? undefined : FLINK_EVENTS_PER_SECOND_PER_CORE[row.query];
    const reordered = row.check.reorderedKeys > 0 ? `; per-key order differs for ${format(row.check.reorderedKeys)} keys` : '';
    const check = row.check.ok ? `ok (${format(row.check.sampled)} compared${reordered})` : `FAILED: ${row.check.problem}`;
    print(
      `| ${row.query} | ${row.row} | ${row.client} | ${row.timing.seconds.toFixed(2)} | ${format(rate)} | ${ceiling === undefined ? '—' : `${(rate / (args.events / ceiling.timing.seconds)).toFixed(2)}×`} | ` +
        `${Math.round((100 * row.timing.cpuSeconds) / row.timing.seconds)}% | ${flink === undefined ? (partial ? 'not compared (partial query)' : '—') : format(flink)} | ${flink === undefined ? '—' : `${(rate / flink).toFixed(2)}×`} | ${check} |`,
    );
  }
  print('');
  for (const line of notMeasured) print(line);
  for (const query of STATEFUL_QUERIES) if (args.queries.includes(query.name) && query.deviation !== undefined) print(`${query.name} differs from NEXMark: ${query.deviation}.`);
  print(`kafka-streams: not run. ${KAFKA_STREAMS_VERDICT}`);
  print('Not measured yet (not written, or beyond the DSL), on either side:');
  for (const pending of PENDING_QUERIES) {
    const flink = FLINK_EVENTS_PER_SECOND_PER_CORE[pending.name];
    print(`- ${pending.name} ${pending.title}: needs ${pending.needs}${flink === undefined ? '' : ` (Flink: ${format(flink)} events/s per core)`}`);
  }
  const failed = rows.filter((row) => !row.check.ok);
  if (failed.length > 0) print(`OUTPUT CHECK FAILED for ${failed.map((row) => `${row.query}/${row.row}`).join(', ')}`);
}
