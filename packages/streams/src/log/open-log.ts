import { EmbeddedLog, type EmbeddedLogOptions } from './embedded-log.js';
import { KafkajsLog, type KafkajsLogOptions } from './kafkajs-log.js';
import type { StreamLog } from './stream-log.js';

/**
 * Where an app's records live: a `StreamLog` of the caller's (not closed with the app), a
 * Kafka-compatible cluster (`{ brokers }`, through kafkajs), or the embedded log (`{ dataDir }` or
 * `{ broker }`, in this process, no sockets). Nothing given: the embedded log on `./data`, the
 * directory `defter broker` uses by default.
 */
export type LogOption = StreamLog | KafkajsLogOptions | EmbeddedLogOptions;

/** The data directory of the default log (the same default as `defter broker`). */
export const DEFAULT_DATA_DIR = './data';

/** Resolves a `LogOption`; `owned` says whether the caller must close the log. */
export function openLog(option: LogOption | undefined, clientId: string): { log: StreamLog; owned: boolean } {
  if (option === undefined) return { log: new EmbeddedLog({ dataDir: DEFAULT_DATA_DIR, clientId }), owned: true };
  if (typeof option !== 'object' || option === null) throw new TypeError('log must be a StreamLog, { brokers }, { dataDir } or { broker }');
  if (isStreamLog(option)) return { log: option, owned: false };
  if ('brokers' in option) return { log: new KafkajsLog({ clientId, ...option }), owned: true };
  if ('dataDir' in option || 'broker' in option) return { log: new EmbeddedLog({ clientId, ...option }), owned: true };
  throw new TypeError('log must be a StreamLog, { brokers }, { dataDir } or { broker }');
}

function isStreamLog(option: LogOption): option is StreamLog {
  return typeof (option as StreamLog).createConsumer === 'function';
}
