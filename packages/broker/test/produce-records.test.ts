import { crc32 } from 'node:zlib';
import test from 'ava';
import {
  BATCH_OFFSET_ATTRIBUTES,
  BATCH_OFFSET_CRC,
  CompressionType,
  ErrorCode,
  computeBatchCrc,
  decodeRecordBatch,
  encodeControlBatch,
  encodeRecordBatch,
} from '@defter/protocol';
import { KafkaError } from '../src/errors.js';
import { batchToAppend } from '../src/replica/produce-records.js';

const LIMIT = 1 << 20;

function batch(compression = CompressionType.None, values = ['a', 'b']): Buffer {
  return encodeRecordBatch({ compression, records: values.map((value, i) => ({ timestamp: 1_000n + BigInt(i), key: Buffer.from(`k${i}`), value: Buffer.from(value) })) });
}

function codeOf(run: () => unknown): number | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return error instanceof KafkaError ? error.code : -999;
  }
}

/** A magic-1 message (Kafka 0.10's format), by hand: offset, size, crc32, magic, attributes, timestamp, key, value. */
function legacyMessage(offset: bigint, timestamp: bigint, key: string | null, value: string): Buffer {
  const keyBytes = key === null ? null : Buffer.from(key);
  const valueBytes = Buffer.from(value);
  const body = Buffer.alloc(1 + 1 + 8 + 4 + (keyBytes?.length ?? 0) + 4 + valueBytes.length);
  let at = body.writeInt8(1, 0);
  at = body.writeInt8(0, at);
  at = body.writeBigInt64BE(timestamp, at);
  at = body.writeInt32BE(keyBytes === null ? -1 : keyBytes.length, at);
  if (keyBytes !== null) at += keyBytes.copy(body, at);
  at = body.writeInt32BE(valueBytes.length, at);
  valueBytes.copy(body, at);
  const head = Buffer.alloc(16);
  head.writeBigInt64BE(offset, 0);
  head.writeInt32BE(4 + body.length, 8);
  head.writeUInt32BE(crc32(body) >>> 0, 12);
  return Buffer.concat([head, body]);
}

test('v3+: one magic-2 batch is appended as it came (the same buffer, nothing decoded)', (t) => {
  const records = batch();
  t.is(batchToAppend(records, 3, LIMIT), records);
  t.is(batchToAppend(records, 11, LIMIT), records);
});

test('two batches, no batch, or a control batch are INVALID_RECORD', (t) => {
  t.is(codeOf(() => batchToAppend(Buffer.concat([batch(), batch()]), 7, LIMIT)), ErrorCode.INVALID_RECORD);
  t.is(codeOf(() => batchToAppend(null, 7, LIMIT)), ErrorCode.INVALID_RECORD);
  t.is(codeOf(() => batchToAppend(Buffer.alloc(0), 7, LIMIT)), ErrorCode.INVALID_RECORD);
  const control = encodeControlBatch({ type: 'commit', producerId: 7n, producerEpoch: 0, coordinatorEpoch: 0, timestamp: 1n });
  t.is(codeOf(() => batchToAppend(control, 7, LIMIT)), ErrorCode.INVALID_RECORD);
});

test('truncated or over-long batches are CORRUPT_MESSAGE', (t) => {
  const records = batch();
  t.is(codeOf(() => batchToAppend(records.subarray(0, 10), 7, LIMIT)), ErrorCode.CORRUPT_MESSAGE);
  t.is(codeOf(() => batchToAppend(records.subarray(0, 40), 7, LIMIT)), ErrorCode.CORRUPT_MESSAGE);
  t.is(codeOf(() => batchToAppend(records.subarray(0, records.length - 1), 7, LIMIT)), ErrorCode.CORRUPT_MESSAGE);
  const badCodec = Buffer.from(records);
  badCodec.writeInt16BE(6, BATCH_OFFSET_ATTRIBUTES);
  badCodec.writeUInt32BE(computeBatchCrc(badCodec), BATCH_OFFSET_CRC);
  t.is(codeOf(() => batchToAppend(badCodec, 7, LIMIT)), ErrorCode.CORRUPT_MESSAGE);
});

test('zstd needs Produce v7; magic 0/1 is refused from v3', (t) => {
  const zstd = batch(CompressionType.Zstd);
  t.is(codeOf(() => batchToAppend(zstd, 3, LIMIT)), ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
  t.is(codeOf(() => batchToAppend(zstd, 6, LIMIT)), ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
  t.is(batchToAppend(zstd, 7, LIMIT), zstd);
  t.is(codeOf(() => batchToAppend(batch(CompressionType.Lz4), 3, LIMIT)), undefined);
  t.is(codeOf(() => batchToAppend(legacyMessage(0n, 5n, 'k', 'v'), 3, LIMIT)), ErrorCode.INVALID_RECORD);
});

test('Produce v0-2: a legacy message set is up-converted into one v2 batch with the same records', (t) => {
  const legacy = Buffer.concat([legacyMessage(0n, 1_000n, 'k1', 'v1'), legacyMessage(1n, 1_005n, null, 'v2')]);
  const converted = batchToAppend(legacy, 2, LIMIT);
  const decoded = decodeRecordBatch(converted);
  t.is(decoded.records.length, 2);
  t.is(decoded.baseTimestamp, 1_000n);
  t.is(decoded.maxTimestamp, 1_005n);
  t.is(decoded.producerId, -1n);
  t.deepEqual(
    decoded.records.map((record) => [record.offsetDelta, record.timestampDelta, record.key?.toString() ?? null, record.value?.toString()]),
    [
      [0, 0n, 'k1', 'v1'],
      [1, 5n, null, 'v2'],
    ],
  );
  const corrupted = Buffer.from(legacy);
  corrupted[corrupted.length - 1] ^= 0xff;
  t.is(codeOf(() => batchToAppend(corrupted, 2, LIMIT)), ErrorCode.CORRUPT_MESSAGE);
  // A magic-2 batch is accepted at v0-2 too (Kafka does not check the magic there).
  const v2 = batch();
  t.is(batchToAppend(v2, 0, LIMIT), v2);
});
