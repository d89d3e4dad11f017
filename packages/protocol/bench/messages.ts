/*
 * The generic message codec (`encodeMessage` / `decodeMessage` over the generated schemas) on
 * realistic requests and responses, beside kafkajs 2.2.4's own encoder or decoder for the same
 * message and version, measured in the same run. Before timing, each case checks that both sides
 * agree (identical bytes, or the same decoded shape), so the two columns measure the same work.
 */
import assert from 'node:assert/strict';
import {
  FetchRequestSchema,
  JoinGroupRequestSchema,
  JoinGroupResponseSchema,
  MetadataResponseSchema,
  OffsetCommitRequestSchema,
  OffsetCommitResponseSchema,
  ProduceRequestSchema,
  ProduceResponseSchema,
  Reader,
  decodeMessage,
  encodeMessage,
  encodeRecordBatch,
} from '../src/index.js';
import type {
  FetchRequest,
  JoinGroupRequest,
  JoinGroupResponse,
  MessageSchema,
  MetadataResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  ProduceRequest,
  ProduceResponse,
  RecordBatchInput,
} from '../src/index.js';
import { kafkajsRequest, kafkajsResponseDecoder } from './kafkajs.js';
import { bestRates, format, ratio } from './measure.js';
import type { Timing } from './measure.js';
import { makeValue } from './record-batch.js';

const BASE_TIMESTAMP_MS = 1_700_000_000_000;
const PRODUCE_TOPICS = ['orders', 'payments', 'page-views'];
const PRODUCE_PARTITIONS = 4;
const PRODUCE_RECORDS_PER_BATCH = 128;
const PRODUCE_VALUE_BYTES = 128; // 128 × 128 B = 16 KiB of values per batch

/** One side of a row: our codec, and kafkajs's where it has one. */
interface Contender {
  readonly ours: () => unknown;
  readonly kafkajs?: () => Promise<unknown>;
}

interface MessageCase {
  readonly name: string;
  /** The message as we encode it: its size gives the MB/s columns. */
  readonly bytes: Buffer;
  readonly encode?: Contender;
  readonly decode?: Contender;
}

const range = (count: number): number[] => Array.from({ length: count }, (_, i) => i);

function decoder<T>(schema: MessageSchema<T>, version: number, bytes: Buffer): () => T {
  return () => {
    const reader = new Reader(bytes);
    const data = decodeMessage(schema, version, reader);
    reader.assertFullyConsumed(schema.name);
    return data;
  };
}

async function assertSameBytes(ours: Buffer, kafkajs: () => Promise<unknown>, name: string): Promise<void> {
  const theirs = (await kafkajs()) as Buffer;
  if (ours.equals(theirs)) return;
  let at = 0;
  while (at < ours.length && ours[at] === theirs[at]) at++;
  assert.fail(`${name}: kafkajs encodes different bytes (${theirs.length} vs our ${ours.length}; first difference at byte ${at})`);
}

// ---------------------------------------------------------------------------------------------
// Produce v7: 3 topics × 4 partitions, each a 16 KiB RecordBatch (128 records of 128-byte values)

async function produceCases(): Promise<MessageCase[]> {
  const version = 7;
  const batchInput = (topic: number, partition: number): RecordBatchInput => ({
    baseTimestamp: BigInt(BASE_TIMESTAMP_MS),
    // kafkajs's values for a non-idempotent producer, so both build the same batch.
    partitionLeaderEpoch: 0,
    producerEpoch: 0,
    baseSequence: 0,
    records: range(PRODUCE_RECORDS_PER_BATCH).map((i) => ({
      timestampDelta: BigInt(i),
      value: makeValue((topic * PRODUCE_PARTITIONS + partition) * PRODUCE_RECORDS_PER_BATCH + i, PRODUCE_VALUE_BYTES),
    })),
  });
  const inputs = PRODUCE_TOPICS.map((_, topic) => range(PRODUCE_PARTITIONS).map((partition) => batchInput(topic, partition)));
  const request = (batches: Buffer[][]): ProduceRequest => ({
    transactionalId: null,
    acks: -1,
    timeoutMs: 30000,
    topicData: PRODUCE_TOPICS.map((name, topic) => ({
      name,
      partitionData: range(PRODUCE_PARTITIONS).map((index) => ({ index, records: batches[topic]![index]! })),
    })),
  });
  const batches = inputs.map((partitions) => partitions.map(encodeRecordBatch));
  const prebuilt = request(batches);
  const bytes = encodeMessage(ProduceRequestSchema, version, prebuilt);

  // kafkajs builds each RecordBatch from its messages inside the request's encode(), so its baseline
  // is compared with our whole path: encodeRecordBatch for each partition, then the request.
  const kafkajsEncode = kafkajsRequest('produce', version)({
    acks: -1,
    timeout: 30000,
    transactionalId: null,
    topicData: PRODUCE_TOPICS.map((topic, t) => ({
      topic,
      partitions: range(PRODUCE_PARTITIONS).map((partition) => ({
        partition,
        messages: inputs[t]![partition]!.records.map((record) => ({
          key: null,
          value: record.value!,
          timestamp: BASE_TIMESTAMP_MS + Number(record.timestampDelta),
        })),
      })),
    })),
  });
  // Same batches byte for byte (same records, timestamps, producer id/epoch/sequence, no compression).
  await assertSameBytes(bytes, kafkajsEncode, 'Produce v7');

  const batchKiB = (batches[0]![0]!.length / 1024).toFixed(1);
  const shape = `${PRODUCE_TOPICS.length} topics × ${PRODUCE_PARTITIONS} partitions, ${batchKiB} KiB batches`;
  return [
    {
      name: `Produce v7 request, ${shape}, batches built from ${PRODUCE_RECORDS_PER_BATCH} records each`,
      bytes,
      encode: {
        ours: () => encodeMessage(ProduceRequestSchema, version, request(inputs.map((partitions) => partitions.map(encodeRecordBatch)))),
        kafkajs: kafkajsEncode,
      },
    },
    {
      name: `Produce v7 request, ${shape}, batches already encoded`,
      bytes,
      encode: { ours: () => encodeMessage(ProduceRequestSchema, version, prebuilt) },
      decode: { ours: decoder(ProduceRequestSchema, version, bytes) },
    },
  ];
}

