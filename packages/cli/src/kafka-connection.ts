import { connect, type Socket } from 'node:net';
import {
  ApiKey,
  DecodeError,
  FrameDecoder,
  decodeResponse,
  encodeRequest,
  errorByCode,
  type ApiVersionsResponseApiVersion,
  type RequestDataByApiKey,
  type ResponseDataByApiKey,
} from '@defter/protocol';

/**
 * One TCP connection to a Kafka broker that sends requests and matches responses by correlation id.
 * Requests may be pipelined; Kafka answers them in order on one connection. A small, honest client
 * for the CLI's raw-protocol commands (consume, offsets, alter) and for tests.
 */

/** A request/response pair both sides know about. */
export type ApiKeyWithResponse = keyof RequestDataByApiKey & keyof ResponseDataByApiKey;

/** The connection failed or closed; every request in flight fails with it. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
}

/** A broker answered with a Kafka error code. */
export class KafkaProtocolError extends Error {
  override readonly name = 'KafkaProtocolError';
  readonly errorName: string;
  constructor(
    readonly code: number,
    context: string,
    brokerMessage?: string | null,
  ) {
    const info = errorByCode(code);
    const errorName = info?.name ?? `error code ${code}`;
    super(`${context}: ${errorName}${brokerMessage ? ` (${brokerMessage.trim().replace(/\.$/, '')})` : info?.description ? ` (${lowerFirst(info.description)})` : ''}`);
    this.errorName = errorName;
  }
}

export interface KafkaConnectionOptions {
  host: string;
  port: number;
  /** Sent in every request header. */
  clientId?: string;
  connectTimeoutMs?: number;
  /** A request not answered within this long fails, and the connection is closed. */
  requestTimeoutMs?: number;
  /** Largest response frame accepted. */
  responseBytesMax?: number;
}

const CONNECT_TIMEOUT_MS_DEFAULT = 10_000;
const REQUEST_TIMEOUT_MS_DEFAULT = 30_000;
const RESPONSE_BYTES_MAX_DEFAULT = 256 * 1024 * 1024;
const CORRELATION_ID_MAX = 0x7fffffff;

interface PendingRequest {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly resolve: (frame: Buffer) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class KafkaConnection {
  readonly host: string;
  readonly port: number;
  private readonly clientId: string;
  private readonly requestTimeoutMs: number;
  private readonly frames: FrameDecoder;
  private readonly pending = new Map<number, PendingRequest>();
  private nextCorrelationId = 1;
  private failure: Error | undefined;
  private brokerVersions: ReadonlyMap<number, ApiVersionsResponseApiVersion> | undefined;

  private constructor(
    private readonly socket: Socket,
    options: KafkaConnectionOptions,
  ) {
    this.host = options.host;
    this.port = options.port;
    this.clientId = options.clientId ?? 'defter-cli';
    this.requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
    this.frames = new FrameDecoder({ frameBytesMax: options.responseBytesMax ?? RESPONSE_BYTES_MAX_DEFAULT });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(new ConnectionError(`connection to ${this.address} failed: ${error.message}`)));
    socket.on('close', () => this.fail(new ConnectionError(`connection to ${this.address} closed by the broker`)));
  }

