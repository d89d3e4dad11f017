/** The bench's command line: what to run, how much, how often. */
import { UsageError } from './command-line.js';

export { UsageError };

/** Also the order of the table. */
export const ROW_NAMES = ['embedded', 'network', 'kafkajs', 'embedded-eos', 'network-eos'] as const;
export type RowName = (typeof ROW_NAMES)[number];

const RECORDS_FULL = 1_000_000;
const RECORDS_QUICK = 100_000;

export const USAGE =
  `usage: main.js [--quick] [--records N] [--rows ${ROW_NAMES.join(',')}] [--repeat N] [--kafkajs-send-records N] [--profile DIR]`;

export interface BenchArguments {
  readonly records: number;
  readonly rows: ReadonlySet<RowName>;
  readonly quick: boolean;
  /** Rounds of every row (`--repeat N`); the table shows each row's median round. */
  readonly repeat: number;
  /** The kafkajs loop's records per send (`--kafkajs-send-records N`); undefined: one send per batch. */
  readonly kafkajsSendRecordsMax: number | undefined;
  /** Where to write a CPU profile of each row (`--profile DIR`). */
  readonly profileDirectory: string | undefined;
}


export function parseArguments(argv: readonly string[]): BenchArguments {
  let quick = false;
  let records: number | undefined;
  let rows: ReadonlySet<RowName> = new Set(ROW_NAMES);
  let repeat = 1;
  let kafkajsSendRecordsMax: number | undefined;
  let profileDirectory: string | undefined;
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index]!;
    const value = () => argv[++index];
    switch (argument) {
      case '--quick':
        quick = true;
        break;
      case '--records':
        records = positiveInteger(argument, value(), 'records');
        break;
      case '--rows':
        rows = rowNames(value());
        break;
      case '--repeat':
        repeat = positiveInteger(argument, value(), 'rounds');
        break;
      case '--kafkajs-send-records':
        kafkajsSendRecordsMax = positiveInteger(argument, value(), 'records');
        break;
      case '--profile':
        profileDirectory = value();
        if (profileDirectory === undefined || profileDirectory.length === 0) throw new UsageError('--profile needs a directory to write the CPU profiles into');
        break;
      default:
        throw new UsageError(`unknown argument ${argument}; ${USAGE}`);
    }
  }
  return { quick, records: records ?? (quick ? RECORDS_QUICK : RECORDS_FULL), rows, repeat, kafkajsSendRecordsMax, profileDirectory };
}

function positiveInteger(flag: string, value: string | undefined, unit: string): number {
  const parsed = Number(value);
  if (value === undefined || value.trim() === '' || !Number.isSafeInteger(parsed) || parsed < 1) {
    throw new UsageError(`${flag} needs a whole number of ${unit} above 0, not ${String(value)}`);
  }
  return parsed;
}

function rowNames(value: string | undefined): ReadonlySet<RowName> {
  const names = (value ?? '').split(',').filter((name) => name.length > 0);
  const unknown = names.filter((name) => !(ROW_NAMES as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) {
    throw new UsageError(`--rows takes a comma-separated list of ${ROW_NAMES.join(', ')}; got ${names.length === 0 ? 'nothing' : unknown.join(', ')}`);
  }
  return new Set(names as RowName[]);
}
