import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { runBrokerCommand } from './broker-command.js';
import { consume } from './consume-command.js';
import { dumpFile } from './dump-log.js';
import { ExitError } from './exit-error.js';
import { deleteGroups, describeGroup, listGroups, parseDateTime, resetOffsets, type OffsetResetTarget } from './groups-command.js';
import { processIo, type CliIo } from './io.js';
import { BOOTSTRAP_SERVER_DEFAULT, BOOTSTRAP_SERVER_ENV } from './kafkajs-client.js';
import { printOffsets } from './offsets-command.js';
import { replay, type ReplayOptions } from './replay-command.js';
import { DEFAULT_DATA_DIR } from '@defter/streams';
import { runPipeline } from './run-command.js';
import { COMPRESSION_NAMES, produce } from './produce-command.js';
import { nearest } from './suggest.js';
import { alterTopic, createTopic, deleteTopic, describeTopic, listTopics } from './topics-command.js';
import { describeProducers, describeTransactions, listTransactions, parseStateFilters } from './transactions-command.js';

export { processIo, type CliIo } from './io.js';

/** Exit code of a usage error that names an unknown command (as commander's own usage errors are 1). */
const EXIT_UNKNOWN_COMMAND = 2;

function integerOption(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected an integer in [${min}, ${max}].`);
    const parsed = Number(value);
    if (parsed < min || parsed > max) throw new InvalidArgumentError(`expected an integer in [${min}, ${max}].`);
    return parsed;
  };
}

function offsetOption(value: string): bigint {
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('expected an offset (an integer; negative counts back from the end).');
  return BigInt(value.trim());
}

function parseDateTimeOption(value: string): bigint {
  try {
    return parseDateTime(value);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function collectProducerId(value: string, previous: bigint[]): bigint[] {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('expected a producer id (a non-negative integer).');
  return [...previous, BigInt(value.trim())];
}

/** Reports unknown subcommands of `command` with the nearest known one. */
function suggestUnknownCommands(command: Command, io: CliIo): void {
  command.on('command:*', (operands: string[]) => {
    const unknown = operands[0] ?? '';
    const known = command.commands.map((sub) => sub.name());
    const suggestion = nearest(unknown, known);
    const name = command.parent === null ? 'defter' : `defter ${command.name()}`;
    io.err(
      `${name}: unknown command '${unknown}'.` + (suggestion === undefined ? ` Known commands: ${known.join(', ')}.` : ` Did you mean '${suggestion}'?`),
    );
    process.exitCode = EXIT_UNKNOWN_COMMAND;
  });
}

export function createProgram(io: CliIo = processIo): Command {
  const bootstrapDefault = io.env[BOOTSTRAP_SERVER_ENV] ?? BOOTSTRAP_SERVER_DEFAULT;
  const bootstrapOption = ['-b, --bootstrap-server <host:port>', `the broker to talk to (env ${BOOTSTRAP_SERVER_ENV})`, bootstrapDefault] as const;

  const program = new Command('defter')
    .description('defter: a partitioned, append-only log that speaks the Apache Kafka protocol.')
    .showSuggestionAfterError(false)
    .configureOutput({
      writeOut: (text) => io.out(text.trimEnd()),
      writeErr: (text) => io.err(text.trimEnd()),
      outputError: (text, write) => write(`defter: ${text.replace(/^error: /, '')}`),
    })
    .exitOverride();

  program
    .command('broker')
    .description('run a broker in the foreground on a data directory (Ctrl-C stops it gracefully)')
    .option('-d, --data-dir <dir>', 'the data directory (log.dirs; default ./data)')
    .option('-p, --port <n>', 'the port to listen on (default 9092; 0 picks a free one)', integerOption(0, 65_535))
    .option('--host <host>', 'the address to listen on (default 127.0.0.1)')
    .option('-c, --config <file>', 'a defter.config.json or defter.config.ts (default: one in the working directory, if present)')
    .option('--set <key=value>', "any setting by Kafka's name, e.g. --set log.retention.hours=24 (repeatable)", collect, [])
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', io.env.DEFTER_LOG_LEVEL ?? 'info')
    .action(async (options: { dataDir?: string; port?: number; host?: string; config?: string; set: string[]; logLevel: string }) => {
      const settings: Record<string, string> = {};
      for (const pair of options.set) {
        const at = pair.indexOf('=');
        if (at <= 0) throw new Error(`--set expects key=value, got '${pair}'`);
        settings[pair.slice(0, at).trim()] = pair.slice(at + 1);
      }
      await runBrokerCommand({
        ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
        ...(options.port === undefined ? {} : { port: options.port }),
        ...(options.host === undefined ? {} : { host: options.host }),
        ...(options.config === undefined ? {} : { config: options.config }),
        settings,
        logLevel: options.logLevel,
        env: io.env,
        io,
      });
    });

  const topics = program.command('topics').description('list, create, describe, alter and delete topics');
  topics
    .command('list')
    .description('the names of every topic')
    .option(...bootstrapOption)
    .action(async (options: { bootstrapServer: string }) => listTopics({ bootstrapServer: options.bootstrapServer, io }));
  topics
    .command('create')
    .description('create a topic')
    .argument('<topic>')
    .option('--partitions <n>', 'number of partitions (default: the broker num.partitions)', integerOption(1, 0x7fffffff))
    .option('--replication-factor <n>', 'replicas per partition (default: the broker default.replication.factor)', integerOption(1, 32_767))
    .option('--config <key=value>', 'a topic config, e.g. retention.ms=86400000 (repeatable)', collect, [])
    .option(...bootstrapOption)
    .action(async (topic: string, options: { partitions?: number; replicationFactor?: number; config: string[]; bootstrapServer: string }) =>
      createTopic({ bootstrapServer: options.bootstrapServer, io }, topic, {
        config: options.config,
        ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
        ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }),
      }),
    );
  topics
    .command('describe')
    .description("a topic's partitions, their offsets, and its configs")
    .argument('<topic>')
    .option('--all-configs', 'every config value, not only the overrides', false)
    .option(...bootstrapOption)
    .action(async (topic: string, options: { allConfigs: boolean; bootstrapServer: string }) =>
      describeTopic({ bootstrapServer: options.bootstrapServer, io }, topic, { allConfigs: options.allConfigs }),
    );
  topics
    .command('alter')
    .description("change a topic's configs (only those named) or grow its partitions")
    .argument('<topic>')
    .option('--config <key=value>', 'set a topic config (repeatable)', collect, [])
    .option('--delete-config <key>', 'remove an override, back to the default (repeatable)', collect, [])
    .option('--partitions <n>', 'the new total number of partitions', integerOption(1, 0x7fffffff))
    .option(...bootstrapOption)
    .action(async (topic: string, options: { config: string[]; deleteConfig: string[]; partitions?: number; bootstrapServer: string }) =>
      alterTopic({ bootstrapServer: options.bootstrapServer, io }, topic, {
        config: options.config,
        deleteConfig: options.deleteConfig,
        ...(options.partitions === undefined ? {} : { partitions: options.partitions }),
      }),
    );
  topics
    .command('delete')
    .description('delete a topic and its data')
    .argument('<topic>')
    .option(...bootstrapOption)
    .action(async (topic: string, options: { bootstrapServer: string }) => deleteTopic({ bootstrapServer: options.bootstrapServer, io }, topic));
  suggestUnknownCommands(topics, io);

  const groups = program.command('groups').description('list, describe (offsets, lag, owners), delete consumer groups and reset their offsets');
  groups
    .command('list')
    .description('the ids of every consumer group')
    .option('--state', 'also print each group\'s state and protocol type', false)
    .option(...bootstrapOption)
    .action(async (options: { state: boolean; bootstrapServer: string }) => listGroups({ bootstrapServer: options.bootstrapServer, io }, { state: options.state }));
  groups
    .command('describe')
    .description("a group's state and members, and per partition its committed offset, log end offset, lag and owner")
    .argument('<group>')
    .option(...bootstrapOption)
    .action(async (group: string, options: { bootstrapServer: string }) => describeGroup({ bootstrapServer: options.bootstrapServer, io }, group));
  groups
    .command('delete')
    .description('delete groups that have no members, with their committed offsets')
    .argument('<groups...>')
    .option(...bootstrapOption)
    .action(async (ids: string[], options: { bootstrapServer: string }) => deleteGroups({ bootstrapServer: options.bootstrapServer, io }, ids));
  groups
    .command('reset-offsets')
    .description("move an inactive group's committed offsets (a dry run unless --execute)")
    .argument('<group>')
    .option('--topic <topic>', 'TOPIC, or TOPIC:P1,P2 for some partitions (repeatable)', collect, [])
    .option('--to-earliest', 'to the log start offset')
    .option('--to-latest', 'to the log end offset')
    .option('--to-datetime <iso>', 'to the first record at or after this time (ISO 8601)', parseDateTimeOption)
    .option('--to-offset <n>', 'to this offset (kept within the log)', offsetOption)
    .option('--shift-by <n>', 'by this many from the committed offset (negative: back)', offsetOption)
    .option('--execute', 'commit the new offsets (without it, only print them)', false)
    .option(...bootstrapOption)
    .action(
      async (
        group: string,
        options: { topic: string[]; toEarliest?: true; toLatest?: true; toDatetime?: bigint; toOffset?: bigint; shiftBy?: bigint; execute: boolean; bootstrapServer: string },
      ) => {
        const targets: OffsetResetTarget[] = [
          ...(options.toEarliest === true ? [{ kind: 'earliest' } as const] : []),
          ...(options.toLatest === true ? [{ kind: 'latest' } as const] : []),
          ...(options.toDatetime === undefined ? [] : [{ kind: 'datetime', timestampMs: options.toDatetime } as const]),
          ...(options.toOffset === undefined ? [] : [{ kind: 'offset', offset: options.toOffset } as const]),
          ...(options.shiftBy === undefined ? [] : [{ kind: 'shift', by: options.shiftBy } as const]),
        ];
        if (targets.length !== 1) throw new Error('give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset or --shift-by');
        await resetOffsets({ bootstrapServer: options.bootstrapServer, io }, group, { topics: options.topic, target: targets[0]!, execute: options.execute });
      },
    );
  suggestUnknownCommands(groups, io);

  const transactions = program.command('transactions').description('list and describe transactions, and the producers of a partition');
  transactions
    .command('list')
    .description('every transactional id, its producer id and state')
    .option('--state <state>', 'only transactions in this state, e.g. Ongoing (repeatable, or comma-separated)', collect, [])
    .option('--producer-id <id>', 'only this producer id (repeatable)', collectProducerId, [])
    .option('--min-duration <ms>', 'only transactions running longer than this', integerOption(0))
    .option(...bootstrapOption)
    .action(async (options: { state: string[]; producerId: bigint[]; minDuration?: number; bootstrapServer: string }) =>
      listTransactions(
        { bootstrapServer: options.bootstrapServer, io },
        {
          states: parseStateFilters(options.state),
          producerIds: options.producerId,
          ...(options.minDuration === undefined ? {} : { durationMsMin: options.minDuration }),
        },
      ),
    );
  transactions
    .command('describe')
    .description("a transaction's state, producer id and epoch, timeout, start time, duration and partitions")
    .argument('<transactionalIds...>')
    .option(...bootstrapOption)
    .action(async (ids: string[], options: { bootstrapServer: string }) => describeTransactions({ bootstrapServer: options.bootstrapServer, io }, ids));
  transactions
    .command('producers')
    .description("the producers a topic's partitions keep state for, with each open transaction's first offset (what holds the LSO back)")
    .requiredOption('--topic <topic>', 'the topic')
    .option('--partition <n>', 'only this partition', integerOption(0, 0x7fffffff))
    .option(...bootstrapOption)
    .action(async (options: { topic: string; partition?: number; bootstrapServer: string }) =>
      describeProducers({ bootstrapServer: options.bootstrapServer, io }, options.topic, options.partition),
    );
  suggestUnknownCommands(transactions, io);

  program
    .command('produce')
    .description('send each line of standard input as a record')
    .argument('<topic>')
    .option('-K, --key-separator <sep>', 'the text before the first <sep> on a line is its key')
    .option('--partition <n>', 'send every record to this partition', integerOption(0, 0x7fffffff))
    .option('--acks <acks>', 'acknowledgements to wait for: 0, 1, -1 or all', '1')
    .option('-H, --header <key=value>', 'a header on every record (repeatable)', collect, [])
    .option('-z, --compression <codec>', Object.keys(COMPRESSION_NAMES).join(', '), 'none')
    .option('--batch-records <n>', 'records per request', integerOption(1, 1_000_000), 1000)
    .option('--batch-bytes <n>', 'bytes per request (approximate)', integerOption(1, 0x7fffffff), 16 * 1024)
    .option('-q, --quiet', 'no progress and no summary on stderr', false)
    .option(...bootstrapOption)
    .action(
      async (
        topic: string,
        options: {
          keySeparator?: string;
          partition?: number;
          acks: string;
          header: string[];
          compression: string;
          batchRecords: number;
          batchBytes: number;
          quiet: boolean;
          bootstrapServer: string;
        },
      ) => {
        await produce(topic, {
          bootstrapServer: options.bootstrapServer,
          io,
          acks: options.acks,
          headers: options.header,
          compression: options.compression,
          batchRecords: options.batchRecords,
          batchBytes: options.batchBytes,
          quiet: options.quiet,
          ...(options.keySeparator === undefined ? {} : { keySeparator: options.keySeparator }),
          ...(options.partition === undefined ? {} : { partition: options.partition }),
        });
      },
    );

  program
    .command('consume')
    .description('print records of a topic (from the end, unless told where to start)')
    .argument('<topic>')
    .option('--from-beginning', 'start at the earliest offset of each partition', false)
    .option('-o, --offset <n>', 'start at this offset (negative: this many before the end)', offsetOption)
    .option('--partition <n>', 'read only this partition', integerOption(0, 0x7fffffff))
    .option('-n, --max-messages <n>', 'stop after this many records', integerOption(1))
    .option('-e, --exit-at-end', 'stop once every partition has been read to its end', false)
    .option('-f, --format <format>', 'placeholders %k key, %v value, %p partition, %o offset, %t timestamp, %h headers, %s topic', '%v')
    .option('-q, --quiet', 'no progress and no summary on stderr', false)
    .option(...bootstrapOption)
    .action(
      async (
        topic: string,
        options: {
          fromBeginning: boolean;
          offset?: bigint;
          partition?: number;
          maxMessages?: number;
          exitAtEnd: boolean;
          format: string;
          quiet: boolean;
          bootstrapServer: string;
        },
      ) => {
        await consume(topic, {
          bootstrapServer: options.bootstrapServer,
          io,
          fromBeginning: options.fromBeginning,
          exitAtEnd: options.exitAtEnd,
          format: options.format,
          quiet: options.quiet,
          ...(options.offset === undefined ? {} : { offset: options.offset }),
          ...(options.partition === undefined ? {} : { partition: options.partition }),
          ...(options.maxMessages === undefined ? {} : { maxMessages: options.maxMessages }),
        });
      },
    );

  program
    .command('offsets')
    .description('the earliest and latest offset of each partition of a topic')
    .argument('<topic>')
    .option('--partition <n>', 'only this partition', integerOption(0, 0x7fffffff))
    .option(...bootstrapOption)
    .action(async (topic: string, options: { partition?: number; bootstrapServer: string }) =>
      printOffsets(topic, { bootstrapServer: options.bootstrapServer, io, ...(options.partition === undefined ? {} : { partition: options.partition }) }),
    );

  program
    .command('run')
    .description('run a pipeline file until its app stops: the default export builds a StreamsApp from (context: { log, args })')
    .argument('<file>', 'a .ts, .mts, .js or .mjs file')
    .argument('[args...]', 'given to the pipeline as context.args (put them after --)')
    .option('--brokers <host:port,...>', 'a Kafka-compatible cluster, through kafkajs (default: the embedded log on --data-dir)')
    .option('-b, --bootstrap-server <host:port,...>', 'the same as --brokers')
    .option('-d, --data-dir <dir>', `the embedded log's data directory, in this process (default ${DEFAULT_DATA_DIR}, as defter broker)`)
    .option('--status-interval-ms <ms>', 'a status line (records in/out, lag, commits) on stderr this often; 0: never', integerOption(0), 0)
    .option('-q, --quiet', 'no state changes on stderr', false)
    .addHelpText(
      'after',
      [
        '',
        'The app stops gracefully on SIGINT/SIGTERM (finishes the batch, commits, leaves the group).',
        'Exit status: 0 when the app stops (NOT_RUNNING), 1 when it fails (ERROR), 2 for a file that is not a pipeline.',
        '',
        'Example pipeline (pipeline.ts):',
        "  import { app, definePipeline, Serdes } from '@defter/streams';",
        '  export default definePipeline(({ log, args }) => {',
        "    const upper = app({ applicationId: 'upper', log });",
        "    upper.stream(args[0] ?? 'in', { key: Serdes.string(), value: Serdes.string() })",
        '      .mapValues((text) => text?.toUpperCase() ?? null)',
        "      .to(args[1] ?? 'out', { key: Serdes.string(), value: Serdes.string() });",
        '    return upper;',
        '  });',
        '  defter run pipeline.ts --brokers localhost:9092 -- in out',
      ].join('\n'),
    )
    .action(
      async (
        file: string,
        args: string[],
        options: { brokers?: string; bootstrapServer?: string; dataDir?: string; statusIntervalMs: number; quiet: boolean },
      ) => {
        const brokers = options.brokers ?? options.bootstrapServer;
        await runPipeline({
          io,
          file,
          args,
          statusIntervalMs: options.statusIntervalMs,
          quiet: options.quiet,
          ...(brokers === undefined ? {} : { brokers }),
          ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
        });
      },
    );

  program
    .command('replay')
    .description('re-read a slice of a topic, in order, to stdout, a file or another topic')
    .argument('<topic>')
    .requiredOption('--from <position>', 'an offset, an ISO 8601 time (2026-11-23T10:00:00Z), @<epoch ms>, or a time before now (-15m, -2h)')
    .option('--to <position>', 'where to stop, exclusive, in the same forms (default: the end when the replay starts)')
    .option('--partition <n>', 'only this partition', integerOption(0, 0x7fffffff))
    .option('--to-topic <topic>', 'write the records to this existing topic (key, value, headers and timestamp kept)')
    .option('--out <file>', 'write the records to this file')
    .option('-f, --format <format>', 'consume placeholders (%k %v %p %o %t %h %s) instead of JSON lines')
    .option('--brokers <host:port,...>', `a running broker (default $${BOOTSTRAP_SERVER_ENV}, else ${BOOTSTRAP_SERVER_DEFAULT})`)
    .option('-b, --bootstrap-server <host:port>', 'the same as --brokers')
    .option('-d, --data-dir <dir>', "a stopped broker's data directory, opened in this process")
    .option('-q, --quiet', 'no progress and no summary on stderr', false)
    .addHelpText(
      'after',
      [
        '',
        'Records are read read_committed; several partitions are merged by timestamp (ties by partition, then',
        "offset), each partition's order kept. Output: JSON lines {topic, partition, offset, timestamp, encoding,",
        'key, value, headers}, with key, value and header values as UTF-8 text (encoding "utf8") or, when one is',
        'not valid UTF-8, all in base64 (encoding "base64"). --to-topic keeps partition numbers when the target',
        'has at least as many partitions, else places records by murmur2 of the key.',
      ].join('\n'),
    )
    .action(async (topic: string, options: Omit<ReplayOptions, 'io' | 'nowMs'> & { brokers?: string }) => {
      // Commander sets only the options given; the replay's own are passed on as they are.
      const { brokers, bootstrapServer, ...replayOptions } = options;
      const given = brokers ?? bootstrapServer;
      await replay(topic, {
        ...replayOptions,
        io,
        ...(options.dataDir === undefined ? { bootstrapServer: given ?? bootstrapDefault } : {}),
        ...(options.dataDir !== undefined && given !== undefined ? { bootstrapServer: given } : {}),
      });
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

  suggestUnknownCommands(program, io);
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
    io.err(`defter: ${sentence(error instanceof Error ? error.message : String(error))}`);
    process.exitCode = error instanceof ExitError ? error.exitCode : 1;
  }
}

/** Ends a message with one full stop (or its own ? or !). */
function sentence(message: string): string {
  const trimmed = message.trim();
  return /[.?!]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}