  /** Connects; rejects with a ConnectionError when the broker cannot be reached in time. */
  static connect(options: KafkaConnectionOptions): Promise<KafkaConnection> {
    const timeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT;
    return new Promise((resolve, reject) => {
      const socket = connect({ host: options.host, port: options.port });
      socket.setNoDelay(true);
      const onError = (error: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ConnectionError(`cannot connect to a broker at ${options.host}:${options.port} (${describeSocketError(error)})`));
      };
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectionError(`cannot connect to a broker at ${options.host}:${options.port} (no answer within ${timeoutMs} ms)`));
      }, timeoutMs);
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new KafkaConnection(socket, options));
      });
    });
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Sends one request and resolves with its decoded response body. */
  async send<K extends ApiKeyWithResponse>(apiKey: K, apiVersion: number, body: RequestDataByApiKey[K]): Promise<ResponseDataByApiKey[K]> {
    if (this.failure !== undefined) throw this.failure;
    const correlationId = this.nextCorrelationId;
    this.nextCorrelationId = correlationId === CORRELATION_ID_MAX ? 1 : correlationId + 1;
    const frame = encodeRequest({ apiKey, apiVersion, correlationId, clientId: this.clientId }, body);
    const response = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new ConnectionError(`the broker at ${this.address} did not answer within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this.pending.set(correlationId, { apiKey, apiVersion, resolve, reject, timer });
      this.socket.write(frame);
    });
    try {
      return decodeResponse(response, apiKey, apiVersion).body;
    } catch (error) {
      if (error instanceof DecodeError) {
        throw new ConnectionError(`the broker at ${this.address} sent a malformed response to API ${apiKey} v${apiVersion}: ${error.message}`);
      }
      throw error;
    }
  }

  /**
   * Asks the broker which API versions it serves (ApiVersions v0, which every broker answers) and
   * remembers them for `versionFor`.
   */
  async negotiateVersions(): Promise<void> {
    const response = await this.send(ApiKey.ApiVersions, 0, {});
    if (response.errorCode !== 0) throw new KafkaProtocolError(response.errorCode, `ApiVersions to ${this.address}`);
    this.brokerVersions = new Map(response.apiKeys.map((range) => [range.apiKey, range]));
  }

  /**
   * The highest version of `apiKey` both sides speak, given the client's range. Throws when the
   * broker does not serve the API in that range.
   */
  versionFor(apiKey: number, clientMin: number, clientMax: number): number {
    const served = this.brokerVersions?.get(apiKey);
    if (this.brokerVersions === undefined) throw new Error('negotiateVersions() must run before versionFor()');
    if (served === undefined || served.maxVersion < clientMin || served.minVersion > clientMax) {
      throw new KafkaProtocolError(35, `the broker at ${this.address} does not serve API ${apiKey} in versions ${clientMin}-${clientMax}`);
    }
    return Math.min(served.maxVersion, clientMax);
  }

  /** Closes the connection; requests still in flight fail. */
  async close(): Promise<void> {
    this.fail(new ConnectionError(`connection to ${this.address} closed`), { destroy: false });
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
      // A broker that never closes its side must not keep us waiting.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }

  private onData(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.frames.push(chunk);
    } catch (error) {
      this.fail(new ConnectionError(`the broker at ${this.address} sent an invalid frame: ${error instanceof Error ? error.message : String(error)}`));
      return;
    }
    for (const frame of frames) {
      if (frame.length < 4) {
        this.fail(new ConnectionError(`the broker at ${this.address} sent a frame too short for a response header`));
        return;
      }
      const correlationId = frame.readInt32BE(0);
      const request = this.pending.get(correlationId);
      if (request === undefined) {
        this.fail(new ConnectionError(`the broker at ${this.address} answered correlation id ${correlationId}, which was never sent`));
        return;
      }
      this.pending.delete(correlationId);
      clearTimeout(request.timer);
      request.resolve(frame);
    }
  }

  /** Fails every request in flight (and later ones) with the first error; closes the socket unless told not to. */
  private fail(error: Error, options: { destroy: boolean } = { destroy: true }): void {
    if (this.failure === undefined) this.failure = error;
    for (const [correlationId, request] of this.pending) {
      clearTimeout(request.timer);
      this.pending.delete(correlationId);
      request.reject(this.failure);
    }
    if (options.destroy && !this.socket.destroyed) this.socket.destroy();
  }
}

/** Parses `host:port` (or `[v6]:port`); the port defaults to Kafka's 9092. */
export function parseHostPort(text: string): { host: string; port: number } {
  const trimmed = text.trim();
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(trimmed);
  if (match === null) throw new Error(`'${text}' is not a broker address: expected host:port`);
  const host = match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!;
  const port = match[2] === undefined ? 9092 : Number(match[2]);
  if (port < 1 || port > 65_535) throw new Error(`'${text}' is not a broker address: the port must be in [1, 65535]`);
  return { host, port };
}

function describeSocketError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused: is the broker running?';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host';
    case 'ETIMEDOUT':
      return 'timed out';
    default:
      return error.message;
  }
}

function lowerFirst(text: string): string {
  const trimmed = text.replace(/\.$/, '');
  return trimmed.charAt(0).toLowerCase() + trimmed.slice(1);
}
