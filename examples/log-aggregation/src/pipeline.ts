import { map } from 'rxjs';
import { app, definePipeline, Serdes, type LogOption, type StreamRecord, type StreamsApp } from '@defter/streams';
import { logLineSerde, type LogEntry, type LogLevel, type LogLine } from './log-line.js';

export const RAW_TOPIC = 'logs-raw';
export const UNPARSED_TOPIC = 'logs-unparsed';
export const APPLICATION_ID = 'log-aggregation';
/** The header an unparsed line carries: why no parser took it. */
export const PARSE_PROBLEM_HEADER = 'log.parse.problem';

/** The per-level topics (DEBUG has none: it is filtered out). */
export const LEVEL_TOPICS = { ERROR: 'logs-error', WARN: 'logs-warn', INFO: 'logs-info' } as const satisfies Partial<Record<LogLevel, string>>;

export function levelTopic(level: Exclude<LogLevel, 'DEBUG'>): string {
  return LEVEL_TOPICS[level];
}

/**
 * logs-raw (lines keyed by service) → parse (the source serde) → event time from the line → DEBUG
 * dropped → logs-error / logs-warn / logs-info as JSON entries. Lines that do not parse go, as they
 * were, to logs-unparsed with the reason in a header: nothing is dropped silently.
 *
 * The outputs carry the line's event time as their record timestamp (the timestamp extractor on
 * the source), so `defter replay logs-error --from <t1> --to <t2>` selects by when things
 * happened, not by when the shipper sent them.
 */
export function logAggregationApp(options: { readonly log: LogOption }): StreamsApp {
  const logs = app({ applicationId: APPLICATION_ID, log: options.log });
  const lines = logs.stream(RAW_TOPIC, {
    key: Serdes.string(),
    value: logLineSerde(),
    timestamp: (record) => (record.value?.parsed === true ? record.value.timestampMs : record.timestamp),
  });

  lines
    .flatMapValues((line) => (line?.parsed === true ? [line.entry] : []))
    .filter((record) => record.value!.level !== 'DEBUG')
    .to((record) => levelTopic(record.value!.level as Exclude<LogLevel, 'DEBUG'>), { key: Serdes.string(), value: Serdes.json<LogEntry>() });

  lines
    .filter((record) => record.value?.parsed === false)
    .pipe(map(asUnparsedRecord))
    .to(UNPARSED_TOPIC, { key: Serdes.string(), value: Serdes.string() });

  return logs;
}

/** The original text, with the parser's reason added to the headers. */
function asUnparsedRecord(record: StreamRecord<string, LogLine>): StreamRecord<string, string> {
  const line = record.value!;
  return { ...record, value: line.text, headers: { ...record.headers, [PARSE_PROBLEM_HEADER]: line.parsed ? '' : line.problem } };
}

/** The pipeline file: `defter run examples/log-aggregation/src/pipeline.ts`. */
export default definePipeline((context) => logAggregationApp({ log: context.log }));
