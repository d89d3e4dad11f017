import { connect, type Socket } from 'node:net';
import {
  ApiKey,
  decodeResponse,
  encodeRequest,
  FrameDecoder,
  type ApiVersionsResponse,
  type RequestDataByApiKey,
  type ResponseDataByApiKey,
} from '@defter/protocol';

const WAIT_MS_DEFAULT = 5_000;

type ApiKeyNumber = keyof RequestDataByApiKey & keyof ResponseDataByApiKey;

/**
 * A Kafka protocol client with nothing between the test and the socket: it writes frames built by
 * `encodeRequest` (or any bytes at all) and hands back response frames in arrival order, so tests
 * can pipeline, send garbage, stop reading, and watch the connection close.
 */
export class RawClient {
  private readonly decoder = new FrameDecoder({ frameBytesMax: 1 << 30 });
  private readonly frames: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private nextCorrelationId = 1;
  private closedFlag = false;
  /** Resolves when the broker (or the test) closes the connection. */
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('close', () => {
      this.closedFlag = true;
      this.wake();
    });
    // Resets and EPIPE are expected when the broker hangs up on hostile input.
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk)) this.frames.push(frame);
      this.wake();
    });
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = connect({ port, host, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Frames received and not yet taken. */
  get pendingFrames(): number {
    return this.frames.length;
  }

  /** The bytes of a request frame (size prefix included) with the next correlation id unless one is given. */
  frame<K extends ApiKeyNumber>(apiKey: K, apiVersion: number, body: RequestDataByApiKey[K], correlationId?: number): Buffer {
    return encodeRequest({ apiKey, apiVersion, correlationId: correlationId ?? this.nextCorrelationId++, clientId: 'raw-client' }, body);
  }

  /** Writes bytes as they are; resolves once they are handed to the kernel (or the socket failed). */
  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(bytes, () => resolve());
    });
  }

  /** The next response frame (without its size prefix); rejects on timeout or when the connection closed. */
  async nextFrame(timeoutMs = WAIT_MS_DEFAULT): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closedFlag) throw new Error('connection closed before a response arrived');
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) throw new Error(`no response within ${timeoutMs} ms`);
      await this.waitForActivity(remainingMs);
    }
    return this.frames.shift()!;
  }

  /** The next response frame, or 'closed' when the connection ends first; rejects on timeout. */
  async nextFrameOrClose(timeoutMs = WAIT_MS_DEFAULT): Promise<Buffer | 'closed'> {
    try {
      return await this.nextFrame(timeoutMs);
    } catch (error) {
      if (this.closedFlag && this.frames.length === 0) return 'closed';
      throw error;
    }
  }

  /** Sends one request and decodes its response. */
  async request<K extends ApiKeyNumber>(
    apiKey: K,
    apiVersion: number,
    body: RequestDataByApiKey[K],
    options: { correlationId?: number; timeoutMs?: number } = {},
  ): Promise<{ correlationId: number; body: ResponseDataByApiKey[K] }> {
    await this.write(this.frame(apiKey, apiVersion, body, options.correlationId));
    const response = decodeResponse(await this.nextFrame(options.timeoutMs), apiKey, apiVersion);
    return { correlationId: response.header.correlationId, body: response.body };
  }

  /** ApiVersions v3, the way librdkafka asks first. */
  async apiVersions(version = 3): Promise<ApiVersionsResponse> {
    const body = version >= 3 ? { clientSoftwareName: 'raw-client', clientSoftwareVersion: '1.0' } : {};
    return (await this.request(ApiKey.ApiVersions, version, body)).body;
  }

  /** Resolves true when the connection is closed within `timeoutMs`, false otherwise. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([
      this.closed.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return result;
  }

  /** Stops the socket from reading (the kernel buffers fill and the peer's writes stall). */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  close(): void {
    this.socket.destroy();
  }

  private waitForActivity(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const previous = this.waiter;
      this.waiter = done;
      function done(): void {
        clearTimeout(timer);
        resolve();
        previous?.();
      }
    });
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}
