/**
 * The topology without a broker: how one batch runs through the graph (fan-out shared, merge,
 * branch, sub-topologies, per-batch operator state).
 */
import test from 'ava';
import { scan } from 'rxjs';
import { KStream, Serdes, type StreamRecord } from '../src/index.js';
import { Topology, type AnyRecord } from '../src/topology/topology.js';

const serdes = { key: Serdes.string(), value: Serdes.string() };
const record = (offset: number, value: string, topic = 'a'): AnyRecord => ({
  key: `k${offset}`,
  value,
  headers: {},
  timestamp: 1_000 + offset,
  topic,
  partition: 0,
  offset: BigInt(offset),
});

function source(topology: Topology, topic: string): KStream<string, string> {
  const nodeId = topology.addSource({ topics: [topic], keySerde: serdes.key, valueSerde: serdes.value, timestampExtractor: undefined });
  return new KStream<string, string>(topology, nodeId);
}

test('a node read by several children runs its operators once per record; branch sends each record to its first match', async (t) => {
  const topology = new Topology();
  const seen: string[] = [];
  const upstream = source(topology, 'a').peek((r) => seen.push(r.value!));
  const [short, long] = upstream.branch(
    (r) => r.value!.length <= 3,
    (r) => r.value!.length <= 10,
  );
  short!.to('short', serdes);
  long!.mapValues((v) => v!.toUpperCase()).to('long', serdes);
  upstream.to('all', serdes);
  const [subTopology] = topology.subTopologies(new Map([[0, ['a']]]));
  const outputs = await topology.run(subTopology!, new Map([[0, [record(0, 'abc'), record(1, 'abcdef'), record(2, 'x'.repeat(20))]]]));
  t.deepEqual(seen, ['abc', 'abcdef', 'x'.repeat(20)], 'peek once per record despite three readers');
  const byTopic = (topic: string) => outputs.filter((o) => o.sink.topic === topic).map((o) => o.record.value);
  t.deepEqual(byTopic('short'), ['abc']);
  t.deepEqual(byTopic('long'), ['ABCDEF']);
  t.deepEqual(byTopic('all'), ['abc', 'abcdef', 'x'.repeat(20)]);
  t.deepEqual(outputs.map((o) => o.record.offset), [0n, 0n, 1n, 1n, 2n], 'provenance kept');
});

test('sub-topologies: merged streams are one, unrelated streams are two, a topic read twice joins its readers', (t) => {
  const topology = new Topology();
  source(topology, 'a').merge(source(topology, 'b')).to('ab', serdes);
  source(topology, 'c').to('c-out', serdes);
  source(topology, 'd').to('d-out', serdes);
  source(topology, 'd').to('d-again', serdes);
  const parts = topology.subTopologies(
    new Map([
      [0, ['a']],
      [1, ['b']],
      [2, ['c']],
      [3, ['d']],
      [4, ['d']],
    ]),
  );
  t.deepEqual(
    parts.map((part) => [...part.topics].sort()),
    [['a', 'b'], ['c'], ['d']],
  );
  t.deepEqual(
    parts.map((part) => part.sinks.map((sink) => sink.topic)),
    [['ab'], ['c-out'], ['d-out', 'd-again']],
  );
});

test('operator state lives for one batch: scan starts again with the next batch (one subscription per batch)', async (t) => {
  const topology = new Topology();
  source(topology, 'a')
    .pipe(scan((sum: StreamRecord<string, string>, r: StreamRecord<string, string>) => ({ ...r, value: String(Number(sum.value) + Number(r.value)) })))
    .to('sums', serdes);
  const [subTopology] = topology.subTopologies(new Map([[0, ['a']]]));
  const first = await topology.run(subTopology!, new Map([[0, [record(0, '1'), record(1, '2'), record(2, '3')]]]));
  const second = await topology.run(subTopology!, new Map([[0, [record(3, '10'), record(4, '20')]]]));
  t.deepEqual(first.map((o) => o.record.value), ['1', '3', '6']);
  t.deepEqual(second.map((o) => o.record.value), ['10', '30']);
});

test('an operator error rejects the batch run; the topology cannot change once frozen', async (t) => {
  const topology = new Topology();
  const stream = source(topology, 'a').mapValues((v) => {
    if (v === 'bad') throw new Error('bad value');
    return v;
  });
  stream.to('out', serdes);
  const [subTopology] = topology.subTopologies(new Map([[0, ['a']]]));
  await t.throwsAsync(topology.run(subTopology!, new Map([[0, [record(0, 'ok'), record(1, 'bad')]]])), { message: 'bad value' });
  topology.freeze();
  t.throws(() => stream.to('late', serdes), { message: /cannot change once the app has started/ });
});
