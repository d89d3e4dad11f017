import { errorTable } from './generated/error-table.js';

/**
 * Kafka's error codes: one typed table (generated from Kafka's `Errors.java`, see
 * `scripts/generate-error-codes.ts`), named constants, and lookups by code and by name.
 */

export interface KafkaErrorInfo {
  /** Kafka's name, e.g. `UNKNOWN_TOPIC_OR_PARTITION`. */
  readonly name: string;
  readonly code: number;
  /** A client may retry the same request and expect it to succeed later. */
  readonly retriable: boolean;
  readonly description: string;
}

type ErrorRow = (typeof errorTable)[number];

export type ErrorName = ErrorRow['name'];

export { errorTable };

/** Error codes by name: `ErrorCode.UNKNOWN_TOPIC_OR_PARTITION === 3`. */
export const ErrorCode = Object.freeze(Object.fromEntries(errorTable.map((row) => [row.name, row.code]))) as {
  readonly [Row in ErrorRow as Row['name']]: Row['code'];
};

export type ErrorCode = ErrorRow['code'];

const byCode = new Map<number, KafkaErrorInfo>(errorTable.map((row) => [row.code, row]));
const byName = new Map<string, KafkaErrorInfo>(errorTable.map((row) => [row.name, row]));

/** The error with this code, or undefined for a code Kafka does not define. */
export function errorByCode(code: number): KafkaErrorInfo | undefined {
  return byCode.get(code);
}

/** The error with this name, or undefined. */
export function errorByName(name: string): KafkaErrorInfo | undefined {
  return byName.get(name);
}

/** Whether a client may retry after this code; unknown codes are not retriable. */
export function isRetriableError(code: number): boolean {
  return byCode.get(code)?.retriable ?? false;
}
