/**
 * Produce frames are assembled in pooled buffers that go back to the pool once their request is
 * answered. If one went back while its append was still queued or being written, the next frame
 * would overwrite it and the log would store another request's bytes. So: many pipelined
 * produces of large, distinct batches on one connection (every frame spans socket chunks, every
 * one is in a pool buffer, and many are in progress at once), then every stored batch is read
 * back through Fetch and compared byte for byte with what was sent.
 */
import test from 'ava';
import { ApiKey, BATCH_OFFSET_MAGIC, batchSizeAt, decodeResponse, encodeRecordBatch, ErrorCode, type ProduceResponse } from '@defter/protocol';
import { brokerWithTopics, fetch } from './replica-support.js';

const REQUESTS = 96;
const RECORDS_PER_BATCH = 40;
const VALUE_BYTES = 2_000;

/** A batch whose every value byte depends on the request and record, so no two batches agree. */
function distinctBatch(request: number): Buffer {
  return encodeRecordBatch({
    records: Array.from({ length: RECORDS_PER_BATCH }, (_, record) => {
      const value = Buffer.alloc(VALUE_BYTES);
      for (let i = 0; i < VALUE_BYTES; i++) value[i] = (request * 31 + record * 7 + i) & 0xff;
      return { timestamp: 1_700_000_000_000n + BigInt(record), key: Buffer.from(`r${request}-${record}`), value, headers: [] };
    }),
  });
}

test('pipelined produces of distinct large batches are stored exactly as sent', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'readback', partitions: 2 }]);
  const batches = Array.from({ length: REQUESTS }, (_, request) => distinctBatch(request));
  const frames = batches.map((records, request) =>
    client.frame(
      ApiKey.Produce,
      7,
      { transactionalId: null, acks: request % 7 === 6 ? 0 : 1, timeoutMs: 5_000, topicData: [{ name: 'readback', partitionData: [{ index: request % 2, records }] }] },
      request,
    ),
  );
  // Sent as fast as the socket takes them: the broker pipelines up to 16 produces at once.
  await client.write(Buffer.concat(frames));
  for (let request = 0; request < REQUESTS; request++) {
    if (request % 7 === 6) continue;
    const { header, body } = decodeResponse(await client.nextFrame(), ApiKey.Produce, 7) as { header: { correlationId: number }; body: ProduceResponse };
    t.is(header.correlationId, request);
    t.is(body.responses[0]!.partitionResponses[0]!.errorCode, ErrorCode.NONE);
  }

  for (const partition of [0, 1]) {
    const sent = batches.filter((_, request) => request % 2 === partition);
    const stored: Buffer[] = [];
    while (stored.length < sent.length) {
      const fetched = await fetch(client, [{ topic: 'readback', partition, offset: BigInt(stored.length * RECORDS_PER_BATCH) }], { partitionMaxBytes: 4 << 20 });
      const records = fetched.responses[0]!.partitions[0]!.records!;
      t.true(records.length > 0);
      for (let at = 0; at < records.length; ) {
        const size = batchSizeAt(records, at);
        stored.push(records.subarray(at, at + size));
        at += size;
      }
    }
    t.is(stored.length, sent.length);
    for (let i = 0; i < sent.length; i++) {
      t.is(stored[i]!.readBigInt64BE(0), BigInt(i * RECORDS_PER_BATCH), `partition ${partition} batch ${i}: base offset`);
      // From the magic byte on (CRC, attributes, records), the stored batch is the sent one.
      t.true(stored[i]!.subarray(BATCH_OFFSET_MAGIC).equals(sent[i]!.subarray(BATCH_OFFSET_MAGIC)), `partition ${partition} batch ${i}: bytes differ`);
    }
  }
});