function produceResponseCase(): MessageCase {
  const version = 7;
  const response: ProduceResponse = {
    throttleTimeMs: 0,
    responses: PRODUCE_TOPICS.map((name, topic) => ({
      name,
      partitionResponses: range(PRODUCE_PARTITIONS).map((index) => ({
        index,
        errorCode: 0,
        baseOffset: BigInt(48_213_337 + topic * 1000 + index * PRODUCE_RECORDS_PER_BATCH),
        logAppendTimeMs: -1n,
        logStartOffset: BigInt(1_200_000 + index),
      })),
    })),
  };
  const bytes = encodeMessage(ProduceResponseSchema, version, response);
  const kafkajsDecode = kafkajsResponseDecoder('produce', version);
  return {
    name: `Produce v7 response, ${PRODUCE_TOPICS.length} topics × ${PRODUCE_PARTITIONS} partitions`,
    bytes,
    encode: { ours: () => encodeMessage(ProduceResponseSchema, version, response) },
    decode: { ours: decoder(ProduceResponseSchema, version, bytes), kafkajs: () => kafkajsDecode(bytes) },
  };
}

// ---------------------------------------------------------------------------------------------
// Fetch v11 request: a consumer fetching 100 partitions (10 topics × 10)

async function fetchRequestCase(): Promise<MessageCase> {
  const version = 11;
  const topics = range(10).map((t) => ({ topic: `events-${t}`, partitions: range(10).map((p) => ({ partition: p, offset: 1_234_567 + t * 1000 + p * 17 })) }));
  const request: FetchRequest = {
    replicaId: -1,
    maxWaitMs: 500,
    minBytes: 1,
    maxBytes: 52_428_800,
    isolationLevel: 1,
    sessionId: 0,
    sessionEpoch: -1,
    topics: topics.map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map(({ partition, offset }) => ({
        partition,
        currentLeaderEpoch: 3,
        fetchOffset: BigInt(offset),
        logStartOffset: -1n,
        partitionMaxBytes: 1_048_576,
      })),
    })),
    forgottenTopicsData: [],
    rackId: '',
  };
  const bytes = encodeMessage(FetchRequestSchema, version, request);
  const kafkajsEncode = kafkajsRequest('fetch', version)({
    replicaId: -1,
    maxWaitTime: 500,
    minBytes: 1,
    maxBytes: 52_428_800,
    isolationLevel: 1,
    sessionId: 0,
    sessionEpoch: -1,
    rackId: '',
    topics: topics.map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map(({ partition, offset }) => ({
        partition,
        currentLeaderEpoch: 3,
        fetchOffset: String(offset),
        logStartOffset: -1,
        maxBytes: 1_048_576,
      })),
    })),
  });
  await assertSameBytes(bytes, kafkajsEncode, 'Fetch v11');
  return {
    name: 'Fetch v11 request, 10 topics × 10 partitions',
    bytes,
    encode: { ours: () => encodeMessage(FetchRequestSchema, version, request), kafkajs: kafkajsEncode },
    decode: { ours: decoder(FetchRequestSchema, version, bytes) },
  };
}

// ---------------------------------------------------------------------------------------------
// Metadata v6 response: 3 brokers, 20 topics × 12 partitions, replication factor 3

