import { ErrorCode } from '@defter/protocol';
import type { Logger } from 'pino';
import { errorCodeOf, errorMessageOf } from '../errors.js';

/**
 * The error code and message an admin result carries for `error`. Expected failures (a KafkaError,
 * a storage engine error) are the client's business; anything else is a bug or a disk problem and
 * also gets an error log line.
 */
export function adminFailure(error: unknown, logger: Logger, what: Record<string, unknown>): { errorCode: number; errorMessage: string | null } {
  const errorCode = errorCodeOf(error);
  if (errorCode === ErrorCode.UNKNOWN_SERVER_ERROR) logger.error({ ...what, err: error }, 'admin operation failed');
  return { errorCode, errorMessage: errorMessageOf(error) };
}

/** Values that occur more than once in `values`. */
export function duplicatesIn<T>(values: Iterable<T>): Set<T> {
  const seen = new Set<T>();
  const duplicates = new Set<T>();
  for (const value of values) {
    if (seen.has(value)) duplicates.add(value);
    seen.add(value);
  }
  return duplicates;
}
