import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Clock } from '@defter/log';
import { Connection } from './connection.js';
import { FrameBufferPool } from './frame-buffer-pool.js';
import type { RequestProcessor } from './request-processor.js';

export interface SocketServerOptions {
  readonly host: string;
  readonly port: number;
  readonly frameBytesMax: number;
  readonly queuedRequestsMax: number;
  /** Most consecutive Produce requests of one connection processed at once (default `PIPELINED_PRODUCES_MAX_DEFAULT`). */
  readonly pipelinedProducesMax?: number;
  /** Connections with no traffic and no request in progress for this long are closed. */
  readonly connectionsMaxIdleMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** The interval of the one shared idle sweep, as a fraction of the idle limit. */
const IDLE_SWEEPS_PER_LIMIT = 4;
const IDLE_SWEEP_INTERVAL_MS_MIN = 10;

/** The TCP listener: accepts connections, reaps idle ones, and shuts down gracefully. */
export class SocketServer {
  private readonly connections = new Set<Connection>();
  /** Shared by the connections: request frames are assembled in its buffers. */
  private readonly framePool = new FrameBufferPool();
  private readonly idleSweep: NodeJS.Timeout;

  private constructor(
    private readonly server: Server,
    private readonly options: SocketServerOptions,
  ) {
    const sweepIntervalMs = Math.max(IDLE_SWEEP_INTERVAL_MS_MIN, Math.floor(options.connectionsMaxIdleMs / IDLE_SWEEPS_PER_LIMIT));
    this.idleSweep = setInterval(() => this.closeIdleConnections(), sweepIntervalMs);
    this.idleSweep.unref();
  }

  static async listen(processor: RequestProcessor, options: SocketServerOptions): Promise<SocketServer> {
    const server = createServer({ noDelay: true });
    const socketServer = new SocketServer(server, options);
    server.on('connection', (socket: Socket) => socketServer.accept(socket, processor));
    server.on('error', (error) => options.logger.error({ err: error }, 'listener error'));
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      server.once('error', onError);
      server.listen(options.port, options.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    return socketServer;
  }

  /** The bound address (the real port when 0 was asked for). */
  address(): { host: string; port: number } {
    const address = this.server.address() as AddressInfo;
    return { host: address.address, port: address.port };
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private accept(socket: Socket, processor: RequestProcessor): void {
    const connection = new Connection(socket, processor, {
      frameBytesMax: this.options.frameBytesMax,
      queuedRequestsMax: this.options.queuedRequestsMax,
      ...(this.options.pipelinedProducesMax === undefined ? {} : { pipelinedProducesMax: this.options.pipelinedProducesMax }),
      framePool: this.framePool,
      clock: this.options.clock,
      logger: this.options.logger,
    });
    this.connections.add(connection);
    void connection.closedAsync.then(() => this.connections.delete(connection));
    this.options.logger.debug({ clientAddress: connection.clientAddress }, 'connection accepted');
  }

  private closeIdleConnections(): void {
    const nowMs = this.options.clock.nowMs();
    for (const connection of this.connections) {
      if (connection.idleForMs(nowMs) > this.options.connectionsMaxIdleMs) {
        connection.closeBecause(`idle for more than connections.max.idle.ms (${this.options.connectionsMaxIdleMs} ms)`);
      }
    }
  }

  /**
   * Stops accepting, lets every connection finish the requests it has received and send their
   * responses, then closes them; connections still open after `timeoutMs` are destroyed.
   */
  async close(timeoutMs: number): Promise<void> {
    clearInterval(this.idleSweep);
    const listenerClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const graceful = Promise.all([...this.connections].map((connection) => connection.closeGracefully()));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    if ((await Promise.race([graceful, timedOut])) === 'timeout') {
      this.options.logger.warn({ connections: this.connections.size }, 'shutdown grace period over: closing the remaining connections');
      for (const connection of this.connections) connection.destroy();
    }
    clearTimeout(timer);
    await listenerClosed;
  }
}
