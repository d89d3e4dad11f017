/**
 * The batch processor without a broker: what serdes see (one reused context per batch and role,
 * right for each call), serdes prepared once per (serde, topic, role) however many batches run at
 * once, and failed records going to their policy with their original bytes.
 */
import test from 'ava';
import { KStream, Serdes, type Serde, type SerdeContext, type SerdeTopicContext } from '../src/index.js';
import type { FetchedBatch, LogRecord } from '../src/log/stream-log.js';
import { BatchProcessor } from '../src/runtime/batch-processor.js';
import { DEAD_LETTER_HEADERS, type ErrorPolicy } from '../src/runtime/error-policy.js';
import { StreamTask } from '../src/runtime/task.js';
import { Topology } from '../src/topology/topology.js';

const PARTITION_COUNTS: Readonly<Record<string, number>> = { out: 4, 'out-even': 2, 'out-odd': 2, dead: 3 };

function raw(offset: number, key: string, value: string): LogRecord {
  return { offset: BigInt(offset), timestamp: 1_000 + offset, key: Buffer.from(key), value: Buffer.from(value), headers: { trace: Buffer.from(`t${offset}`) } };
}

function batchOf(records: LogRecord[]): FetchedBatch {
  return { topic: 'in', partition: 2, records, nextOffset: records.at(-1)!.offset + 1n, highWatermark: 100n };
}

interface Setup {
  readonly processor: BatchProcessor;
  readonly task: StreamTask;
}

function setup(build: (input: KStream<string, string>) => void, policies: { deserialization?: ErrorPolicy; processing?: ErrorPolicy } = {}, serde: Serde<string> = Serdes.string()): Setup {
  const topology = new Topology();
  const nodeId = topology.addSource({ topics: ['in'], keySerde: serde as Serde<unknown>, valueSerde: serde as Serde<unknown>, timestampExtractor: undefined });
  build(new KStream<string, string>(topology, nodeId));
  const [subTopology] = topology.subTopologies(new Map([[0, ['in']]]));
  const processor = new BatchProcessor({
    applicationId: 'app',
    topology,
    deserializationErrors: policies.deserialization ?? 'fail',
    processingErrors: policies.processing ?? 'fail',
    partitionCount: async (topic) => {
      const count = PARTITION_COUNTS[topic];
      if (count === undefined) throw new Error(`no topic ${topic}`);
      return count;
    },
  });
  return { processor, task: new StreamTask(subTopology!, 2, 0) };
}

/** A string serde that notes, at each call, what its context says, and keeps the context objects. */
function recordingSerde(calls: string[], kept: SerdeContext[]): Serde<string> {
  const inner = Serdes.string();
  const note = (operation: string, context: SerdeContext) => {
    calls.push(`${operation} ${context.role} ${context.topic}/${String(context.partition)}@${String(context.offset)}`);
    kept.push(context);
  };
  return {
    name: 'recording',
    serialize(value, context) {
      note('serialize', context);
      return inner.serialize(value, context);
    },
    deserialize(bytes, context) {
      note('deserialize', context);
      if (bytes?.toString() === 'bad') throw new Error('bad bytes');
      return inner.deserialize(bytes, context);
    },
  };
}

test('each serde call sees its own record position; a failed record keeps its offset in the dead letter', async (t) => {
  const calls: string[] = [];
  const kept: SerdeContext[] = [];
  const serde = recordingSerde(calls, kept);
  const { processor, task } = setup((input) => input.to('out', { key: serde, value: serde }), { deserialization: { deadLetterTopic: 'dead' } }, serde);
  const processed = await processor.process(task, batchOf([raw(5, 'a', 'x'), raw(6, 'b', 'bad'), raw(7, 'c', 'y')]));

  t.deepEqual(calls, [
    'deserialize key in/2@5',
    'deserialize value in/2@5',
    'deserialize key in/2@6',
    'deserialize value in/2@6',
    'deserialize key in/2@7',
    'deserialize value in/2@7',
    'serialize key out/undefined@undefined',
    'serialize value out/undefined@undefined',
    'serialize key out/undefined@undefined',
    'serialize value out/undefined@undefined',
  ]);
  // One context per batch and role on the way in (moved along: valid only during the call), one per topic and role on the way out.
  t.is(new Set(kept.slice(0, 6)).size, 2);
  t.is(new Set(kept.slice(6)).size, 2);
  t.deepEqual({ ...kept[6]! }, { topic: 'out', role: 'key' });

  t.is(processed.outputCount, 2);
  t.is(processed.deadLettered, 1);
  t.is(processed.skipped, 0);
  const [dead, first, second] = processed.records;
  t.like(dead, { topic: 'dead', key: Buffer.from('b'), value: Buffer.from('bad'), timestamp: 1_006 });
  t.deepEqual(dead!.headers.trace, Buffer.from('t6'));
  t.is(dead!.headers[DEAD_LETTER_HEADERS.offset], '6');
  t.is(dead!.headers[DEAD_LETTER_HEADERS.stage], 'deserialization');
  t.like(first, { topic: 'out', key: Buffer.from('a'), value: Buffer.from('x'), timestamp: 1_005 });
  t.like(second, { topic: 'out', key: Buffer.from('c'), value: Buffer.from('y'), timestamp: 1_007 });
  t.is(task.streamTimeMs, 1_007);
});

