/**
 * The embedded log's record conversions: fetched batches to `LogRecord`s (offsets and timestamps
 * on numbers where exact, on bigints past 2^52, checked against bigint arithmetic), outgoing
 * records to a producer batch (headers in kafkajs's shape to Kafka's list), request size estimates.
 */
import test from 'ava';
import { decodeRecordBatches, encodeRecordBatch } from '@defter/protocol';
import { decodeFetchedRecords, encodeProducerBatch, estimatedRecordBytes } from '../src/log/embedded/record-batches.js';
import type { OutgoingRecord } from '../src/log/stream-log.js';

const timestamps = [1_700_000_000_000n, 1_700_000_000_007n, 1_699_999_999_990n, 1_700_000_000_500n];

function batchAt(baseOffset: bigint, options: { logAppendTime?: bigint; timestamps?: readonly bigint[] } = {}): Buffer {
  return encodeRecordBatch({
    baseOffset,
    ...(options.logAppendTime !== undefined ? { timestampType: 'log-append' as const, maxTimestamp: options.logAppendTime } : {}),
    records: (options.timestamps ?? timestamps).map((timestamp, index) => ({
      timestamp,
      key: Buffer.from(`k${index}`),
      value: index === 1 ? null : Buffer.from(`v${index}`),
      headers: index === 2 ? [{ key: 'h', value: Buffer.from('1') }, { key: 'h', value: Buffer.from('2') }, { key: 'n', value: null }] : [],
    })),
  });
}

test('records from the fetch offset on, with exact offsets, CreateTime timestamps and headers in kafkajs shape', (t) => {
  const bytes = Buffer.concat([batchAt(40n), batchAt(44n)]);
  const decoded = decodeFetchedRecords(bytes, 42n, []);
  t.is(decoded.nextOffset, 48n);
  t.deepEqual(
    decoded.records.map((record) => [record.offset, record.timestamp, record.key?.toString(), record.value?.toString() ?? null]),
    [
      [42n, 1_699_999_999_990, 'k2', 'v2'],
      [43n, 1_700_000_000_500, 'k3', 'v3'],
      [44n, 1_700_000_000_000, 'k0', 'v0'],
      [45n, 1_700_000_000_007, 'k1', null],
      [46n, 1_699_999_999_990, 'k2', 'v2'],
      [47n, 1_700_000_000_500, 'k3', 'v3'],
    ],
  );
  t.deepEqual(decoded.records[0]!.headers, { h: [Buffer.from('1'), Buffer.from('2')], n: undefined });
  t.deepEqual(decoded.records[1]!.headers, {});
  t.true(Object.isFrozen(decoded.records[1]!.headers), 'records without headers share one frozen object');
});

test('LogAppendTime batches give every record the batch time', (t) => {
  const decoded = decodeFetchedRecords(batchAt(0n, { logAppendTime: 1_800_000_000_000n }), 0n, null);
  t.deepEqual(
    decoded.records.map((record) => record.timestamp),
    [1_800_000_000_000, 1_800_000_000_000, 1_800_000_000_000, 1_800_000_000_000],
  );
});

test('offsets and timestamps past what a number holds exactly are computed on bigints', (t) => {
  for (const baseOffset of [2n ** 52n - 2n, 2n ** 52n, 2n ** 53n + 5n, 2n ** 62n]) {
    const decoded = decodeFetchedRecords(batchAt(baseOffset), baseOffset + 1n, undefined);
    t.deepEqual(
      decoded.records.map((record) => record.offset),
      [baseOffset + 1n, baseOffset + 2n, baseOffset + 3n],
      `base offset ${baseOffset}`,
    );
    t.is(decoded.nextOffset, baseOffset + 4n);
  }
  const huge = [2n ** 60n + 1n, 2n ** 60n + 3n, -(2n ** 55n)];
  const decoded = decodeFetchedRecords(batchAt(0n, { timestamps: huge }), 0n, undefined);
  t.deepEqual(
    decoded.records.map((record) => record.timestamp),
    huge.map((timestamp) => Number(timestamp)),
  );
});

const outgoing = (headers: OutgoingRecord['headers']): OutgoingRecord => ({ topic: 't', partition: 0, key: Buffer.from('k'), value: Buffer.from('abc'), headers, timestamp: 1_700_000_000_123.9 });

test('estimatedRecordBytes counts every header value, strings by their UTF-8 length', (t) => {
  t.is(estimatedRecordBytes(outgoing({})), 28);
  t.is(estimatedRecordBytes({ ...outgoing({}), key: null, value: null }), 24);
  // 28 + a:(1+8+2) + bb:(2+8+3) + c:(1+8+2) + c:(1+8+1); d is absent.
  t.is(estimatedRecordBytes(outgoing({ a: 'xy', bb: Buffer.from('123'), c: ['é', Buffer.from('z')], d: undefined })), 73);
});

test('encodeProducerBatch writes headers as Kafka lists (repeated keys in order, absent values dropped) and whole-millisecond times', (t) => {
  const bytes = encodeProducerBatch(
    [outgoing({ a: 'xy', bb: Buffer.from('123'), c: ['é', Buffer.from('z')], d: undefined }), outgoing({})],
    { producerId: 7n, producerEpoch: 3, transactional: true },
    11,
  );
  const [batch] = decodeRecordBatches(bytes);
  t.like(batch, { producerId: 7n, producerEpoch: 3, baseSequence: 11, baseTimestamp: 1_700_000_000_123n });
  t.deepEqual(
    batch!.records[0]!.headers.map((header) => [header.key, header.value?.toString()]),
    [
      ['a', 'xy'],
      ['bb', '123'],
      ['c', 'é'],
      ['c', 'z'],
    ],
  );
  t.deepEqual(batch!.records[1]!.headers, []);
});
