import { createRequire } from 'node:module';

/*
 * Independent encoders and decoders from other projects, loaded for tests only (they ship no
 * TypeScript types, so each gets the narrow shape the tests use).
 */
const require = createRequire(import.meta.url);

export interface KafkajsCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

export const kafkajsGzip = require('kafkajs/src/protocol/message/compression/gzip.js') as KafkajsCodec;
export const kafkajsSnappy = (require('kafkajs-snappy') as () => KafkajsCodec)();
export const lz4js = require('lz4js') as {
  compress(src: Uint8Array): Uint8Array;
  decompress(src: Uint8Array, maxSize?: number): Uint8Array;
};

/* kafkajs 2.2.4's own RecordBatch v2 encoder and decoder (protocol/recordBatch/v0), with kafkajs-snappy registered. */

interface KafkajsLong {
  toString(): string;
}
interface KafkajsLongStatic {
  fromString(text: string): KafkajsLong;
}
interface KafkajsEncoder {
  buffer: Buffer;
}
const Long = require('kafkajs/src/utils/long.js') as KafkajsLongStatic;
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch(input: object): Promise<KafkajsEncoder>;
};
const kafkajsRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (input: object) => KafkajsEncoder;
const KafkajsDecoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => object;
const kafkajsBatchDecoder = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (decoder: object) => Promise<KafkajsDecodedBatch>;
const kafkajsCompression = require('kafkajs/src/protocol/message/compression/index.js') as { Codecs: { [type: number]: () => KafkajsCodec } };
kafkajsCompression.Codecs[2] = () => kafkajsSnappy;

const long = (value: bigint): KafkajsLong => Long.fromString(value.toString());

export interface KafkajsBatchInput {
  compression: number;
  firstOffset: bigint;
  firstTimestamp: bigint;
  maxTimestamp: bigint;
  partitionLeaderEpoch: number;
  lastOffsetDelta: number;
  transactional: boolean;
  producerId: bigint;
  producerEpoch: number;
  firstSequence: number;
  /** kafkajs headers are an object: unique keys, non-null values. */
  records: Array<{ offsetDelta: number; timestampDelta: bigint; key: Buffer | null; value: Buffer | null; headers: { [key: string]: Buffer } }>;
}

export async function kafkajsEncodeBatch(input: KafkajsBatchInput): Promise<Buffer> {
  const encoded = await RecordBatch({
    compression: input.compression,
    firstOffset: long(input.firstOffset),
    firstTimestamp: long(input.firstTimestamp),
    maxTimestamp: long(input.maxTimestamp),
    partitionLeaderEpoch: input.partitionLeaderEpoch,
    lastOffsetDelta: input.lastOffsetDelta,
    transactional: input.transactional,
    producerId: long(input.producerId),
    producerEpoch: input.producerEpoch,
    firstSequence: input.firstSequence,
    records: input.records.map((record) => kafkajsRecord({ ...record, timestampDelta: long(record.timestampDelta) })),
  });
  return encoded.buffer;
}

export interface KafkajsDecodedBatch {
  firstOffset: string;
  firstTimestamp: string;
  maxTimestamp: string;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  lastOffsetDelta: number;
  inTransaction: boolean;
  isControlBatch: boolean;
  records: Array<{ offset: string; timestamp: string; key: Buffer | null; value: Buffer | null; headers: { [key: string]: Buffer | Buffer[] } }>;
}

export function kafkajsDecodeBatch(batch: Buffer): Promise<KafkajsDecodedBatch> {
  return kafkajsBatchDecoder(new KafkajsDecoder(batch));
}

/* kafkajs's legacy Message v0/v1 and MessageSet encoders (protocol/message, protocol/messageSet). */

const kafkajsMessageSet = require('kafkajs/src/protocol/messageSet/index.js') as (input: {
  messageVersion: number;
  compression: number;
  entries: Array<{ key: Buffer | null; value: Buffer | null; timestamp?: KafkajsLong; compression?: number }>;
}) => KafkajsEncoder;

export function kafkajsEncodeMessageSet(
  messageVersion: 0 | 1,
  entries: Array<{ key: Buffer | null; value: Buffer | null; timestamp?: bigint }>,
  compression = 0,
): Buffer {
  return kafkajsMessageSet({
    messageVersion,
    compression,
    entries: entries.map((entry) => ({ key: entry.key, value: entry.value, ...(entry.timestamp === undefined ? {} : { timestamp: long(entry.timestamp) }) })),
  }).buffer;
}

/** A wrapper message (kafkajs's Message encoder) whose value is an already-compressed inner message set. */
export function kafkajsEncodeWrapper(messageVersion: 0 | 1, offset: bigint, compression: number, compressedValue: Buffer, timestamp = 0n): Buffer {
  const message = (require(`kafkajs/src/protocol/message/v${messageVersion}/index.js`) as (input: object) => KafkajsEncoder & { size(): number })({
    compression,
    timestamp: long(timestamp),
    key: null,
    value: compressedValue,
  });
  const prefix = Buffer.alloc(12);
  prefix.writeBigInt64BE(offset, 0);
  prefix.writeInt32BE(message.buffer.length, 8);
  return Buffer.concat([prefix, message.buffer]);
}
