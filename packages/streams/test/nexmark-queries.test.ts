/**
 * q0–q2 as streams apps on the embedded log against the plain-loop reference, every record
 * compared; the hand-written loop row and the in-memory ceiling row produce the same outputs.
 * q3, q5 and q8 (stateful) as streams apps against their references, every record compared (a
 * join's records of one key may come in another order: counted, not a failure).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { startBroker, type RunningBroker } from '@defter/broker';
import { EmbeddedLog } from '../src/index.js';
import { nexmarkEventSerde } from '../nexmark/event-serde.js';
import { NexmarkGenerator } from '../nexmark/generator.js';
import { eventKey, type NexmarkEvent } from '../nexmark/model.js';
import { checkOutput, endOffsets, readTopic } from '../nexmark/output-check.js';
import { STATELESS_QUERIES, q1, q2, type NexmarkQuery } from '../nexmark/queries.js';
import { STATEFUL_QUERIES, type StatefulQuery } from '../nexmark/stateful-queries.js';
import { referenceOutput } from '../nexmark/reference.js';
import { runAppRow, runCeilingRow, runLoopRow, type LogRowOptions } from '../nexmark/rows.js';
import { NEXMARK_EVENTS_TOPIC, writeNexmarkEvents } from '../nexmark/writer.js';

const EVENTS = 5_000;
const PARTITIONS = 3;
/**
 * The stateful queries' input: 200 events/s, so 5 000 events span 25 s — three 10 s windows; seed 7
 * gives q3 63 results over 10 sellers (its hot seller lives in CA) and q8 35 new sellers.
 */
const STATEFUL_GENERATOR = { seed: 7, eventsPerSecond: 200 } as const;

