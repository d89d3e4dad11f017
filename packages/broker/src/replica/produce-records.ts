import {
  ATTRIBUTE_COMPRESSION_MASK,
  BATCH_HEADER_BYTES,
  BATCH_OFFSET_ATTRIBUTES,
  BATCH_OFFSET_BASE_SEQUENCE,
  BATCH_OFFSET_MAGIC,
  BATCH_OFFSET_PRODUCER_EPOCH,
  BATCH_OFFSET_PRODUCER_ID,
  CURRENT_MAGIC,
  CompressionType,
  DecodeError,
  ErrorCode,
  LOG_OVERHEAD_BYTES,
  decodeLegacyMessageSet,
  encodeRecordBatch,
  isControl,
  isTransactional,
  type RecordBatchInput,
} from '@defter/protocol';
import { KafkaError } from '../errors.js';

/*
 * What a Produce request may carry for one partition, checked on the 61-byte header only (the
 * hot path never looks at records): exactly one magic-2 batch from Produce v3, no control batch,
 * zstd only from v7. The CRC-32C, the size against max.message.bytes and the record count are
 * checked once, by `PartitionLog.append`.
 *
 * Produce v0-2 carry legacy message sets (magic 0 and 1). kafka-python 2.0 sends them only when
 * it believes the broker is older than 0.11; it infers the release from ApiVersions, and our
 * ranges make it pick Produce v7 with magic-2 batches. Old clients that do send them get their
 * messages up-converted into one v2 batch (as Kafka does), since a partition never mixes formats.
 * This is the one place the broker decodes records on produce; it is a legacy path and runs on the
 * event loop.
 */

/** First Produce version that must carry exactly one magic-2 batch (KIP-98). */
export const PRODUCE_VERSION_MAGIC_2_ONLY = 3;
/** First Produce version that may carry zstd batches (KIP-110). */
export const PRODUCE_VERSION_ZSTD = 7;

/**
 * The one v2 batch to append for a partition's `records`, or a `KafkaError` with the code the
 * partition's response carries. The returned buffer may be `records` itself: the append patches it.
 */
export function batchToAppend(records: Buffer | null, produceVersion: number, decompressedBytesMax: number): Buffer {
  if (records === null || records.length === 0) {
    throw new KafkaError(ErrorCode.INVALID_RECORD, 'the partition carries no record batch');
  }
  if (records.length <= BATCH_OFFSET_MAGIC) {
    throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, `${records.length} bytes cannot hold a record batch`);
  }
  const magic = records.readInt8(BATCH_OFFSET_MAGIC);
  if (magic !== CURRENT_MAGIC) {
    if (produceVersion >= PRODUCE_VERSION_MAGIC_2_ONLY) {
      throw new KafkaError(ErrorCode.INVALID_RECORD, `Produce v${produceVersion} may only carry magic-2 batches, got magic ${magic}`);
    }
    return upConvertLegacy(records, decompressedBytesMax);
  }
  if (records.length < BATCH_HEADER_BYTES) {
    throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, `${records.length} bytes cannot hold a ${BATCH_HEADER_BYTES}-byte batch header`);
  }
  const batchBytes = records.readInt32BE(LOG_OVERHEAD_BYTES - 4) + LOG_OVERHEAD_BYTES;
  if (batchBytes > records.length || batchBytes < BATCH_HEADER_BYTES) {
    throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, `batchLength claims ${batchBytes} bytes, the partition carries ${records.length}`);
  }
  if (batchBytes < records.length) {
    throw new KafkaError(ErrorCode.INVALID_RECORD, 'a Produce request may carry only one record batch per partition');
  }
  const attributes = records.readInt16BE(BATCH_OFFSET_ATTRIBUTES);
  if (isControl(attributes)) throw new KafkaError(ErrorCode.INVALID_RECORD, 'clients may not produce control batches');
  const compression = attributes & ATTRIBUTE_COMPRESSION_MASK;
  if (compression > CompressionType.Zstd) throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, `unknown compression type ${compression}`);
  if (compression === CompressionType.Zstd && produceVersion < PRODUCE_VERSION_ZSTD) {
    throw new KafkaError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `zstd batches need Produce v${PRODUCE_VERSION_ZSTD}+, got v${produceVersion}`);
  }
  checkProducerFields(records, attributes);
  return records;
}

/**
 * The producer fields of a client batch: an idempotent one (producerId >= 0) needs a sequence
 * (Kafka's LogValidator) and an epoch (InitProducerId never hands out a negative one); a
 * transactional one needs a producer id, or it would open a transaction no marker can end.
 */
function checkProducerFields(records: Buffer, attributes: number): void {
  const producerId = records.readBigInt64BE(BATCH_OFFSET_PRODUCER_ID);
  if (producerId < 0n) {
    if (isTransactional(attributes)) throw new KafkaError(ErrorCode.INVALID_RECORD, 'a transactional batch needs a producer id');
    return;
  }
  const baseSequence = records.readInt32BE(BATCH_OFFSET_BASE_SEQUENCE);
  if (baseSequence < 0) throw new KafkaError(ErrorCode.INVALID_RECORD, `invalid sequence number ${baseSequence} in a batch of producer ${producerId}`);
  const producerEpoch = records.readInt16BE(BATCH_OFFSET_PRODUCER_EPOCH);
  if (producerEpoch < 0) throw new KafkaError(ErrorCode.INVALID_RECORD, `invalid producer epoch ${producerEpoch} in a batch of producer ${producerId}`);
}

/**
 * True when `records` starts with a magic-2 batch marked transactional: read on the raw bytes
 * before any other check, since Kafka refuses the whole request when it has no transactional id.
 */
export function carriesTransactionalBatch(records: Buffer | null): boolean {
  if (records === null || records.length < BATCH_OFFSET_ATTRIBUTES + 2) return false;
  return records.readInt8(BATCH_OFFSET_MAGIC) === CURRENT_MAGIC && isTransactional(records.readInt16BE(BATCH_OFFSET_ATTRIBUTES));
}

/** A legacy message set (magic 0/1) as one v2 batch: same keys, values, timestamps and compression. */
function upConvertLegacy(records: Buffer, decompressedBytesMax: number): Buffer {
  let converted: RecordBatchInput;
  try {
    const legacy = decodeLegacyMessageSet(records, { decompressedBytesMax });
    const first = legacy[0];
    if (first === undefined) throw new KafkaError(ErrorCode.INVALID_RECORD, 'the legacy message set is empty');
    converted = {
      compression: first.attributes & ATTRIBUTE_COMPRESSION_MASK,
      records: legacy.flatMap((batch) =>
        batch.records.map((record) => ({
          timestamp: batch.baseTimestamp + record.timestampDelta,
          key: record.key,
          value: record.value,
          headers: [],
        })),
      ),
    };
  } catch (error) {
    if (error instanceof DecodeError) throw new KafkaError(ErrorCode.CORRUPT_MESSAGE, `legacy message set: ${error.message}`);
    throw error;
  }
  return encodeRecordBatch(converted);
}
