import type { LogOption } from '../log/open-log.js';
import type { StreamsApp } from './app.js';

/**
 * The contract of a pipeline file, the module `defter run FILE` loads: its default export is a
 * function that builds an app on the log it is given, describes its streams and returns it
 * *unstarted*; the command starts it, reports its state, and returns when it stops.
 *
 * ```ts
 * import { app, definePipeline, Serdes } from '@defter/streams';
 *
 * export default definePipeline(({ log, args }) => {
 *   const etl = app({ applicationId: 'orders-etl', log });
 *   etl.stream('orders', { key: Serdes.string(), value: Serdes.json() }).to('orders-copy', { key: Serdes.string(), value: Serdes.json() });
 *   return etl;
 * });
 * ```
 */

export interface PipelineContext {
  /**
   * Where the app reads and writes: pass it on as `app({ log })`. `defter run` gives `{ brokers }`
   * (a Kafka-compatible cluster, through kafkajs) with `--brokers`, else `{ dataDir }` (the
   * embedded log, in this process, on `--data-dir` or `./data`).
   */
  readonly log: LogOption;
  /** The arguments after `--` on the command line. */
  readonly args: readonly string[];
}

/** The default export of a pipeline file. */
export type Pipeline = (context: PipelineContext) => StreamsApp | Promise<StreamsApp>;

/** Types a pipeline file's default export; returns `pipeline` unchanged. */
export function definePipeline(pipeline: Pipeline): Pipeline {
  return pipeline;
}