async function metadataResponseCase(): Promise<MessageCase> {
  const version = 6;
  const brokers = [1, 2, 3];
  const response: MetadataResponse = {
    throttleTimeMs: 0,
    brokers: brokers.map((nodeId) => ({ nodeId, host: `broker-${nodeId}.kafka.internal`, port: 9092, rack: `rack-${nodeId}` })),
    clusterId: 'wq4ZbY2sT7GJfRBmS1vXJg',
    controllerId: 1,
    topics: range(20).map((t) => ({
      errorCode: 0,
      name: `service-${t}.events`,
      isInternal: false,
      partitions: range(12).map((partitionIndex) => {
        const replicaNodes = [0, 1, 2].map((r) => brokers[(partitionIndex + r) % brokers.length]!);
        return { errorCode: 0, partitionIndex, leaderId: replicaNodes[0]!, replicaNodes, isrNodes: replicaNodes, offlineReplicas: [] };
      }),
    })),
  };
  const bytes = encodeMessage(MetadataResponseSchema, version, response);
  const kafkajsDecode = kafkajsResponseDecoder('metadata', version);
  const theirs = (await kafkajsDecode(bytes)) as { topicMetadata: Array<{ partitionMetadata: Array<{ isr: number[] }> }> };
  assert.equal(theirs.topicMetadata.length, 20);
  assert.deepEqual(theirs.topicMetadata[19]!.partitionMetadata[11]!.isr, response.topics[19]!.partitions[11]!.isrNodes);
  return {
    name: 'Metadata v6 response, 3 brokers, 20 topics × 12 partitions',
    bytes,
    encode: { ours: () => encodeMessage(MetadataResponseSchema, version, response) },
    decode: { ours: decoder(MetadataResponseSchema, version, bytes), kafkajs: () => kafkajsDecode(bytes) },
  };
}

// ---------------------------------------------------------------------------------------------
// Consumer group: JoinGroup v5 (request, and the leader's response with 10 members), OffsetCommit v5

