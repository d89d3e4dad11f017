import type { RecordHeaders } from '../log/stream-log.js';
import { SerdeError } from '../serde/serde-error.js';

/**
 * What happens to a record that cannot be read or processed:
 * - `'fail'`: the app stops in state ERROR; nothing after the last commit is committed, so a
 *   restart (after a fix) reads the record again;
 * - `'skip'`: the record is dropped and counted (`recordsSkipped` per task);
 * - `{ deadLetterTopic }`: the record's original bytes go to that topic with the error in headers
 *   (`DEAD_LETTER_HEADERS`), counted as `recordsDeadLettered`, in the same commit as the outputs.
 */
export type ErrorPolicy = 'fail' | 'skip' | { readonly deadLetterTopic: string };

/** Where in the pipeline a record failed. */
export type FailureStage = 'deserialization' | 'processing' | 'serialization';

/** The headers a dead-lettered record carries, on top of its own. */
export const DEAD_LETTER_HEADERS = {
  stage: 'defter.error.stage',
  errorClass: 'defter.error.class',
  message: 'defter.error.message',
  /** A `SerdeError`'s reason (`malformed`, `unknown-schema`, …); absent for other errors. */
  reason: 'defter.error.reason',
  topic: 'defter.source.topic',
  partition: 'defter.source.partition',
  offset: 'defter.source.offset',
  applicationId: 'defter.application.id',
} as const;

export interface FailedRecordInfo {
  readonly stage: FailureStage;
  readonly error: unknown;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly applicationId: string;
}

/** Headers longer than this are cut: an error message must not make a dead letter exceed message.max.bytes. */
const ERROR_MESSAGE_CHARS_MAX = 4_000;

export function deadLetterHeaders(original: RecordHeaders, info: FailedRecordInfo): RecordHeaders {
  const error = info.error;
  const headers: Record<string, RecordHeaders[string]> = { ...original };
  headers[DEAD_LETTER_HEADERS.stage] = info.stage;
  headers[DEAD_LETTER_HEADERS.errorClass] = error instanceof Error ? error.name : typeof error;
  headers[DEAD_LETTER_HEADERS.message] = describeError(error).slice(0, ERROR_MESSAGE_CHARS_MAX);
  if (error instanceof SerdeError) headers[DEAD_LETTER_HEADERS.reason] = error.reason;
  headers[DEAD_LETTER_HEADERS.topic] = info.topic;
  headers[DEAD_LETTER_HEADERS.partition] = String(info.partition);
  headers[DEAD_LETTER_HEADERS.offset] = info.offset.toString();
  headers[DEAD_LETTER_HEADERS.applicationId] = info.applicationId;
  return headers;
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The error an app stops with when a record fails under the `'fail'` policy. */
export class RecordFailedError extends Error {
  override readonly name = 'RecordFailedError';
  readonly stage: FailureStage;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;

  constructor(info: Omit<FailedRecordInfo, 'applicationId'>) {
    super(`${info.stage} failed for the record of topic "${info.topic}" partition ${info.partition} offset ${info.offset}: ${describeError(info.error)}`, {
      cause: info.error,
    });
    this.stage = info.stage;
    this.topic = info.topic;
    this.partition = info.partition;
    this.offset = info.offset;
  }
}

export function validateErrorPolicy(policy: ErrorPolicy, name: string): void {
  if (policy === 'fail' || policy === 'skip') return;
  if (typeof policy === 'object' && policy !== null && typeof policy.deadLetterTopic === 'string' && policy.deadLetterTopic.length > 0) return;
  throw new RangeError(`${name} must be 'fail', 'skip' or { deadLetterTopic: '<topic>' }`);
}
