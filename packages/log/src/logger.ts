/**
 * The subset of pino's API that the log uses, so that the broker can pass its pino logger
 * (or a child of it) and tests can pass `silentLogger` or a recorder.
 */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

const ignore = (): void => {};

export const silentLogger: Logger = { info: ignore, warn: ignore, error: ignore, debug: ignore };

export interface LoggedLine {
  level: 'info' | 'warn' | 'error' | 'debug';
  obj: object;
  msg: string | undefined;
}

/** Keeps every line in memory; tests assert on what recovery reported. */
export class RecordingLogger implements Logger {
  readonly lines: LoggedLine[] = [];
  info(obj: object, msg?: string): void {
    this.lines.push({ level: 'info', obj, msg });
  }
  warn(obj: object, msg?: string): void {
    this.lines.push({ level: 'warn', obj, msg });
  }
  error(obj: object, msg?: string): void {
    this.lines.push({ level: 'error', obj, msg });
  }
  debug(obj: object, msg?: string): void {
    this.lines.push({ level: 'debug', obj, msg });
  }
}
