import { SingleBar } from 'cli-progress';

/**
 * Progress of long work, on stderr so it never mixes with the data on stdout: a bar on a terminal,
 * a plain line every few seconds in a pipe (where a redrawn bar would be noise in a log file).
 */
export interface Progress {
  /** Moves the count to `done` (records so far). */
  update(done: number): void;
  /** Stops drawing; the caller prints its own summary. */
  stop(): void;
}

export interface ProgressOptions {
  /** What is counted, for the plain lines: "produced", "consumed". */
  verb: string;
  /** The expected total, when known (draws a bar instead of a counter). */
  total?: number;
  /** Where to draw; stderr by default. */
  stream?: NodeJS.WriteStream;
  /** Interval of the plain lines. */
  lineIntervalMs?: number;
  /** Nothing at all. */
  quiet?: boolean;
}

const LINE_INTERVAL_MS_DEFAULT = 5_000;

export function createProgress(options: ProgressOptions): Progress {
  if (options.quiet === true) return { update: () => undefined, stop: () => undefined };
  const stream = options.stream ?? process.stderr;
  return stream.isTTY === true ? new TerminalProgress(options, stream) : new LineProgress(options, stream);
}

class TerminalProgress implements Progress {
  private readonly bar: SingleBar;

  constructor(options: ProgressOptions, stream: NodeJS.WriteStream) {
    const known = options.total !== undefined;
    this.bar = new SingleBar({
      stream,
      format: known ? `${options.verb} {bar} {value}/{total} records | {rate} records/s` : `${options.verb} {value} records | {rate} records/s`,
      hideCursor: true,
      clearOnComplete: true,
      fps: 5,
    });
    this.bar.start(options.total ?? 0, 0, { rate: 0 });
    this.startedAtMs = Date.now();
  }

  private readonly startedAtMs: number;

  update(done: number): void {
    const elapsedS = Math.max((Date.now() - this.startedAtMs) / 1000, 0.001);
    this.bar.update(done, { rate: Math.round(done / elapsedS) });
  }

  stop(): void {
    this.bar.stop();
  }
}

class LineProgress implements Progress {
  private done = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly startedAtMs = Date.now();

  constructor(
    private readonly options: ProgressOptions,
    private readonly stream: NodeJS.WriteStream,
  ) {
    this.timer = setInterval(() => this.print(), options.lineIntervalMs ?? LINE_INTERVAL_MS_DEFAULT);
    // Progress must never keep the process alive on its own.
    this.timer.unref();
  }

  update(done: number): void {
    this.done = done;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private print(): void {
    const elapsedS = Math.max((Date.now() - this.startedAtMs) / 1000, 0.001);
    const of = this.options.total === undefined ? '' : ` of ${this.options.total}`;
    this.stream.write(`${this.options.verb} ${this.done}${of} records (${Math.round(this.done / elapsedS)} records/s)\n`);
  }
}
