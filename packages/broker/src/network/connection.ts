import type { Socket } from 'node:net';
import { ApiKey, FrameDecoder, FrameSizeError } from '@defter/protocol';
import type { Logger } from 'pino';
import type { Clock } from '@defter/log';
import type { FrameBufferPool } from './frame-buffer-pool.js';
import type { Outcome, RequestProcessor } from './request-processor.js';

export interface ConnectionOptions {
  readonly frameBytesMax: number;
  /** Reading pauses while this many requests wait to be processed. */
  readonly queuedRequestsMax: number;
  /** Most consecutive Produce requests of one connection being processed at once. */
  readonly pipelinedProducesMax?: number;
  /** Where frames spanning socket chunks are assembled; Produce frames go back to it once answered. */
  readonly framePool?: FrameBufferPool;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Consecutive Produce requests of one connection run concurrently up to this many, so that their
 * appends meet in the partition log's group commit instead of each waiting for the previous
 * write's round trip through the threadpool.
 */
export const PIPELINED_PRODUCES_MAX_DEFAULT = 16;

/** A request that has been started; `pipelined` ones may overlap each other. */
interface StartedRequest {
  readonly outcome: Promise<Outcome>;
  readonly pipelined: boolean;
}

/**
 * One client connection. Requests are answered in the order they arrived (clients pipeline and
 * match responses by order); a request without a response (acks=0) simply produces nothing.
 * Every request starts only once the ones before it have finished, except that consecutive
 * Produce requests overlap: each starts while the earlier ones are still being written. That keeps
 * Kafka's per-connection guarantees, because the handler enqueues its appends in the partition
 * logs synchronously when it starts (so they are appended in arrival order), and any other
 * request still waits for every earlier append (a Fetch after a Produce sees its records).
 * Reading pauses while the queue is full, so a client that sends faster than the broker answers,
 * or never reads, holds a bounded amount of memory.
 */
export class Connection {
  readonly clientAddress: string;
  private readonly decoder: FrameDecoder;
  /** Received, not yet started. */
  private readonly queue: Buffer[] = [];
  /** Started, not yet answered; in arrival order. */
  private readonly started: StartedRequest[] = [];
  private readonly pipelinedProducesMax: number;
  private responding = false;
  private corked = false;
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
    const framePool = options.framePool;
    this.decoder = new FrameDecoder({
      frameBytesMax: options.frameBytesMax,
      ...(framePool === undefined ? {} : { allocateFrame: (sizeBytes: number) => framePool.acquire(sizeBytes) }),
    });
    this.pipelinedProducesMax = Math.max(1, options.pipelinedProducesMax ?? PIPELINED_PRODUCES_MAX_DEFAULT);
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
    return this.started.length > 0 || this.queue.length > 0;
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
    this.startRequests();
  }

  /** Starts the queued requests that may start now (see the class comment), then answers in order. */
  private startRequests(): void {
    while (this.queue.length > 0 && !this.closed) {
      const pipelined = isProduce(this.queue[0]!);
      if (this.started.length > 0) {
        const mayOverlap = pipelined && this.started.length < this.pipelinedProducesMax && this.started.every((request) => request.pipelined);
        if (!mayOverlap) break;
      }
      const frame = this.queue.shift()!;
      const outcome = this.processor.process(frame, this.clientAddress);
      if (pipelined) this.releaseWhenAnswered(frame, outcome);
      this.started.push({ outcome, pipelined });
    }
    if (this.queue.length >= this.options.queuedRequestsMax) this.socket.pause();
    else if (this.socket.isPaused() && !this.closing) this.socket.resume();
    if (!this.responding && this.started.length > 0) void this.respond();
  }

  /**
   * Hands a Produce frame's memory back to the pool once its request is answered (or, with acks=0,
   * done), whether or not the connection is still open. Nothing reads the frame by then: the
   * Produce handler resolves only after every append of the request has resolved or been refused,
   * and the log keeps no reference to a batch's bytes after that (`PartitionLog.append` holds the
   * batch in its pending queue until the group write containing it has finished, and
   * `Segment.appendBatches` writes it with writev and keeps only positions and offsets); the
   * response is encoded into a fresh buffer. A request that closed the connection (a handler that
   * threw) keeps its frame, as its appends may still be pending; other APIs keep theirs because
   * their decoded bodies may hold views of the frame that outlive the request (a JoinGroup's
   * protocol metadata). Frames kept are simply collected.
   */
  private releaseWhenAnswered(frame: Buffer, outcome: Promise<Outcome>): void {
    const framePool = this.options.framePool;
    if (framePool === undefined) return;
    void outcome.then((answered) => {
      if (answered.kind !== 'close') framePool.release(frame);
    });
  }

  /** Answers started requests in arrival order, starting the next ones as earlier ones finish. */
  private async respond(): Promise<void> {
    this.responding = true;
    try {
      while (this.started.length > 0 && !this.closed) {
        const outcome = await this.started[0]!.outcome;
        this.started.shift();
        if (this.closed) return;
        if (outcome.kind === 'close') {
          this.closeBecause(outcome.reason);
          return;
        }
        if (outcome.kind === 'respond') await this.write(outcome.bytes);
        this.lastActivityMs = this.options.clock.nowMs();
        this.startRequests();
      }
    } finally {
      this.responding = false;
    }
    if (this.closing && !this.busy) this.socket.end();
  }

  /**
   * Writes a response; waits for the socket to drain when its buffer is full (a slow reader).
   * Responses that become ready together (a group commit finishes many produces at once) go out
   * in one syscall: the socket is corked until the current burst of callbacks is over.
   */
  private async write(bytes: Buffer): Promise<void> {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
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
    if (!this.busy) this.socket.end();
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

/** Produce requests may overlap each other (the API key is the frame's first int16). */
function isProduce(frame: Buffer): boolean {
  return frame.length >= 2 && frame.readInt16BE(0) === ApiKey.Produce;
}