async function startNexmarkBroker(t: ExecutionContext, generator: { seed: number; eventsPerSecond?: number } = { seed: 11 }): Promise<{ broker: RunningBroker; events: NexmarkEvent[]; log: EmbeddedLog; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'defter-nexmark-test-'));
  const broker = await startBroker({ dataDir, listen: false, groupInitialRebalanceDelayMs: 0, offsetsTopicNumPartitions: 3, logLevel: 'warn' });
  const log = new EmbeddedLog({ broker });
  t.teardown(async () => {
    await log.close();
    await broker.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const events = Array.from(new NexmarkGenerator(generator).events(EVENTS));
  // Small sends: the topic holds many record batches per partition.
  const written = await writeNexmarkEvents(log, events, { partitions: PARTITIONS, sendRecordsMax: 700 });
  t.is(written.recordsPerPartition.reduce((total, count) => total + count, 0), EVENTS);
  t.deepEqual(await endOffsets(broker.client('test'), NEXMARK_EVENTS_TOPIC, PARTITIONS), written.recordsPerPartition.map(BigInt));
  return { broker, events, log, dataDir };
}

function rowOptions(broker: RunningBroker, outputTopic: string, expectedRecords: number): LogRowOptions {
  return { broker, inputTopic: NEXMARK_EVENTS_TOPIC, outputTopic, partitions: PARTITIONS, expectedRecords, pollIntervalMs: 10, timeoutMs: 60_000 };
}

test('the reference counts: q0 and q1 keep every bid, q2 the bids on auctions divisible by 123', (t) => {
  const events = Array.from(new NexmarkGenerator({ seed: 11 }).events(EVENTS));
  const bids = events.filter((event) => event.kind === 'bid');
  t.is(bids.length, (EVENTS / 50) * 46);
  t.is(referenceOutput('q0', events).count, bids.length);
  t.is(referenceOutput('q1', events).count, bids.length);
  const selected = bids.filter((bid) => bid.auction % 123 === 0);
  t.true(selected.length > 0);
  t.is(referenceOutput('q2', events).count, selected.length);
  // q1 converts exactly to three decimals.
  const firstBid = bids[0]!;
  t.deepEqual(q1.apply(firstBid), { auction: firstBid.auction, bidder: firstBid.bidder, price: (firstBid.price * 908) / 1000, dateTime: firstBid.dateTime, extra: firstBid.extra });
  t.is(q2.apply(events[0]!), undefined);
});

for (const query of STATELESS_QUERIES as readonly NexmarkQuery<unknown>[]) {
  test(`${query.name} as a streams app on the embedded log equals the reference, record for record`, async (t) => {
    const { broker, events, log } = await startNexmarkBroker(t);
    const reference = referenceOutput(query.name, events);
    const outputTopic = `${query.name}-out`;
    await broker.context.metadata.createTopic(outputTopic, PARTITIONS, {});
    const timing = await runAppRow(query, { ...rowOptions(broker, outputTopic, reference.count), applicationId: `test-${query.name}` });
    t.true(timing.seconds > 0);
    const until = await endOffsets(broker.client('test'), outputTopic, PARTITIONS);
    const records = await readTopic(log, outputTopic, until, 60_000);
    const check = checkOutput(records.flat(), reference, 1);
    t.deepEqual(check, { ok: true, sampled: reference.count, reorderedKeys: 0 });
    // Each output record sits in its key's input partition (the same murmur2 of the same key bytes).
    const partitionOfKey = new Map(events.map((event) => [eventKey(event), -1]));
    for (const [partition, partitionRecords] of records.entries()) {
      for (const record of partitionRecords) {
        const key = record.key!.toString();
        const seen = partitionOfKey.get(key);
        t.true(seen === -1 || seen === partition);
        partitionOfKey.set(key, partition);
      }
    }
  });
}

test('the loop and ceiling rows produce the reference too, and a wrong output fails the check', async (t) => {
  const { broker, events, log } = await startNexmarkBroker(t);
  const reference = referenceOutput('q2', events);
  await broker.context.metadata.createTopic('q2-loop', PARTITIONS, {});
  await runLoopRow(q2, { ...rowOptions(broker, 'q2-loop', reference.count), groupId: 'test-q2-loop' });
  const records = await readTopic(log, 'q2-loop', await endOffsets(broker.client('test'), 'q2-loop', PARTITIONS), 60_000);
  t.deepEqual(checkOutput(records.flat(), reference, 1), { ok: true, sampled: reference.count, reorderedKeys: 0 });

  const serde = nexmarkEventSerde();
  const encoded = events.map((event) => ({ key: Buffer.from(eventKey(event)), value: serde.serialize(event, { topic: NEXMARK_EVENTS_TOPIC, role: 'value' })! }));
  const ceiling = runCeilingRow(q2, encoded, NEXMARK_EVENTS_TOPIC);
  t.deepEqual(checkOutput(ceiling.outputs, reference, 1), { ok: true, sampled: reference.count, reorderedKeys: 0 });

  // The check can fail: a changed price, a missing record, and a reordering are each told apart.
  const outputs = ceiling.outputs;
  const changed = outputs.map((output, index) => (index === 0 ? { ...output, value: Buffer.from(JSON.stringify({ ...JSON.parse(output.value.toString()), price: -1 })) } : output));
  t.false(checkOutput(changed, reference, 1).ok);
  t.regex(checkOutput(outputs.slice(1), reference, 1).problem ?? '', /^the output holds \d+ records, the reference \d+$/);
  const keyWithTwo = [...reference.byKey].find(([, values]) => values.length >= 2)![0];
  const positions = outputs.flatMap((output, index) => (output.key.toString() === keyWithTwo ? [index] : []));
  const swapped = [...outputs];
  [swapped[positions[0]!], swapped[positions[1]!]] = [swapped[positions[1]!]!, swapped[positions[0]!]!];
  const reorderedCheck = checkOutput(swapped, reference, 1);
  t.true(reorderedCheck.ok);
  t.is(reorderedCheck.reorderedKeys, 1);
});

test('the stateful references: q3 keeps the category-10 auctions of local sellers, q5 puts each bid in five windows, q8 names each new seller once', (t) => {
  const events = Array.from(new NexmarkGenerator(STATEFUL_GENERATOR).events(EVENTS));
  const q3 = referenceOutput('q3', events);
  t.deepEqual([q3.count, q3.byKey.size], [63, 10]);
  const auctions = new Map(events.flatMap((event) => (event.kind === 'auction' ? [[event.id, event] as const] : [])));
  const persons = new Map(events.flatMap((event) => (event.kind === 'person' ? [[event.id, event] as const] : [])));
  for (const [seller, results] of q3.byKey) {
    for (const result of results as Array<{ state: string; id: number }>) {
      t.true(['OR', 'ID', 'CA'].includes(result.state));
      t.is(persons.get(Number(seller))!.state, result.state);
      t.is(auctions.get(result.id)!.category, 10);
      t.is(auctions.get(result.id)!.seller, Number(seller));
    }
  }
  // Every bid lies in 10 s / 2 s = 5 hopping windows; each window's counts run 1, 2, 3, …
  const q5 = referenceOutput('q5', events);
  t.is(q5.count, 5 * events.filter((event) => event.kind === 'bid').length);
  for (const results of q5.byKey.values()) t.deepEqual((results as Array<{ bids: number }>).map((result) => result.bids), results.map((_, index) => index + 1));
  const q8 = referenceOutput('q8', events);
  t.is(q8.count, 35);
  for (const [person, results] of q8.byKey) {
    t.is(results.length, 1);
    const { startMs } = results[0] as { startMs: number };
    t.is(startMs, Math.floor(persons.get(Number(person))!.dateTime / 10_000) * 10_000);
  }
});

for (const query of STATEFUL_QUERIES as readonly StatefulQuery<unknown>[]) {
  test(`${query.name} (stateful) as a streams app on the embedded log equals the reference, record for record`, async (t) => {
    t.timeout(90_000);
    const { broker, events, log, dataDir } = await startNexmarkBroker(t, STATEFUL_GENERATOR);
    const reference = referenceOutput(query.name, events);
    t.true(reference.count > 0);
    const outputTopic = `${query.name}-out`;
    await broker.context.metadata.createTopic(outputTopic, PARTITIONS, {});
    await runAppRow(query, { ...rowOptions(broker, outputTopic, reference.count), applicationId: `test-${query.name}`, stateDir: join(dataDir, 'state') });
    const until = await endOffsets(broker.client('test'), outputTopic, PARTITIONS);
    t.is(until.reduce((total, offset) => total + offset, 0n), BigInt(reference.count));
    const records = await readTopic(log, outputTopic, until, 60_000);
    const check = checkOutput(records.flat(), reference, 1);
    t.true(check.ok, check.problem);
    t.log(`${reference.count} records, ${check.reorderedKeys} keys reordered`);
    // The windowed count reads its input partition in order: nothing may be reordered there.
    if (query.name === 'q5') t.is(check.reorderedKeys, 0);
  });
}
