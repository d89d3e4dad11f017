/**
 * Error policies against a real broker: a record whose value is not JSON, and a record an
 * operator throws on, under 'fail', 'skip' and a dead-letter topic.
 */
import test from 'ava';
import { app, DEAD_LETTER_HEADERS, RecordFailedError, Serdes, SerdeError, type ErrorPolicy } from '../src/index.js';
import { closeAtEnd, committedOffsets, produce, readAll, startCluster, waitForIdle, waitUntil, type TestCluster } from './runtime-support.js';

/** Ten records on one partition; offset 4 is not JSON. */
async function feed(cluster: TestCluster): Promise<void> {
  await cluster.createTopic('in', 1);
  await cluster.createTopic('out', 1);
  await cluster.createTopic('dead', 2);
  await produce(
    cluster,
    'in',
    Array.from({ length: 10 }, (_, n) => ({ key: `k${n}`, value: n === 4 ? '{not json' : JSON.stringify({ n }), headers: { origin: 'test' } })),
  );
}

function pipelineWith(cluster: TestCluster, applicationId: string, policies: { deserializationErrors?: ErrorPolicy; processingErrors?: ErrorPolicy }) {
  const pipeline = app({ applicationId, log: { brokers: [cluster.bootstrap] }, commitIntervalMs: 100, ...policies });
  pipeline
    .stream('in', { key: Serdes.string(), value: Serdes.json<{ n: number }>() })
    .mapValues((value) => {
      if (value!.n === 7) throw new Error('seven is not allowed');
      return { doubled: value!.n * 2 };
    })
    .to('out', { key: Serdes.string(), value: Serdes.json<{ doubled: number }>() });
  return pipeline;
}

test("deserialization 'fail': the app stops in ERROR naming the record, and commits nothing past it", async (t) => {
  const cluster = await startCluster(t);
  await feed(cluster);
  const pipeline = closeAtEnd(t, pipelineWith(cluster, 'fail-app', { deserializationErrors: 'fail', processingErrors: 'skip' }));
  const states: string[] = [];
  pipeline.state$.subscribe((state) => states.push(state));
  await pipeline.start().catch(() => undefined);
  t.true(await waitUntil(() => pipeline.state === 'ERROR', 15_000));
  const error = pipeline.error;
  t.true(error instanceof RecordFailedError);
  t.like(error as RecordFailedError, { stage: 'deserialization', topic: 'in', partition: 0, offset: 4n });
  t.true((error as RecordFailedError).cause instanceof SerdeError);
  t.deepEqual(states, ['CREATED', 'REBALANCING', 'RUNNING', 'ERROR']);
  t.deepEqual(await committedOffsets(cluster, 'fail-app', 'in'), ['-1'], 'the failed batch is not committed');
  const output = await readAll(cluster, ['out'], 0, { settleMs: 500 });
  t.deepEqual(output, [], 'the batch with the bad record wrote nothing');
});

test("'skip': bad records are dropped and counted; the others are processed and committed", async (t) => {
  const cluster = await startCluster(t);
  await feed(cluster);
  const pipeline = closeAtEnd(t, pipelineWith(cluster, 'skip-app', { deserializationErrors: 'skip', processingErrors: 'skip' }));
  await pipeline.start();
  t.true(await waitForIdle(pipeline, 10));
  const output = await readAll(cluster, ['out'], 8);
  t.deepEqual(
    output.map((record) => record.key),
    ['k0', 'k1', 'k2', 'k3', 'k5', 'k6', 'k8', 'k9'],
  );
  t.deepEqual(
    output.map((record) => JSON.parse(record.value!) as unknown),
    [0, 1, 2, 3, 5, 6, 8, 9].map((n) => ({ doubled: n * 2 })),
  );
  const [task] = pipeline.metrics().tasks;
  t.like(task, { recordsIn: 10, recordsOut: 8, recordsSkipped: 2, recordsDeadLettered: 0 });
  t.deepEqual(await committedOffsets(cluster, 'skip-app', 'in'), ['10']);
  t.is(pipeline.state, 'RUNNING');
});

test('dead-letter topic: the original bytes with the error, the stage and the source position in headers', async (t) => {
  const cluster = await startCluster(t);
  await feed(cluster);
  const policy = { deadLetterTopic: 'dead' };
  const pipeline = closeAtEnd(t, pipelineWith(cluster, 'dlq-app', { deserializationErrors: policy, processingErrors: policy }));
  await pipeline.start();
  t.true(await waitForIdle(pipeline, 10));
  const dead = (await readAll(cluster, ['dead'], 2)).sort((a, b) => Number(a.headers[DEAD_LETTER_HEADERS.offset]) - Number(b.headers[DEAD_LETTER_HEADERS.offset]));
  t.is(dead.length, 2);
  const [unreadable, rejected] = dead;
  t.is(unreadable!.key, 'k4');
  t.is(unreadable!.value, '{not json', 'the original bytes, untouched');
  t.like(unreadable!.headers, {
    origin: 'test',
    [DEAD_LETTER_HEADERS.stage]: 'deserialization',
    [DEAD_LETTER_HEADERS.errorClass]: 'SerdeError',
    [DEAD_LETTER_HEADERS.reason]: 'malformed',
    [DEAD_LETTER_HEADERS.topic]: 'in',
    [DEAD_LETTER_HEADERS.partition]: '0',
    [DEAD_LETTER_HEADERS.offset]: '4',
    [DEAD_LETTER_HEADERS.applicationId]: 'dlq-app',
  });
  t.regex(unreadable!.headers[DEAD_LETTER_HEADERS.message]!, /cannot deserialize the value of topic "in" partition 0 offset 4/);
  t.is(rejected!.key, 'k7');
  t.is(rejected!.value, JSON.stringify({ n: 7 }));
  t.like(rejected!.headers, {
    [DEAD_LETTER_HEADERS.stage]: 'processing',
    [DEAD_LETTER_HEADERS.errorClass]: 'Error',
    [DEAD_LETTER_HEADERS.message]: 'seven is not allowed',
    [DEAD_LETTER_HEADERS.offset]: '7',
  });
  t.false(DEAD_LETTER_HEADERS.reason in rejected!.headers);
  const output = await readAll(cluster, ['out'], 8);
  t.deepEqual(
    output.map((record) => record.key),
    ['k0', 'k1', 'k2', 'k3', 'k5', 'k6', 'k8', 'k9'],
  );
  t.like(pipeline.metrics().tasks[0], { recordsIn: 10, recordsOut: 8, recordsSkipped: 0, recordsDeadLettered: 2 });
});
