/** The bench's table, the targets and the CPU cross-check, printed as Markdown. */
import type { BenchArguments, RowName } from './arguments.js';
import { TOPIC_PARTITIONS } from './bench-broker.js';
import type { RowTiming } from './streams-row.js';
import { orderValue } from './workload.js';

const TARGET_EMBEDDED_VS_KAFKAJS = 2.0;
const TARGET_NETWORK_VS_KAFKAJS = 1.0;

export interface Row {
  readonly name: RowName;
  readonly client: string;
  readonly log: string;
  readonly guarantee: string;
  /** The median round (the lower middle one for an even count): what the table shows. */
  readonly timing: RowTiming;
  /** Every round, fastest first. */
  readonly rounds: readonly RowTiming[];
}

/** A row from its rounds, in any order. */
export function rowOf(shown: Omit<Row, 'timing' | 'rounds'>, rounds: readonly RowTiming[]): Row {
  const byTime = [...rounds].sort((a, b) => a.seconds - b.seconds);
  return { ...shown, timing: byTime[Math.floor((byTime.length - 1) / 2)]!, rounds: byTime };
}

const format = (n: number) => Math.round(n).toLocaleString('en-US');

/** The median round's seconds, and with several rounds the fastest and slowest. */
function secondsShown(row: Row): string {
  const median = row.timing.seconds.toFixed(2);
  return row.rounds.length === 1 ? median : `${median} (${row.rounds[0]!.seconds.toFixed(2)}–${row.rounds.at(-1)!.seconds.toFixed(2)})`;
}

/** CPU seconds as a share of one core over the row's wall time. */
function cpuShare(cpuSeconds: number | undefined, row: Row): string {
  return cpuSeconds === undefined ? '—' : `${Math.round((100 * cpuSeconds) / row.timing.seconds)}%`;
}

export function printReport(args: BenchArguments, expectedOutputs: number, rows: readonly Row[]): void {
  const recordsPerSecond = (row: Row) => args.records / row.timing.seconds;
  // Both processes' CPU per input record: less sensitive than records/s to other work on the machine.
  const cpuMicrosecondsPerRecord = (row: Row) => ((row.timing.benchCpuSeconds + (row.timing.brokerCpuSeconds ?? 0)) * 1e6) / args.records;
  const conditions = [
    ...(args.quick ? ['--quick'] : []),
    ...(args.repeat > 1 ? [`${args.repeat} rounds, rows interleaved, each row's median round shown with the fastest–slowest range`] : []),
    ...(args.profileDirectory !== undefined ? ["profiled: the figures include the profiler's cost"] : []),
  ];
  console.log(
    `defter streams: a map+filter pipeline over ${format(args.records)} records (string keys, ~${Buffer.byteLength(orderValue(args.records - 1))}-byte JSON values, ` +
      `${TOPIC_PARTITIONS} partitions) → ${format(expectedOutputs)} outputs${conditions.length > 0 ? ` (${conditions.join('; ')})` : ''}. ` +
      "records/s = input records ÷ the time from the client's start until every output is written and every input offset committed.",
  );
  console.log('');
  console.log('| row | client | log | guarantee | seconds | records/s | ÷ kafkajs loop | bench process CPU | broker process CPU | CPU µs per record |');
  console.log('|---|---|---|---|---:|---:|---:|---:|---:|---:|');
  const baseline = rows.find((row) => row.name === 'kafkajs');
  const notes: string[] = [];
  for (const row of rows) {
    const ratio = baseline === undefined ? '—' : `${(recordsPerSecond(row) / recordsPerSecond(baseline)).toFixed(2)}×`;
    const brokerCpu = row.name.startsWith('embedded') ? 'in the bench process' : cpuShare(row.timing.brokerCpuSeconds, row);
    console.log(
      `| ${row.name} | ${row.client} | ${row.log} | ${row.guarantee} | ${secondsShown(row)} | ${format(recordsPerSecond(row))} | ${ratio} | ` +
        `${cpuShare(row.timing.benchCpuSeconds, row)} | ${brokerCpu} | ${cpuMicrosecondsPerRecord(row).toFixed(1)} |`,
    );
    // exactly_once outputs hold transaction markers too; the others must hold exactly the outputs.
    for (const { outputOffsets } of row.rounds) {
      if (row.guarantee !== 'exactly_once' && outputOffsets !== BigInt(expectedOutputs)) {
        notes.push(`row ${row.name}: the output holds ${outputOffsets} records, expected ${expectedOutputs} (duplicates from a retry?)`);
      }
    }
  }
  console.log('');
  if (baseline === undefined) {
    console.log('Targets: not checked (the kafkajs loop row was not run).');
  } else {
    const embedded = rows.find((row) => row.name === 'embedded');
    const network = rows.find((row) => row.name === 'network');
    const target = (label: string, row: Row | undefined, wantedRatio: number) => {
      if (row === undefined) return `${label}: not measured`;
      const ratio = recordsPerSecond(row) / recordsPerSecond(baseline);
      return `${label} ${ratio.toFixed(2)} (≥ ${wantedRatio.toFixed(1)}: ${ratio >= wantedRatio ? 'met' : 'MISSED'})`;
    };
    console.log(`Targets: ${target('embedded ÷ kafkajs loop', embedded, TARGET_EMBEDDED_VS_KAFKAJS)}; ${target('network ÷ kafkajs loop', network, TARGET_NETWORK_VS_KAFKAJS)}.`);
    const cpuRatio = (row: Row | undefined) => (row === undefined ? '—' : `${(cpuMicrosecondsPerRecord(baseline) / cpuMicrosecondsPerRecord(row)).toFixed(2)}×`);
    console.log(
      `CPU per record, the kafkajs loop's ÷ the row's (a cross-check when other work shares the machine): embedded ${cpuRatio(embedded)}, network ${cpuRatio(network)}.`,
    );
  }
  for (const note of notes) console.log(`Note: ${note}`);
}