test('prepareSerialize runs once per (serde, topic, role), shared by batches under way at once', async (t) => {
  const prepared: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const inner = Serdes.string();
  const preparing: Serde<string> = {
    name: 'preparing',
    serialize: (value, context) => inner.serialize(value, context),
    deserialize: (bytes, context) => inner.deserialize(bytes, context),
    async prepareSerialize(context: SerdeTopicContext) {
      prepared.push(`${context.role} ${context.topic}`);
      await gate;
    },
  };
  const { processor, task } = setup((input) => input.to((record) => (Number(record.offset) % 2 === 0 ? 'out-even' : 'out-odd'), { key: preparing, value: preparing }));
  const first = processor.process(task, batchOf([raw(0, 'a', 'x'), raw(1, 'b', 'y'), raw(2, 'c', 'z')]));
  const second = processor.process(task, batchOf([raw(3, 'd', 'w'), raw(4, 'e', 'v')]));
  await new Promise((resolve) => setImmediate(resolve));
  release();
  const [one, two] = await Promise.all([first, second]);
  const third = await processor.process(task, batchOf([raw(5, 'f', 'u'), raw(6, 'g', 't')]));
  t.deepEqual(prepared.sort(), ['key out-even', 'key out-odd', 'value out-even', 'value out-odd']);
  t.deepEqual(one.records.map((record) => `${record.topic}:${record.value!.toString()}`), ['out-even:x', 'out-odd:y', 'out-even:z']);
  t.deepEqual(two.records.map((record) => `${record.topic}:${record.value!.toString()}`), ['out-odd:w', 'out-even:v']);
  t.deepEqual(third.records.map((record) => `${record.topic}:${record.value!.toString()}`), ['out-odd:u', 'out-even:t']);
});

test('a failed prepareSerialize fails its batch and is tried again by the next one', async (t) => {
  let attempts = 0;
  const inner = Serdes.string();
  const flaky: Serde<string> = {
    name: 'flaky',
    serialize: (value, context) => inner.serialize(value, context),
    deserialize: (bytes, context) => inner.deserialize(bytes, context),
    async prepareSerialize() {
      attempts += 1;
      if (attempts === 1) throw new Error('registry down');
    },
  };
  const { processor, task } = setup((input) => input.to('out', { key: Serdes.string(), value: flaky }));
  await t.throwsAsync(processor.process(task, batchOf([raw(0, 'a', 'x')])), { message: 'registry down' });
  const processed = await processor.process(task, batchOf([raw(1, 'b', 'y')]));
  t.is(attempts, 2);
  t.deepEqual(processed.records.map((record) => record.value!.toString()), ['y']);
});

test('a record that fails in the operators or in serialization goes to the policy with its original bytes', async (t) => {
  const { processor, task } = setup(
    (input) =>
      input
        .mapValues((value) => {
          if (value === 'boom') throw new Error('operator failed');
          return value;
        })
        .to((record) => (record.value === 'nowhere' ? '' : 'out'), { key: Serdes.string(), value: Serdes.string() }),
    { processing: { deadLetterTopic: 'dead' } },
  );
  const processed = await processor.process(task, batchOf([raw(10, 'a', 'ok'), raw(11, 'b', 'boom'), raw(12, 'c', 'nowhere'), raw(13, 'd', 'fine')]));
  t.is(processed.outputCount, 2);
  t.is(processed.deadLettered, 2);
  const summary = processed.records.map((record) => `${record.topic}:${record.value!.toString()}:${String(record.headers[DEAD_LETTER_HEADERS.stage] ?? '-')}:${String(record.headers[DEAD_LETTER_HEADERS.offset] ?? '-')}`);
  // The operator failure is dead-lettered while the batch is re-run record by record; the topic failure at serialization.
  t.deepEqual(summary, ['dead:boom:processing:11', 'out:ok:-:-', 'dead:nowhere:serialization:12', 'out:fine:-:-']);
  t.regex(String(processed.records[2]!.headers[DEAD_LETTER_HEADERS.message]), /the topic function returned "", not a topic name/);
});
