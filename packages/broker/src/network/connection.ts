import type { Socket } from 'node:net';
import { FrameDecoder, FrameSizeError } from '@defter/protocol';
import type { Logger } from 'pino';
import type { Clock } from '@defter/log';
import type { RequestProcessor } from './request-processor.js';

export interface ConnectionOptions {
  readonly frameBytesMax: number;
  /** Reading pauses while this many requests wait to be processed. */
  readonly queuedRequestsMax: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * One client connection. Requests are processed strictly one after another and answered in the
 * order they arrived (clients pipeline and match responses by order); a request without a response
 * (acks=0) simply produces nothing. Reading pauses while the queue is full, so a client that sends
 * faster than the broker answers, or never reads, holds a bounded amount of memory.
 */
export class Connection {
  readonly clientAddress: string;
  private readonly decoder: FrameDecoder;
  private readonly queue: Buffer[] = [];
  private processing = false;
  private closing = false;
  private closed = false;
  private lastActivityMs: number;
  private readonly closedPromise: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly processor: RequestProcessor,
    private readonly options: ConnectionOptions,
  ) {
    this.clientAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.decoder = new FrameDecoder({ frameBytesMax: options.frameBytesMax });
    this.lastActivityMs = options.clock.nowMs();
    socket.setNoDelay(true);
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('close', () => {
      this.closed = true;
      this.queue.length = 0;
    });
    socket.on('error', (error) => {
      this.options.logger.debug({ clientAddress: this.clientAddress, err: error }, 'connection error');
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  /** True while a request is being processed or waits for its turn. */
  get busy(): boolean {
    return this.processing || this.queue.length > 0;
  }

  idleForMs(nowMs: number): number {
    return this.busy ? 0 : nowMs - this.lastActivityMs;
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.lastActivityMs = this.options.clock.nowMs();
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      const reason = error instanceof FrameSizeError ? error.message : `unreadable frame: ${String(error)}`;
      this.closeBecause(reason);
      return;
    }
    for (const frame of frames) this.queue.push(frame);
    if (this.queue.length >= this.options.queuedRequestsMax) this.socket.pause();
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        const frame = this.queue.shift()!;
        const outcome = await this.processor.process(frame, this.clientAddress);
        if (this.closed) return;
        if (outcome.kind === 'close') {
          this.closeBecause(outcome.reason);
          return;
        }
        if (outcome.kind === 'respond') await this.write(outcome.bytes);
        this.lastActivityMs = this.options.clock.nowMs();
        if (this.socket.isPaused() && !this.closing && this.queue.length < this.options.queuedRequestsMax) this.socket.resume();
      }
    } finally {
      this.processing = false;
    }
    if (this.closing) this.socket.end();
  }

  /** Writes a response; waits for the socket to drain when its buffer is full (a slow reader). */
  private async write(bytes: Buffer): Promise<void> {
    if (this.socket.write(bytes)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Closes at once, with a log line naming the reason (bad input, idleness). */
  closeBecause(reason: string): void {
    if (this.closed) return;
    this.options.logger.warn({ clientAddress: this.clientAddress, reason }, 'closing connection');
    this.closing = true;
    this.queue.length = 0;
    this.socket.destroy();
  }

  /**
   * Graceful close: stop reading, finish the request in progress and those already received, send
   * their responses, then end the connection. Resolves once the socket is closed.
   */
  async closeGracefully(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    this.socket.pause();
    if (!this.processing && this.queue.length === 0) this.socket.end();
    await this.closedPromise;
  }

  /** Forced close, for a shutdown whose grace period has run out. */
  destroy(): void {
    this.socket.destroy();
  }

  get closedAsync(): Promise<void> {
    return this.closedPromise;
  }
}