/** A consumer-protocol subscription (version 0, topics, no user data), as a member sends it. */
function subscription(topics: string[]): Buffer {
  const parts = [Buffer.from([0, 0]), Buffer.alloc(4)];
  parts[1]!.writeInt32BE(topics.length);
  for (const topic of topics) {
    const length = Buffer.alloc(2);
    length.writeInt16BE(Buffer.byteLength(topic));
    parts.push(length, Buffer.from(topic));
  }
  parts.push(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  return Buffer.concat(parts);
}

async function joinGroupCases(): Promise<MessageCase[]> {
  const version = 5;
  const metadata = subscription(['orders', 'payments', 'page-views']);
  const request: JoinGroupRequest = {
    groupId: 'billing-service',
    sessionTimeoutMs: 30000,
    rebalanceTimeoutMs: 60000,
    memberId: 'billing-service-3f1c2a7e-9d4b-4c1e-8a55-0b6d2f9e1c3a',
    groupInstanceId: null,
    protocolType: 'consumer',
    protocols: [
      { name: 'cooperative-sticky', metadata },
      { name: 'range', metadata },
    ],
  };
  const requestBytes = encodeMessage(JoinGroupRequestSchema, version, request);
  const kafkajsEncode = kafkajsRequest('joinGroup', version)({
    groupId: request.groupId,
    sessionTimeout: request.sessionTimeoutMs,
    rebalanceTimeout: request.rebalanceTimeoutMs,
    memberId: request.memberId,
    groupInstanceId: null,
    protocolType: request.protocolType,
    groupProtocols: request.protocols,
  });
  await assertSameBytes(requestBytes, kafkajsEncode, 'JoinGroup v5');

  const members = range(10).map((i) => ({ memberId: `billing-service-${i}-3f1c2a7e-9d4b-4c1e-8a55-0b6d2f9e1c3a`, groupInstanceId: null, metadata }));
  const response: JoinGroupResponse = {
    throttleTimeMs: 0,
    errorCode: 0,
    generationId: 17,
    protocolName: 'cooperative-sticky',
    leader: members[0]!.memberId,
    memberId: members[0]!.memberId,
    members,
  };
  const responseBytes = encodeMessage(JoinGroupResponseSchema, version, response);
  const kafkajsDecode = kafkajsResponseDecoder('joinGroup', version);
  const theirs = (await kafkajsDecode(responseBytes)) as { members: Array<{ memberMetadata: Buffer }> };
  assert.equal(theirs.members.length, 10);
  assert.ok(theirs.members[9]!.memberMetadata.equals(metadata));
  return [
    {
      name: 'JoinGroup v5 request, 2 protocols',
      bytes: requestBytes,
      encode: { ours: () => encodeMessage(JoinGroupRequestSchema, version, request), kafkajs: kafkajsEncode },
      decode: { ours: decoder(JoinGroupRequestSchema, version, requestBytes) },
    },
    {
      name: 'JoinGroup v5 response, leader, 10 members',
      bytes: responseBytes,
      encode: { ours: () => encodeMessage(JoinGroupResponseSchema, version, response) },
      decode: { ours: decoder(JoinGroupResponseSchema, version, responseBytes), kafkajs: () => kafkajsDecode(responseBytes) },
    },
  ];
}

async function offsetCommitCases(): Promise<MessageCase[]> {
  const version = 5;
  const topics = ['orders', 'payments'].map((topic, t) => ({ topic, partitions: range(6).map((p) => ({ partition: p, offset: 9_876_543 + t * 100_000 + p * 311 })) }));
  const request: OffsetCommitRequest = {
    groupId: 'billing-service',
    generationIdOrMemberEpoch: 17,
    memberId: 'billing-service-3-3f1c2a7e-9d4b-4c1e-8a55-0b6d2f9e1c3a',
    topics: topics.map(({ topic, partitions }) => ({
      name: topic,
      partitions: partitions.map(({ partition, offset }) => ({ partitionIndex: partition, committedOffset: BigInt(offset), committedMetadata: null })),
    })),
  };
  const requestBytes = encodeMessage(OffsetCommitRequestSchema, version, request);
  const kafkajsEncode = kafkajsRequest('offsetCommit', version)({
    groupId: request.groupId,
    groupGenerationId: 17,
    memberId: request.memberId,
    topics: topics.map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map(({ partition, offset }) => ({ partition, offset: String(offset), metadata: null })),
    })),
  });
  await assertSameBytes(requestBytes, kafkajsEncode, 'OffsetCommit v5');

  const response: OffsetCommitResponse = {
    throttleTimeMs: 0,
    topics: request.topics.map(({ name, partitions }) => ({ name, partitions: partitions.map(({ partitionIndex }) => ({ partitionIndex, errorCode: 0 })) })),
  };
  const responseBytes = encodeMessage(OffsetCommitResponseSchema, version, response);
  const kafkajsDecode = kafkajsResponseDecoder('offsetCommit', version);
  const theirs = (await kafkajsDecode(responseBytes)) as { responses: Array<{ partitions: unknown[] }> };
  assert.equal(theirs.responses[1]!.partitions.length, 6);
  return [
    {
      name: 'OffsetCommit v5 request, 2 topics × 6 partitions',
      bytes: requestBytes,
      encode: { ours: () => encodeMessage(OffsetCommitRequestSchema, version, request), kafkajs: kafkajsEncode },
      decode: { ours: decoder(OffsetCommitRequestSchema, version, requestBytes) },
    },
    {
      name: 'OffsetCommit v5 response, 2 topics × 6 partitions',
      bytes: responseBytes,
      encode: { ours: () => encodeMessage(OffsetCommitResponseSchema, version, response) },
      decode: { ours: decoder(OffsetCommitResponseSchema, version, responseBytes), kafkajs: () => kafkajsDecode(responseBytes) },
    },
  ];
}

// ---------------------------------------------------------------------------------------------

export async function messageCases(): Promise<MessageCase[]> {
  return [
    ...(await produceCases()),
    produceResponseCase(),
    await fetchRequestCase(),
    await metadataResponseCase(),
    ...(await joinGroupCases()),
    ...(await offsetCommitCases()),
  ];
}

const HEADER = [
  '| message | bytes | ours msg/s | ours MB/s | kafkajs msg/s | kafkajs MB/s | vs kafkajs |',
  '|---|---:|---:|---:|---:|---:|---:|',
];

async function row(timing: Timing, message: MessageCase, contender: Contender): Promise<string> {
  const kafkajs = contender.kafkajs;
  const [ours, theirs] = await bestRates(timing, kafkajs === undefined ? [{ sync: contender.ours }] : [{ sync: contender.ours }, { async: kafkajs }]);
  const megabytes = message.bytes.length / 1e6;
  const baseline = theirs === undefined ? '— | —' : `${format(theirs)} | ${format(theirs * megabytes)}`;
  return `| ${message.name} | ${message.bytes.length} | ${format(ours!)} | ${format(ours! * megabytes)} | ${baseline} | ${ratio(ours!, theirs)} |`;
}

/** Two Markdown tables, encode then decode; a dash where kafkajs has no codec for that direction. */
export async function benchMessages(timing: Timing): Promise<{ encode: string[]; decode: string[] }> {
  const cases = await messageCases();
  const encode = [...HEADER];
  const decode = [...HEADER];
  for (const message of cases) {
    if (message.encode !== undefined) encode.push(await row(timing, message, message.encode));
  }
  for (const message of cases) {
    if (message.decode !== undefined) decode.push(await row(timing, message, message.decode));
  }
  return { encode, decode };
}
