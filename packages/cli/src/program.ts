import { Command, CommanderError } from 'commander';
import { closest } from 'fastest-levenshtein';
import { dumpFile } from './dump-log.js';
import { runStorageNode } from './start.js';

/** Where the command writes; injectable so tests can capture it. */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const processIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

export function createProgram(io: CliIo = processIo): Command {
  const program = new Command('defter')
    .description('defter: a partitioned, append-only log that speaks the Apache Kafka protocol.')
    .showSuggestionAfterError(false)
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();

  program
    .command('start')
    .description('open a data directory with the storage engine: lock it, recover every partition, run retention and compaction until stopped')
    .option('-d, --data-dir <dir>', 'the data directory', './data')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', 'info')
    .action(async (options: { dataDir: string; logLevel: string }) => {
      await runStorageNode({ dataDir: options.dataDir, logLevel: options.logLevel, io });
    });

  program
    .command('dump-log')
    .description('print the batches of .log files (checking each CRC) or the entries of .index/.timeindex files')
    .argument('<files...>', 'segment files')
    .option('--records', 'also print every record of each batch', false)
    .action(async (files: string[], options: { records: boolean }) => {
      let invalid = false;
      for (const file of files) {
        io.out(`Dumping ${file}`);
        const summary = await dumpFile(file, { records: options.records, write: io.out });
        if (summary.invalidAtPosition !== null) invalid = true;
      }
      if (invalid) process.exitCode = 1;
    });

  program.on('command:*', (operands: string[]) => {
    const unknown = operands[0] ?? '';
    const known = program.commands.map((command) => command.name());
    io.err(`defter: unknown command '${unknown}'. Did you mean '${closest(unknown, known)}'?`);
    process.exitCode = 2;
  });
  return program;
}

/** Parses and runs; a usage error or a failure prints one sentence and sets a non-zero exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<void> {
  const program = createProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode !== 0) process.exitCode = error.exitCode;
      return;
    }
    io.err(`defter: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
