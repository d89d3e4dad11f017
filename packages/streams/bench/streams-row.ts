/**
 * A row of the benchmark for the streams runtime: the map+filter pipeline as an app, on whichever
 * log it is given, timed from `start()` until the output holds every expected record and the
 * group's committed offsets have reached the input's end.
 */
import { performance } from 'node:perf_hooks';
import { Serdes, app, type AppOptions, type ProcessingGuarantee } from '../src/index.js';
import { startCpuCount, type CpuSpent } from './cpu.js';
import { INPUT_TOPIC, TOPIC_PARTITIONS } from './bench-broker.js';
import { waitForCommitted, waitForOutput, type OffsetProbe } from './offset-probe.js';
import { billOrder, keepOrder, type BilledOrder, type Order } from './workload.js';

export interface RowTiming extends CpuSpent {
  readonly seconds: number;
  /** The records the output holds (read_committed end offsets; exactly_once: transaction markers included). */
  readonly outputOffsets: bigint;
}

/** What every row (the streams rows and the kafkajs loop) is given: where the input ends, what the output must reach, how to watch it. */
export interface RowOptions {
  readonly outputTopic: string;
  readonly inputEndOffsets: readonly bigint[];
  readonly expectedOutputRecords: number;
  readonly probe: OffsetProbe;
  readonly pollIntervalMs: number;
  readonly timeoutMs: number;
  readonly brokerPid: number | undefined;
}

export interface StreamsRowOptions extends RowOptions {
  readonly log: NonNullable<AppOptions['log']>;
  readonly applicationId: string;
  readonly processingGuarantee: ProcessingGuarantee;
}

/**
 * The pipeline every streams row runs: orders (JSON) → mapValues(billOrder) → filter(keepOrder) →
 * billed orders (JSON), keys as strings, the app's defaults otherwise (commit interval, fetch
 * sizes, partitions handled at once).
 */
function buildApp(options: StreamsRowOptions) {
  const streamsApp = app({ applicationId: options.applicationId, log: options.log, processingGuarantee: options.processingGuarantee });
  streamsApp
    .stream(INPUT_TOPIC, { key: Serdes.string(), value: Serdes.json<Order>() })
    .mapValues((order) => billOrder(order!))
    .filter((record) => keepOrder(record.value!))
    .to(options.outputTopic, { key: Serdes.string(), value: Serdes.json<BilledOrder>() });
  return streamsApp;
}

export async function runStreamsRow(options: StreamsRowOptions): Promise<RowTiming> {
  const streamsApp = buildApp(options);
  const completion = {
    probe: options.probe,
    pollIntervalMs: options.pollIntervalMs,
    timeoutMs: options.timeoutMs,
    failure: () => (streamsApp.state === 'ERROR' ? (streamsApp.error ?? new Error('the app stopped in ERROR')) : undefined),
  };
  let closing: Promise<void> | undefined;
  try {
    const cpuSpent = startCpuCount(options.brokerPid);
    const started = performance.now();
    await streamsApp.start();
    let outputOffsets: bigint;
    if (options.processingGuarantee === 'exactly_once') {
      // Outputs and input offsets commit in one transaction (every 100 ms by default): once the
      // offsets are at the end, so is the output.
      await waitForCommitted(completion, options.applicationId, INPUT_TOPIC, options.inputEndOffsets);
      outputOffsets = await waitForOutput(completion, options.outputTopic, TOPIC_PARTITIONS, options.expectedOutputRecords);
    } else {
      outputOffsets = await waitForOutput(completion, options.outputTopic, TOPIC_PARTITIONS, options.expectedOutputRecords);
      // at_least_once commits every 30 s (Kafka Streams' default) or when a task holds too many
      // uncommitted records: the tail of the input is committed by the commit close() makes,
      // started as soon as the output is complete. The row ends when that commit is visible.
      closing = streamsApp.close();
      await waitForCommitted(completion, options.applicationId, INPUT_TOPIC, options.inputEndOffsets);
    }
    const seconds = (performance.now() - started) / 1000;
    return { seconds, outputOffsets, ...cpuSpent() };
  } finally {
    await (closing ?? streamsApp.close());
  }
}
