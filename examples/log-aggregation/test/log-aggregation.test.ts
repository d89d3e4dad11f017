/**
 * The log-aggregation demo end to end: lines routed per level with their event time, unparseable
 * lines kept, DEBUG dropped, and the incident replayed from the stopped data directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runLogAggregationDemo, type RoutedLine } from '../src/demo.js';
import { parseLogLine, type LogEntry } from '../src/log-line.js';
import { PARSE_PROBLEM_HEADER } from '../src/pipeline.js';
import { sampleLogs } from '../src/sample-logs.js';

function entryOf(record: RoutedLine): LogEntry {
  return JSON.parse(record.value!) as LogEntry;
}

test('lines go to a topic per level with their event time; the incident replays exactly', async (t) => {
  const workDir = await mkdtemp(join(tmpdir(), 'defter-log-aggregation-'));
  t.teardown(() => rm(workDir, { recursive: true, force: true }));
  const lines: string[] = [];
  const result = await runLogAggregationDemo({ dataDir: join(workDir, 'data'), incidentFile: join(workDir, 'incident.jsonl'), print: (line) => lines.push(line) });

  t.is(result.linesIn, 165);
  const errors = result.topics['logs-error']!;
  t.deepEqual(
    errors.map((record) => `${entryOf(record).at} ${record.key} ${entryOf(record).message}`),
    [
      '2026-11-23T10:11:02.986Z auth token store unreachable user=u9798',
      '2026-11-23T10:13:44.250Z billing payment provider timeout',
      '2026-11-23T10:13:45.728Z api request failed id=r-7581 status=502 upstream=billing',
      '2026-11-23T10:14:29.701Z billing payment provider timeout',
      '2026-11-23T10:14:35.825Z api request failed id=r-6696 status=502 upstream=billing',
      '2026-11-23T10:15:45.338Z api request failed id=r-3779 status=502 upstream=billing',
      '2026-11-23T10:15:45.783Z billing payment provider timeout',
      '2026-11-23T10:16:27.338Z billing payment provider timeout',
      '2026-11-23T10:16:29.571Z billing payment provider timeout',
      '2026-11-23T10:16:32.836Z api request failed id=r-8408 status=502 upstream=billing',
      '2026-11-23T10:16:51.404Z api request failed id=r-2854 status=502 upstream=billing',
      '2026-11-23T10:17:09.131Z billing payment provider timeout',
      '2026-11-23T10:17:30.176Z billing payment provider timeout',
      '2026-11-23T10:17:52.528Z api request failed id=r-6869 status=502 upstream=billing',
      '2026-11-23T10:17:56.155Z api request failed id=r-6588 status=502 upstream=billing',
      '2026-11-23T10:18:04.795Z billing payment provider timeout',
      '2026-11-23T10:18:49.704Z auth token store unreachable user=u5724',
      '2026-11-23T10:20:47.172Z billing payment provider timeout',
    ],
  );
  t.deepEqual(entryOf(errors[1]!), {
    at: '2026-11-23T10:13:44.250Z',
    level: 'ERROR',
    service: 'billing',
    message: 'payment provider timeout',
    fields: { orderId: 'o-4558', provider: 'acme-pay', timeoutMs: 5000 },
  });

  // Every routed line: the right topic for its level, keyed by its service, stamped with its event time.
  const expectedLevel = { 'logs-error': 'ERROR', 'logs-warn': 'WARN', 'logs-info': 'INFO' } as const;
  for (const [topic, level] of Object.entries(expectedLevel)) {
    for (const record of result.topics[topic]!) {
      const entry = entryOf(record);
      t.is(entry.level, level, `${topic} holds ${level} lines only`);
      t.is(record.key, entry.service);
      t.is(record.timestamp, Date.parse(entry.at), 'the record timestamp is the line time, not the shipping time');
    }
  }
  t.deepEqual(
    { error: errors.length, warn: result.topics['logs-warn']!.length, info: result.topics['logs-info']!.length },
    { error: 18, warn: 23, info: 82 },
  );
  // 18 + 23 + 82 routed, 3 unparsed, 39 DEBUG dropped: every one of the 165 lines accounted for.
  t.is(sampleLogs().filter((line) => / DEBUG |"level":"debug"/.test(line.text)).length, 39, 'DEBUG lines counted by their text');
  t.deepEqual(
    result.topics['logs-unparsed']!.map((record) => ({ key: record.key, value: record.value, timestamp: new Date(record.timestamp).toISOString(), problem: record.headers[PARSE_PROBLEM_HEADER] })),
    [
      { key: 'api', value: "TypeError: Cannot read properties of undefined (reading 'status')", timestamp: '2026-11-23T10:14:35.000Z', problem: 'matches neither log format' },
      {
        key: 'billing',
        value: '{"ts":"2026-11-23T10:16:02.000Z","level":"error","service":"billing","msg":"charge fail',
        timestamp: '2026-11-23T10:16:05.000Z',
        problem: 'starts like JSON but is not JSON',
      },
      { key: 'auth', value: '2026-11-23T10:21:07.400Z NOTICE auth signing key rotation scheduled', timestamp: '2026-11-23T10:21:10.000Z', problem: 'unknown level "NOTICE"' },
    ],
    'unparseable lines kept as they were, stamped with the shipping time',
  );

  // The replay: exactly the error lines in [10:12, 10:18), in time order, as stored.
  const fromMs = Date.parse('2026-11-23T10:12:00Z');
  const toMs = Date.parse('2026-11-23T10:18:00Z');
  const inWindow = errors.filter((record) => record.timestamp >= fromMs && record.timestamp < toMs);
  t.is(inWindow.length, 14);
  t.deepEqual(
    result.incident.records.map((record) => ({ topic: record.topic, partition: record.partition, offset: record.offset, timestamp: record.timestamp, key: record.key, value: record.value })),
    inWindow.map((record) => ({ topic: 'logs-error', partition: record.partition, offset: Number(record.offset), timestamp: record.timestamp, key: record.key, value: record.value })),
  );
  t.true(lines.includes('165 lines from 3 services in logs-raw: logs-error 18, logs-warn 23, logs-info 82, logs-unparsed 3; 39 DEBUG lines dropped.'));
  t.true(lines.includes('  2026-11-23T10:13:44.250Z  billing  payment provider timeout orderId=o-4558 provider=acme-pay timeoutMs=5000'));
  t.is(lines.at(-1), '14 error lines replayed, in time order.');
});

test('the parser reads both formats and says why it refuses a line', (t) => {
  t.like(parseLogLine('2026-11-23T10:00:01.123Z ERROR api request failed id=r-1042 status=502'), {
    parsed: true,
    timestampMs: Date.parse('2026-11-23T10:00:01.123Z'),
    entry: { at: '2026-11-23T10:00:01.123Z', level: 'ERROR', service: 'api', message: 'request failed id=r-1042 status=502', fields: {} },
  });
  t.like(parseLogLine('{"ts":"2026-11-23T10:00:02Z","level":"warn","service":"billing","msg":"retrying charge","attempt":2}'), {
    parsed: true,
    entry: { level: 'WARN', service: 'billing', message: 'retrying charge', fields: { attempt: 2 } },
  });
  t.like(parseLogLine('2026-11-23 10:00:01 INFO api started'), { parsed: false, problem: 'matches neither log format' });
  t.like(parseLogLine('yesterday INFO api started'), { parsed: false, problem: '"yesterday" is not an ISO-8601 UTC time' });
  t.like(parseLogLine('{"ts":"2026-11-23T10:00:02Z","level":"warn"}'), { parsed: false, problem: 'a JSON line needs the strings ts, level, service and msg' });
  t.like(parseLogLine('[1,2]'), { parsed: false, problem: 'matches neither log format' });
});
