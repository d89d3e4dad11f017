import { once } from 'node:events';
import { loadBrokerConfig, startBroker, type ConfigValue } from '@defter/broker';
import type { CliIo } from './io.js';

export interface BrokerCommandOptions {
  dataDir?: string;
  port?: number;
  host?: string;
  /** A defter.config.(json|ts) file; by default one in the working directory, if present. */
  config?: string;
  logLevel: string;
  /** Settings given as `--set key=value`, with Kafka's names. */
  settings?: Readonly<Record<string, ConfigValue>>;
  io: CliIo;
  env?: Readonly<Record<string, string | undefined>>;
  /** Resolves when the broker should stop; SIGINT or SIGTERM by default. */
  stopSignal?: Promise<unknown>;
}

/**
 * `defter broker`: a broker in the foreground until SIGINT/SIGTERM, then a graceful close (in-flight
 * requests finish, every log is flushed). The listening socket keeps the process alive meanwhile.
 */
export async function runBrokerCommand(options: BrokerCommandOptions): Promise<void> {
  const config = await loadBrokerConfig({
    ...(options.config === undefined ? {} : { file: options.config }),
    ...(options.env === undefined ? {} : { env: options.env }),
    flags: { ...options.settings, 'log.dirs': options.dataDir, port: options.port, host: options.host },
  });
  const stop = options.stopSignal ?? Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  const broker = await startBroker({ ...config, logLevel: options.logLevel });
  options.io.out(
    `defter broker ${broker.nodeId} listening on ${broker.host}:${broker.port} (data in ${broker.config.dataDir}, cluster ${broker.clusterId}); stop with Ctrl-C.`,
  );
  await stop;
  options.io.out('defter broker stopping: finishing requests in flight and flushing every log…');
  await broker.close();
  options.io.out('defter broker stopped.');
}
