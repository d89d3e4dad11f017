import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between Kafka clients and one broker that can lose a response: it forwards every
 * request, and when `shouldDrop(apiKey, nth)` says so for a response, it closes both sides of the
 * connection instead of forwarding it. The broker has done the work (written the records, ended
 * the transaction); the client sees a dropped connection and retries. The broker must advertise
 * the proxy's port (`advertisedPort`), or clients would go around it after their first Metadata.
 */
export class DroppingProxy {
  /** Responses dropped so far, by API key. */
  readonly dropped = new Map<number, number>();
  /** Responses seen so far (dropped or forwarded), by API key. */
  readonly seen = new Map<number, number>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly shouldDrop: (apiKey: number, nth: number) => boolean,
  ) {}

  /** Listens on an ephemeral loopback port; `target()` gives the broker's port once it is known. */
  static async listen(target: () => number, shouldDrop: (apiKey: number, nth: number) => boolean): Promise<DroppingProxy> {
    let proxy: DroppingProxy | undefined;
    const server = createServer((client) => proxy!.accept(client, target()));
    proxy = new DroppingProxy(server, shouldDrop);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy is not listening');
    return address.port;
  }

  droppedCount(apiKey: number): number {
    return this.dropped.get(apiKey) ?? 0;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, brokerPort: number): void {
    const broker = connect({ port: brokerPort, host: '127.0.0.1', noDelay: true });
    client.setNoDelay(true);
    this.sockets.add(client).add(broker);
    const apiKeyByCorrelationId = new Map<number, number>();
    const hangUp = () => {
      client.destroy();
      broker.destroy();
      this.sockets.delete(client);
      this.sockets.delete(broker);
    };
    for (const socket of [client, broker]) {
      socket.on('error', hangUp);
      socket.on('close', hangUp);
    }
    // Requests: note each one's API key by correlation id (header v1+: apiKey int16, apiVersion int16, correlationId int32).
    const requests = new FrameSplitter((frame) => {
      apiKeyByCorrelationId.set(frame.readInt32BE(8), frame.readInt16BE(4));
      broker.write(frame);
    });
    // Responses: correlationId int32 right after the size.
    const responses = new FrameSplitter((frame) => {
      const correlationId = frame.readInt32BE(4);
      const apiKey = apiKeyByCorrelationId.get(correlationId);
      apiKeyByCorrelationId.delete(correlationId);
      if (apiKey !== undefined) {
        const nth = (this.seen.get(apiKey) ?? 0) + 1;
        this.seen.set(apiKey, nth);
        if (this.shouldDrop(apiKey, nth)) {
          this.dropped.set(apiKey, this.droppedCount(apiKey) + 1);
          hangUp();
          return false;
        }
      }
      client.write(frame);
      return true;
    });
    client.on('data', (chunk: Buffer) => requests.push(chunk));
    broker.on('data', (chunk: Buffer) => responses.push(chunk));
  }
}

/** Cuts a byte stream into whole size-prefixed frames (size included); stops when `onFrame` returns false. */
class FrameSplitter {
  private pending: Buffer = Buffer.alloc(0);
  private stopped = false;

  constructor(private readonly onFrame: (frame: Buffer) => boolean | void) {}

  push(chunk: Buffer): void {
    if (this.stopped) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 4) {
      const frameBytes = 4 + this.pending.readInt32BE(0);
      if (this.pending.length < frameBytes) return;
      const frame = this.pending.subarray(0, frameBytes);
      this.pending = this.pending.subarray(frameBytes);
      if (this.onFrame(frame) === false) {
        this.stopped = true;
        return;
      }
    }
  }
}
