/**
 * `RunContext.exclusive` (what table–table and stream–stream joins hold their stores with): it
 * waits for the named stores' turns and keeps them until its body settles, so a read-then-write
 * across stores cannot interleave with another batch; range reads see the batch's own writes;
 * a rolled-back run puts its writes back.
 */
import { join } from 'node:path';
import test from 'ava';
import { changelogTopicName, EmbeddedLog, InMemoryStore, MemoryBudget, Serdes } from '../src/index.js';
import { TaskState } from '../src/runtime/task-state.js';
import { startCluster } from './runtime-support.js';
import { stateDirectory } from './stateful-support.js';

test('exclusive holds several stores across awaits; range sees the batch writes; rollback undoes them', async (t) => {
  const cluster = await startCluster(t);
  const log = new EmbeddedLog({ broker: cluster.broker });
  await log.connect();
  t.teardown(() => log.close());
  await log.createTopics(['a', 'b'].map((store) => ({ name: changelogTopicName('unit', store), partitions: 1, configs: { 'cleanup.policy': 'compact' } })));
  const spec = (name: string) => ({ name, nodeId: 1, keySerde: Serdes.string() as never, valueSerde: Serdes.string() as never });
  const state = new TaskState({
    applicationId: 'unit',
    taskId: '0_0',
    partition: 0,
    directory: join(await stateDirectory(t), 'unit', '0_0'),
    specs: [spec('a'), spec('b')],
    budget: new MemoryBudget({ totalBytes: 1 << 24 }),
    storeFactory: (options) => new InMemoryStore(options.name),
    exactlyOnce: false,
    onCommitNeeded: () => undefined,
    onRestore: () => undefined,
  });
  await state.open(log);
  t.teardown(() => state.close(undefined, false));

  const events: string[] = [];
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const run = state.beginRun();
  const first = run.exclusive(['a', 'b'], async (stores) => {
    await stores.get('a')!.preload(['x']);
    stores.get('a')!.put('x', '1');
    events.push('first wrote a');
    await held;
    await stores.get('b')!.preload(['x']);
    stores.get('b')!.put('x', String(stores.get('a')!.get('x')));
    events.push('first wrote b');
  });
  // A single-store update of b queued after: it runs only once the exclusive body settled.
  const second = run.store('b').update(['x'], (view) => {
    events.push(`second read b=${view.get('x')}`);
    view.put('x', '2');
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.deepEqual(events, ['first wrote a']);
  release();
  await Promise.all([first, second]);
  t.deepEqual(events, ['first wrote a', 'first wrote b', 'second read b=1']);

  const scan = state.beginRun();
  const keys = await scan.exclusive(['a'], async (stores) => {
    const a = stores.get('a')!;
    await a.preload(['y', 'w']);
    a.put('y', 'Y');
    a.put('w', 'W');
    const found: string[] = [];
    for await (const entry of a.range('x', 'z')) found.push(`${entry.key}=${entry.value}`);
    return found;
  });
  t.deepEqual(keys, ['x=1', 'y=Y']);
  scan.rollback();
  const after = await state.beginRun().store('a').update(['y', 'w', 'x'], (view) => [view.get('y'), view.get('w'), view.get('x')]);
  t.deepEqual(after, [null, null, '1']);
  await t.throwsAsync(() => state.beginRun().exclusive(['missing'], async () => undefined), { message: /no store named "missing"/ });
});
