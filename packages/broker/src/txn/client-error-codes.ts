import { ApiKey, ErrorCode } from '@defter/protocol';

/** The first version of each API whose clients know PRODUCER_FENCED (90), as in Kafka's KafkaApis. */
const PRODUCER_FENCED_SINCE: ReadonlyMap<number, number> = new Map([
  [ApiKey.InitProducerId, 4],
  [ApiKey.AddPartitionsToTxn, 2],
  [ApiKey.AddOffsetsToTxn, 2],
  [ApiKey.EndTxn, 2],
]);

/**
 * The code to send for a coordinator error: clients older than PRODUCER_FENCED get
 * INVALID_PRODUCER_EPOCH (47), which they handle the same way (kafkajs checks for 47).
 */
export function clientErrorCode(errorCode: number, apiKey: number, apiVersion: number): number {
  if (errorCode !== ErrorCode.PRODUCER_FENCED) return errorCode;
  const since = PRODUCER_FENCED_SINCE.get(apiKey);
  return since !== undefined && apiVersion < since ? ErrorCode.INVALID_PRODUCER_EPOCH : errorCode;
}
