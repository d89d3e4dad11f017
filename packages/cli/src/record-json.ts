import { isUtf8 } from 'node:buffer';
import type { FormattableRecord } from './record-format.js';

/**
 * A record as one line of JSON (what `defter replay` writes unless given `--format`):
 *   {"topic":"orders","partition":0,"offset":12,"timestamp":1795428000000,"encoding":"utf8",
 *    "key":"k1","value":"{\"amount\":3}","headers":[{"key":"source","value":"web"}]}
 * `encoding` says how the key, the value and the header values are written: `utf8` (as text) when
 * every one of them is valid UTF-8, else `base64` (all of them, so a reader decodes one way).
 * A null key, value or header value is `null`. Headers are a list: a key may repeat.
 */
export interface RecordJson {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly encoding: 'utf8' | 'base64';
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: ReadonlyArray<{ readonly key: string; readonly value: string | null }>;
}

export function recordToJson(record: FormattableRecord): RecordJson {
  const payloads = [record.key, record.value, ...record.headers.map((header) => header.value)];
  const encoding = payloads.every((bytes) => bytes === null || isUtf8(bytes)) ? 'utf8' : 'base64';
  const text = (bytes: Buffer | null): string | null => (bytes === null ? null : bytes.toString(encoding));
  return {
    topic: record.topic,
    partition: record.partition,
    offset: Number(record.offset),
    timestamp: Number(record.timestamp),
    encoding,
    key: text(record.key),
    value: text(record.value),
    headers: record.headers.map((header) => ({ key: header.key, value: text(header.value) })),
  };
}

export function formatRecordJson(record: FormattableRecord): string {
  return JSON.stringify(recordToJson(record));
}
