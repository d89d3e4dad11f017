import { existsSync, statSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DEFAULT_DATA_DIR, type PipelineContext, type StreamsApp } from '@defter/streams';
import { EXIT_BAD_INPUT, ExitError } from './exit-error.js';
import type { CliIo } from './io.js';

/**
 * `defter run FILE`: loads a pipeline file (TypeScript through tsx, JavaScript with import()),
 * calls its default export with the log to use and the arguments after `--`, starts the app it
 * returns, reports each state change (and, if asked, a periodic status line) on stderr, and
 * returns when the app stops: NOT_RUNNING is success, ERROR fails with the app's error.
 *
 * SIGINT/SIGTERM are the app's own business: `StreamsApp.start()` stops it gracefully on them
 * (finish the batch, commit, leave the group) and re-raises the signal; a second handler here
 * would race that shutdown.
 */

export interface RunPipelineOptions {
  io: CliIo;
  /** The pipeline file. */
  file: string;
  /** Passed on as `context.args`. */
  args: readonly string[];
  /** A Kafka-compatible cluster (`host:port[,host:port…]`), through kafkajs. */
  brokers?: string;
  /** The embedded log's data directory (when no `brokers`); `./data` by default, as `defter broker`. */
  dataDir?: string;
  /** A status line this often (0: never). */
  statusIntervalMs: number;
  /** No state lines. */
  quiet: boolean;
}


const PIPELINE_EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs']);
const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts']);

/** Runs the pipeline until its app stops; rejects with an `ExitError` (exit 2 for bad input, 1 when the app fails). */
export async function runPipeline(options: RunPipelineOptions): Promise<void> {
  const context: PipelineContext = { log: pipelineLog(options), args: [...options.args] };
  const pipeline = await loadPipeline(options.file);
  const app = await buildApp(pipeline, context, options.file);
  const name = `pipeline ${app.applicationId}`;

  let lastState = app.state;
  let subscription: ReturnType<StreamsApp['state$']['subscribe']> | undefined;
  const stopped = new Promise<void>((resolveStopped) => {
    subscription = app.state$.subscribe({
      next: (state) => {
        if (state !== lastState && !options.quiet) options.io.err(`${name}: ${lastState} -> ${state}`);
        lastState = state;
      },
      complete: () => resolveStopped(),
    });
  });
  const statusTimer =
    options.statusIntervalMs > 0
      ? setInterval(() => {
          if (app.state === 'RUNNING' || app.state === 'REBALANCING') options.io.err(statusLine(name, app));
        }, options.statusIntervalMs)
      : undefined;
  // The status line never keeps the process alive on its own: the app's consumer does while it runs.
  statusTimer?.unref();
  try {
    try {
      await app.start();
    } catch (error) {
      // A refusal before the app moved at all (no streams, say) is a pipeline to fix; anything
      // else moved it to ERROR (or it was closed while joining), which `stopped` reports.
      if (app.state === 'CREATED') throw new ExitError(`${options.file}: ${messageOf(error)}`, EXIT_BAD_INPUT);
    }
    await stopped;
  } finally {
    if (statusTimer !== undefined) clearInterval(statusTimer);
    subscription?.unsubscribe();
  }
  if (app.state === 'ERROR') throw new ExitError(`${name} failed: ${messageOf(app.error)}`, 1);
}

/** `{ brokers }` with --brokers, else the embedded log on --data-dir. */
function pipelineLog(options: RunPipelineOptions): PipelineContext['log'] {
  if (options.brokers !== undefined) {
    if (options.dataDir !== undefined) {
      throw new ExitError('give either --brokers (a cluster) or --data-dir (the embedded log), not both', EXIT_BAD_INPUT);
    }
    const brokers = options.brokers.split(',').map((broker) => broker.trim()).filter((broker) => broker.length > 0);
    if (brokers.length === 0) throw new ExitError('--brokers needs at least one host:port', EXIT_BAD_INPUT);
    return { brokers };
  }
  return { dataDir: resolve(options.dataDir ?? DEFAULT_DATA_DIR) };
}

type PipelineFunction = (context: PipelineContext) => unknown;

