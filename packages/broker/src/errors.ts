import { ErrorCode, errorByName } from '@defter/protocol';
import { LogError } from '@defter/log';

/**
 * A failure that has a Kafka error code: the one way broker components report an expected error
 * (unknown topic, bad config, …) to handlers, which put the code in the response.
 */
export class KafkaError extends Error {
  override readonly name = 'KafkaError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The Kafka error code for any error a component may throw: `KafkaError` carries its own, the
 * storage engine's errors name theirs; anything else is UNKNOWN_SERVER_ERROR (and worth a log line).
 */
export function errorCodeOf(error: unknown): number {
  if (error instanceof KafkaError) return error.code;
  if (error instanceof LogError) return errorByName(error.kafkaErrorName)?.code ?? ErrorCode.UNKNOWN_SERVER_ERROR;
  return ErrorCode.UNKNOWN_SERVER_ERROR;
}

/** The message to put in a response's error_message field (null when none fits). */
export function errorMessageOf(error: unknown): string | null {
  return error instanceof Error ? error.message : null;
}
