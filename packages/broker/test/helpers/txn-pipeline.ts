import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { killQuietly } from './processes.js';

/**
 * The consume–transform–produce processors of the `txn-pipeline` test, each run in a child process
 * that the test SIGKILLs and restarts: kafkajs (txn-pipeline-process.ts) and librdkafka
 * (python/txn_pipeline.py), printing the same JSON events.
 */

/** What the pipeline writes for an input value: a pure function, so the test can compute the expected output. */
export function transformValue(value: string): string {
  return `${value.toUpperCase()}.${value.length}`;
}

/** Where a processor is in its loop: records sent, offsets sent, transaction committed. */
export type PipelineStage = 'sent' | 'offsets' | 'committed';

/** The JSON lines the processors print: each stage of each transaction, and each group join. */
export type PipelineEvent = { type: 'joined'; assignment: number[] } | { type: PipelineStage; records: number };

export interface PipelineOptions {
  readonly bootstrap: string;
  readonly groupId: string;
  readonly input: string;
  readonly output: string;
  readonly transactionalId: string;
  /** Records per transaction. */
  readonly chunkSize: number;
  readonly sessionTimeoutMs: number;
  /** The pause after each commit (the processor's "processing time"). */
  readonly pauseMs: number;
}

export interface PipelineProcess {
  readonly child: ChildProcess;
  /** How often this process has reported each stage. */
  readonly reached: Record<PipelineStage, number>;
  /** Resolves true when `stage` has been reported `count` times, false if the process ends first. */
  reachedAtLeast(stage: PipelineStage, count: number): Promise<boolean>;
  /** Resolves once the process has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

const PROCESS_SCRIPT = fileURLToPath(new URL('./txn-pipeline-process.ts', import.meta.url));
const PYTHON_SCRIPT = fileURLToPath(new URL('./python/txn_pipeline.py', import.meta.url));

function pipelineArguments(options: PipelineOptions): string[] {
  return [options.bootstrap, options.groupId, options.input, options.output, options.transactionalId, String(options.chunkSize), String(options.sessionTimeoutMs), String(options.pauseMs)];
}

/** Starts one kafkajs processor (txn-pipeline-process.ts); it is killed when the test ends. */
export function spawnPipeline(t: ExecutionContext, options: PipelineOptions): PipelineProcess {
  return spawnProcessor(t, process.execPath, ['--import', 'tsx', '--conditions=defter-source', PROCESS_SCRIPT, ...pipelineArguments(options)]);
}

/** Starts one librdkafka processor (python/txn_pipeline.py, run by `python`); it is killed when the test ends. */
export function spawnPythonPipeline(t: ExecutionContext, python: string, options: PipelineOptions): PipelineProcess {
  return spawnProcessor(t, python, [PYTHON_SCRIPT, ...pipelineArguments(options)]);
}

function spawnProcessor(t: ExecutionContext, command: string, args: readonly string[]): PipelineProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => killQuietly(child));
  const stderrChunks: Buffer[] = [];
  child.stderr!.on('data', (chunk: Buffer) => stderrChunks.push(chunk));
  // 'close', not 'exit': every line the process printed has been read by then.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const waiters: Array<{ stage: PipelineStage; count: number; resolve: (reached: boolean) => void }> = [];
  const pipeline: PipelineProcess = {
    child,
    reached: { sent: 0, offsets: 0, committed: 0 },
    exited,
    reachedAtLeast: (stage, count) =>
      new Promise((resolve) => {
        if (pipeline.reached[stage] >= count) resolve(true);
        else waiters.push({ stage, count, resolve });
      }),
    stderr: () => Buffer.concat(stderrChunks).toString(),
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as PipelineEvent;
    if (event.type === 'joined') return;
    pipeline.reached[event.type] += 1;
    for (const waiter of waiters.filter((w) => pipeline.reached[w.stage] >= w.count)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(true);
    }
  });
  void exited.then(() => {
    for (const waiter of waiters.splice(0)) waiter.resolve(false);
  });
  return pipeline;
}
