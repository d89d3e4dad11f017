import kafkajs, { type Admin, type Kafka as KafkaClient } from 'kafkajs';
import { CompressionType, compress, decompress } from '@defter/protocol';
import { parseHostPort } from './kafka-connection.js';

/**
 * kafkajs, set up for a command-line tool: silent (errors are reported once, by us), few retries
 * (a person is waiting), and every compression codec, taken from @defter/protocol.
 */

/** Kafka's default address, and the variable that overrides it. */
export const BOOTSTRAP_SERVER_DEFAULT = '127.0.0.1:9092';
export const BOOTSTRAP_SERVER_ENV = 'DEFTER_BOOTSTRAP_SERVER';

// kafkajs is CommonJS and Node's named-export detection misses some of its exports
// (CompressionCodecs, ConfigResourceTypes): take them from the default export.
const { CompressionCodecs, CompressionTypes, Kafka, logLevel } = kafkajs;

let codecsRegistered = false;

/** kafkajs ships gzip only; the others come from the same codecs the broker uses. */
function registerCodecs(): void {
  if (codecsRegistered) return;
  codecsRegistered = true;
  const codecFor = (type: CompressionType) => () => ({
    compress: async (encoder: { buffer: Buffer }) => compress(type, encoder.buffer),
    decompress: async (buffer: Buffer) => decompress(type, buffer),
  });
  const codecs = CompressionCodecs as unknown as Record<number, () => unknown>;
  codecs[CompressionTypes.Snappy] = codecFor(CompressionType.Snappy);
  codecs[CompressionTypes.LZ4] = codecFor(CompressionType.Lz4);
  codecs[CompressionTypes.ZSTD] = codecFor(CompressionType.Zstd);
}

export function createKafka(bootstrapServer: string): KafkaClient {
  registerCodecs();
  const { host, port } = parseHostPort(bootstrapServer);
  return new Kafka({
    clientId: 'defter-cli',
    brokers: [`${host.includes(':') ? `[${host}]` : host}:${port}`],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
  });
}

/** Runs `work` with a connected admin client and always disconnects it. */
export async function withAdmin<T>(bootstrapServer: string, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = createKafka(bootstrapServer).admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

interface KafkaJsErrorShape {
  name?: string;
  message?: string;
  type?: string;
  cause?: unknown;
  errors?: unknown[];
  broker?: string;
  code?: string;
}

/**
 * One sentence for any kafkajs error: retries unwrapped to their cause, protocol errors by Kafka's
 * error name, connection failures with the address.
 */
export function describeClientError(error: unknown, bootstrapServer: string): string {
  let current = error as KafkaJsErrorShape | undefined;
  for (let depth = 0; depth < 5 && current !== undefined; depth++) {
    if (current.name === 'KafkaJSNumberOfRetriesExceeded' && current.cause !== undefined) current = current.cause as KafkaJsErrorShape;
    else if (current.name === 'KafkaJSAggregateError' && Array.isArray(current.errors) && current.errors.length > 0) current = current.errors[0] as KafkaJsErrorShape;
    else break;
  }
  if (current === undefined || current === null) return String(error);
  const message = (current.message ?? String(current)).replace(/\.$/, '');
  if (current.name === 'KafkaJSConnectionError' || current.name === 'KafkaJSConnectionClosedError' || current.name === 'KafkaJSNoBrokerAvailableError') {
    const refused = /ECONNREFUSED/.test(message) || current.code === 'ECONNREFUSED';
    return `cannot reach a broker at ${current.broker ?? bootstrapServer}${refused ? ' (connection refused: is the broker running?)' : ` (${message})`}`;
  }
  if (current.name === 'KafkaJSRequestTimeoutError') return `the broker at ${current.broker ?? bootstrapServer} did not answer in time`;
  if (current.type !== undefined) return `${current.type}: ${message}`;
  return message;
}