async function loadPipeline(file: string): Promise<PipelineFunction> {
  const path = resolve(file);
  if (!existsSync(path)) throw new ExitError(`pipeline file '${file}' does not exist`, EXIT_BAD_INPUT);
  if (!statSync(path).isFile()) throw new ExitError(`'${file}' is not a file: give a pipeline file (.ts, .mts, .js or .mjs)`, EXIT_BAD_INPUT);
  const extension = extname(path);
  if (!PIPELINE_EXTENSIONS.has(extension)) {
    throw new ExitError(`'${file}' is not a pipeline file: expected a .ts, .mts, .js or .mjs file`, EXIT_BAD_INPUT);
  }
  let module: Record<string, unknown>;
  try {
    const url = pathToFileURL(path).href;
    if (TYPESCRIPT_EXTENSIONS.has(extension)) {
      // Loaded only for TypeScript files: tsx registers a loader for this one import.
      const { tsImport } = await import('tsx/esm/api');
      module = (await tsImport(url, import.meta.url)) as Record<string, unknown>;
    } else {
      module = (await import(url)) as Record<string, unknown>;
    }
  } catch (error) {
    throw new ExitError(`cannot load pipeline file '${file}': ${messageOf(error)}`, EXIT_BAD_INPUT);
  }
  // A file compiled as CommonJS arrives as { default: module.exports }.
  const exported = module.default;
  const pipeline = typeof exported === 'object' && exported !== null && typeof (exported as { default?: unknown }).default === 'function' ? (exported as { default: unknown }).default : exported;
  if (pipeline === undefined) {
    throw new ExitError(`pipeline file '${file}' has no default export: export default a function (context) => app({ ..., log: context.log })`, EXIT_BAD_INPUT);
  }
  if (typeof pipeline !== 'function') {
    throw new ExitError(`the default export of '${file}' is ${describeValue(pipeline)}, not a function (context) => StreamsApp`, EXIT_BAD_INPUT);
  }
  return pipeline as PipelineFunction;
}

async function buildApp(pipeline: PipelineFunction, context: PipelineContext, file: string): Promise<StreamsApp> {
  let built: unknown;
  try {
    built = await pipeline(context);
  } catch (error) {
    throw new ExitError(`the pipeline in '${file}' failed to build its app: ${messageOf(error)}`, EXIT_BAD_INPUT);
  }
  if (!isStreamsApp(built)) {
    throw new ExitError(`the pipeline in '${file}' returned ${describeValue(built)}, not a StreamsApp (return the app that app({ ... }) made)`, EXIT_BAD_INPUT);
  }
  const state = built.state;
  if (state !== 'CREATED') {
    // It may hold a group membership and connections: let it go before reporting.
    await built.close().catch(() => undefined);
    throw new ExitError(`the pipeline in '${file}' returned an app that was already started (state ${state}): return it unstarted, defter run starts it`, EXIT_BAD_INPUT);
  }
  return built;
}

/**
 * By shape rather than `instanceof`: a pipeline loaded through tsx, or one with its own copy of
 * @defter/streams, has a StreamsApp class of its own.
 */
function isStreamsApp(value: unknown): value is StreamsApp {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Record<keyof StreamsApp, unknown>>;
  return (
    typeof candidate.start === 'function' &&
    typeof candidate.close === 'function' &&
    typeof candidate.metrics === 'function' &&
    typeof candidate.applicationId === 'string' &&
    typeof candidate.state === 'string' &&
    typeof (candidate.state$ as { subscribe?: unknown } | undefined)?.subscribe === 'function'
  );
}

/** Records in and out, lag and commits, summed over the app's tasks. */
function statusLine(name: string, app: StreamsApp): string {
  const metrics = app.metrics();
  let recordsIn = 0;
  let recordsOut = 0;
  let lag = 0;
  for (const task of metrics.tasks) {
    recordsIn += task.recordsIn;
    recordsOut += task.recordsOut;
    lag += task.lag;
  }
  return `${name}: ${metrics.state}, ${metrics.tasks.length} task(s), ${recordsIn} record(s) in, ${recordsOut} out, lag ${lag}, ${metrics.commits} commit(s)`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`;
}

function messageOf(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().replace(/\.$/, '');
}
