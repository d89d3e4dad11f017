import { isUtf8 } from 'node:buffer';
import type { Serde } from '@defter/streams';

/**
 * The two line formats the services write, and their parser:
 *   text  `2026-11-23T10:00:01.123Z ERROR api request failed id=r-1042 status=502`
 *   JSON  `{"ts":"2026-11-23T10:00:01.123Z","level":"warn","service":"billing","msg":"retrying charge","attempt":2}`
 */

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A parsed line, in one shape whatever its format: what the per-level topics hold (JSON). */
export interface LogEntry {
  /** ISO-8601 event time, as the line gave it. */
  readonly at: string;
  readonly level: LogLevel;
  readonly service: string;
  readonly message: string;
  /** The JSON format's extra fields (empty for text lines). */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** A line as read from `logs-raw`: its text, and either the entry or why it could not be parsed. */
export type LogLine =
  | { readonly text: string; readonly parsed: true; readonly timestampMs: number; readonly entry: LogEntry }
  | { readonly text: string; readonly parsed: false; readonly problem: string };

const TEXT_LINE = /^(\S+) ([A-Z]+) ([a-z][a-z0-9-]*) (.+)$/;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

export function parseLogLine(text: string): LogLine {
  const parsed = text.startsWith('{') ? parseJsonLine(text) : parseTextLine(text);
  if (typeof parsed === 'string') return { text, parsed: false, problem: parsed };
  return { text, parsed: true, timestampMs: Date.parse(parsed.at), entry: parsed };
}

/** The entry, or the problem in a few words. */
function parseTextLine(text: string): LogEntry | string {
  const match = TEXT_LINE.exec(text);
  if (match === null) return 'matches neither log format';
  const [, at, level, service, message] = match as unknown as [string, string, string, string, string];
  return checked({ at, level, service, message, fields: {} });
}

function parseJsonLine(text: string): LogEntry | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'starts like JSON but is not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'a JSON line must be an object';
  const { ts, level, service, msg, ...fields } = value as Record<string, unknown>;
  if (typeof ts !== 'string' || typeof level !== 'string' || typeof service !== 'string' || typeof msg !== 'string') {
    return 'a JSON line needs the strings ts, level, service and msg';
  }
  return checked({ at: ts, level: level.toUpperCase(), service, message: msg, fields });
}

function checked(candidate: { at: string; level: string; service: string; message: string; fields: Record<string, unknown> }): LogEntry | string {
  if (!ISO_TIME.test(candidate.at) || Number.isNaN(Date.parse(candidate.at))) return `"${candidate.at}" is not an ISO-8601 UTC time`;
  if (!(LOG_LEVELS as readonly string[]).includes(candidate.level)) return `unknown level "${candidate.level}"`;
  return { ...candidate, level: candidate.level as LogLevel };
}

/**
 * The source serde of `logs-raw`: parses each line once, as it is read, so that the timestamp
 * extractor and the pipeline's steps share the result. It never fails on a line (an unparseable
 * one is a value too, routed to `logs-unparsed`); bytes that are not UTF-8 are read with
 * replacement characters. Writing gives the original text back.
 */
export function logLineSerde(): Serde<LogLine> {
  return {
    name: 'log-line',
    serialize: (line) => (line === null ? null : Buffer.from(line.text, 'utf8')),
    deserialize: (bytes) => {
      if (bytes === null) return null;
      const text = bytes.toString('utf8').replace(/\r?\n$/, '');
      return isUtf8(bytes) ? parseLogLine(text) : { text, parsed: false, problem: 'not valid UTF-8' };
    },
  };
}
