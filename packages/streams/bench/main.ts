/**
 * The streams runtime's throughput beside a hand-written kafkajs loop doing the same work, in one run:
 *
 * - a map+filter pipeline (JSON orders → mapValues → filter drops one in ten → JSON) as a streams
 *   app on the EMBEDDED log (a broker in this process, no sockets);
 * - the same app through a broker on loopback (`{ brokers }`, kafkajs underneath), the broker in
 *   its own process;
 * - the baseline: a kafkajs consume → transform → produce loop (eachBatch, one idempotent acks=all
 *   send per batch, offsets committed after the send) against the same broker process and input;
 * - the app with exactly_once, on both logs.
 *
 * The input (string keys, ~100-byte JSON values, 4 partitions) is written before any timing. A row
 * is timed from the client's start until the output holds every expected record (its end offsets
 * are polled; the output is not consumed) and the group's committed offsets are at the input's end.
 *
 *   pnpm bench:streams [--quick] [--records N] [--rows embedded,network,kafkajs,embedded-eos,network-eos]
 *                      [--repeat N] [--kafkajs-send-records N] [--profile DIR]
 *   (node packages/streams/dist/bench/main.js)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from '@defter/broker';
import { ROW_NAMES, parseArguments, type BenchArguments, type RowName } from './arguments.js';
import { parseCommandLine } from './command-line.js';
import { BENCH_BROKER_SETTINGS, prepareBroker } from './bench-broker.js';
import { startBrokerChild, stopBrokerChild } from './broker-child.js';
import { runKafkajsLoop } from './kafkajs-loop.js';
import { InProcessOffsetProbe, KafkajsOffsetProbe } from './offset-probe.js';
import { profiled } from './profile.js';
import { printReport, rowOf, type Row } from './report.js';
import { runStreamsRow, type RowTiming } from './streams-row.js';
import { expectedOutputRecords } from './workload.js';

/** The baseline runs between the two rows compared with it. */
const RUN_ORDER: readonly RowName[] = ['embedded', 'kafkajs', 'network', 'embedded-eos', 'network-eos'];
/** How often a row looks at the output's end offsets and the committed offsets. */
const POLL_INTERVAL_MS = 20;
/** A row gives up after this long plus a millisecond per input record. */
const ROW_TIMEOUT_BASE_MS = 60_000;

/** How a row is shown, and how one round of it runs. */
interface RowSpec extends Omit<Row, 'timing' | 'rounds'> {
  run(round: number): Promise<RowTiming>;
}

async function main(args: BenchArguments): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'defter-streams-bench-'));
  const expected = expectedOutputRecords(args.records);
  const timeoutMs = ROW_TIMEOUT_BASE_MS + args.records;
  const wanted = (name: RowName) => args.rows.has(name);
  // Every round of every row writes its own output topic and commits as its own group.
  const outputTopics = (rows: readonly RowName[]) => rows.flatMap((row) => Array.from({ length: args.repeat }, (_, round) => `billed-${row}-${round}`));
  const specs: RowSpec[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  try {
    if (wanted('embedded') || wanted('embedded-eos')) {
      // A broker in this process without a listener, shared with the app through `{ broker }`
      // (the `{ dataDir }` log minus the broker's start) so that the bench can watch offsets
      // through the same in-process client.
      const broker = await startBroker({ dataDir: join(root, 'embedded'), listen: false, ...BENCH_BROKER_SETTINGS });
      cleanups.push(() => broker.close());
      const { inputEndOffsets } = await prepareBroker(broker, outputTopics(['embedded', 'embedded-eos']), args.records);
      const probe = new InProcessOffsetProbe(broker);
      const common = { log: { broker }, inputEndOffsets, expectedOutputRecords: expected, probe, pollIntervalMs: POLL_INTERVAL_MS, timeoutMs, brokerPid: undefined };
      for (const [name, processingGuarantee] of [['embedded', 'at_least_once'], ['embedded-eos', 'exactly_once']] as const) {
        if (!wanted(name)) continue;
        specs.push({
          name,
          client: 'streams app',
          log: 'embedded (in-process broker, no sockets)',
          guarantee: processingGuarantee,
          run: (round) => runStreamsRow({ ...common, applicationId: `bench-${name}-${round}`, outputTopic: `billed-${name}-${round}`, processingGuarantee }),
        });
      }
    }

    if (wanted('network') || wanted('kafkajs') || wanted('network-eos')) {
      // Prepared in this process, then served by a broker process on the same data directory.
      const dataDir = join(root, 'network');
      const preparing = await startBroker({ dataDir, listen: false, ...BENCH_BROKER_SETTINGS });
      const { inputEndOffsets } = await prepareBroker(preparing, outputTopics(['network', 'kafkajs', 'network-eos']), args.records).finally(() => preparing.close());
      const { child, bootstrap } = await startBrokerChild(dataDir);
      cleanups.push(() => stopBrokerChild(child));
      const probe = await KafkajsOffsetProbe.connect(bootstrap);
      cleanups.push(() => probe.close());
      const common = { inputEndOffsets, expectedOutputRecords: expected, probe, pollIntervalMs: POLL_INTERVAL_MS, timeoutMs, brokerPid: child.pid };
      const log = { brokers: [bootstrap] };
      for (const [name, processingGuarantee] of [['network', 'at_least_once'], ['network-eos', 'exactly_once']] as const) {
        if (!wanted(name)) continue;
        specs.push({
          name,
          client: 'streams app',
          log: 'broker process on loopback (kafkajs underneath)',
          guarantee: processingGuarantee,
          run: (round) => runStreamsRow({ ...common, log, applicationId: `bench-${name}-${round}`, outputTopic: `billed-${name}-${round}`, processingGuarantee }),
        });
      }
      if (wanted('kafkajs')) {
        const sendRecordsMax = args.kafkajsSendRecordsMax;
        specs.push({
          name: 'kafkajs',
          client: `kafkajs loop (baseline)${sendRecordsMax === undefined ? '' : `, ≤ ${sendRecordsMax} records per send`}`,
          log: 'broker process on loopback',
          guarantee: 'idempotent, commit after send',
          run: (round) => runKafkajsLoop({ ...common, bootstrap, groupId: `bench-kafkajs-${round}`, outputTopic: `billed-kafkajs-${round}`, sendRecordsMax }),
        });
      }
    }

    // Rounds interleave the rows, so that a slow spell of the machine does not land on one row only.
    const rounds = new Map<RowName, RowTiming[]>(specs.map((spec) => [spec.name, []]));
    for (let round = 0; round < args.repeat; round += 1) {
      for (const spec of RUN_ORDER.flatMap((name) => specs.filter((candidate) => candidate.name === name))) {
        const profileName = args.repeat === 1 ? spec.name : `${spec.name}-${round}`;
        rounds.get(spec.name)!.push(await profiled(args.profileDirectory, profileName, () => spec.run(round)));
      }
    }
    const rows = ROW_NAMES.flatMap((name) => specs.filter((spec) => spec.name === name)).map(({ run: _run, ...shown }) => rowOf(shown, rounds.get(shown.name)!));
    printReport(args, expected, rows);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await rm(root, { recursive: true, force: true });
  }
}

await main(parseCommandLine(parseArguments));
