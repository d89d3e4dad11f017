/**
 * Many groups at once (ten groups of two kafkajs consumers on one topic, all joining together):
 * member ids and generations must not leak between groups, so each group settles on disjoint,
 * complete assignments, and then reads the whole topic exactly once.
 */
import test from 'ava';
import { Ledger, assignmentProblems, kafkaFor, produceSpread, startKafkajsMember, waitUntil, type KafkajsMember } from './helpers/group-consumers.js';
import { startTestBroker } from './helpers/test-broker.js';

const GROUPS = 10;
const PARTITIONS = 4;
const RECORDS = 200;
const WAIT_MS = 60_000;

test('ten groups of two consumers each get disjoint, complete assignments and read everything once', async (t) => {
  const broker = await startTestBroker(t, { groupInitialRebalanceDelayMs: 300 });
  const topic = 'many';
  await broker.broker.context.metadata.createTopic(topic, PARTITIONS, {});
  const kafka = kafkaFor(broker.bootstrap);
  const groups: Array<{ groupId: string; ledger: Ledger; members: KafkajsMember[] }> = [];
  await Promise.all(
    Array.from({ length: GROUPS }, async (_, g) => {
      const groupId = `many-${g}`;
      const ledger = new Ledger();
      const members = await Promise.all(
        ['a', 'b'].map((name) => startKafkajsMember(t, { bootstrap: broker.bootstrap, groupId, topic, name: `${groupId}-${name}`, ledger, fromBeginning: true })),
      );
      groups.push({ groupId, ledger, members });
    }),
  );
  const settled = () =>
    groups.every(({ members }) => members.every((m) => (m.assignment?.[topic]?.length ?? 0) > 0) && assignmentProblems(members.map((m) => m.assignment), topic, PARTITIONS).length === 0);
  const describe = () => groups.map(({ groupId, ledger, members }) => `${groupId}: ${ledger.distinct()} read, ${JSON.stringify(members.map((m) => m.assignment))}`).join('; ');
  await waitUntil(settled, WAIT_MS, describe);
  const produced = await produceSpread(kafka, topic, PARTITIONS, RECORDS, 'm');
  await waitUntil(() => groups.every(({ ledger }) => ledger.distinct() === RECORDS), WAIT_MS, describe);
  await new Promise((resolve) => setTimeout(resolve, 500)); // a duplicate would show up by now
  const memberIds = new Set(groups.flatMap(({ members }) => members.map((m) => m.memberId)));
  t.is(memberIds.size, GROUPS * 2, 'every member has its own id');
  for (const { groupId, ledger, members } of groups) {
    t.deepEqual(assignmentProblems(members.map((m) => m.assignment), topic, PARTITIONS), [], groupId);
    t.deepEqual(ledger.missing(produced), [], `${groupId} read everything`);
    t.is(ledger.size, RECORDS, `${groupId} read each record once`);
  }
  t.deepEqual(
    groups.flatMap(({ groupId, ledger }) => ledger.duplicates().map((d) => `${groupId}: ${d}`)),
    [],
    'no group read a record twice',
  );
});
