import test from 'ava';
import fc from 'fast-check';
import { pino } from 'pino';
import { startBroker } from '../src/index.js';
import { KafkaError } from '../src/errors.js';
import { tempDir } from './helpers/test-broker.js';

/** One admin operation on a small set of names, so that operations collide often. */
type Operation =
  | { kind: 'create'; name: string; partitions: number; retentionMs: number | undefined }
  | { kind: 'delete'; name: string }
  | { kind: 'grow'; name: string; partitions: number }
  | { kind: 'alter'; name: string; retentionMs: number | undefined }
  | { kind: 'restart' };

interface ModelTopic {
  partitions: number;
  configs: Record<string, string>;
}

const names = fc.constantFrom('a', 'b', 'c.d', 'c_d');
const retention = fc.option(fc.integer({ min: 1, max: 1_000_000 }), { nil: undefined });
const operation: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), name: names, partitions: fc.integer({ min: 1, max: 3 }), retentionMs: retention }),
  fc.record({ kind: fc.constant('delete' as const), name: names }),
  fc.record({ kind: fc.constant('grow' as const), name: names, partitions: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('alter' as const), name: names, retentionMs: retention }),
  fc.constant({ kind: 'restart' as const }),
);

function retentionConfigs(retentionMs: number | undefined): Record<string, string> {
  return retentionMs === undefined ? {} : { 'retention.ms': String(retentionMs) };
}

/** Kafka's '.'/'_' collision rule, as the model knows it. */
function collides(model: Map<string, ModelTopic>, name: string): boolean {
  return [...model.keys()].some((other) => other !== name && other.replaceAll('.', '_') === name.replaceAll('.', '_'));
}

test('the metadata store agrees with a plain map over random operations and restarts', async (t) => {
  const silent = pino({ level: 'silent' });
  await fc.assert(
    fc.asyncProperty(fc.array(operation, { minLength: 8, maxLength: 40, size: 'max' }), async (operations) => {
      const dataDir = await tempDir(t, 'defter-metadata-model-');
      let broker = await startBroker({ dataDir, port: 0, logger: silent });
      const model = new Map<string, ModelTopic>();
      const ids = new Map<string, string>();
      try {
        for (const op of operations) {
          const { metadata } = broker.context;
          const outcome = await (async () => {
            switch (op.kind) {
              case 'create':
                return metadata.createTopic(op.name, op.partitions, retentionConfigs(op.retentionMs));
              case 'delete':
                return metadata.deleteTopic(op.name);
              case 'grow':
                return metadata.createPartitions(op.name, op.partitions);
              case 'alter':
                return metadata.alterTopicConfigs(op.name, op.retentionMs === undefined ? [] : [{ name: 'retention.ms', value: String(op.retentionMs), op: 'set' }], {
                  incremental: false,
                });
              case 'restart':
                await broker.close();
                broker = await startBroker({ dataDir, port: 0, logger: silent });
                return undefined;
            }
          })().then(
            () => 'ok',
            (error: unknown) => {
              if (!(error instanceof KafkaError)) throw error;
              return 'refused';
            },
          );
          // What the model says should have happened.
          const existing = op.kind === 'restart' ? undefined : model.get(op.name);
          let expected: 'ok' | 'refused' = 'ok';
          switch (op.kind) {
            case 'create':
              if (existing !== undefined || collides(model, op.name)) expected = 'refused';
              else model.set(op.name, { partitions: op.partitions, configs: retentionConfigs(op.retentionMs) });
              break;
            case 'delete':
              if (existing === undefined) expected = 'refused';
              else model.delete(op.name);
              break;
            case 'grow':
              if (existing === undefined || op.partitions <= existing.partitions) expected = 'refused';
              else existing.partitions = op.partitions;
              break;
            case 'alter':
              if (existing === undefined) expected = 'refused';
              else existing.configs = retentionConfigs(op.retentionMs);
              break;
            case 'restart':
              break;
          }
          if (outcome !== expected) throw new Error(`${JSON.stringify(op)}: ${outcome}, expected ${expected}`);

          const actual = broker.context.metadata.topics();
          const wanted = [...model].sort(([a], [b]) => (a < b ? -1 : 1));
          if (JSON.stringify(actual.map((topic) => [topic.name, { partitions: topic.partitions, configs: topic.configs }])) !== JSON.stringify(wanted)) {
            throw new Error(`after ${JSON.stringify(op)}: ${JSON.stringify(actual)} != ${JSON.stringify(wanted)}`);
          }
          // Ids never change while a topic lives; every partition has its log, and no other log exists.
          for (const topic of actual) {
            if (ids.has(topic.name) && ids.get(topic.name) !== topic.topicId) throw new Error(`the id of ${topic.name} changed`);
            ids.set(topic.name, topic.topicId);
          }
          for (const name of [...ids.keys()]) if (!model.has(name)) ids.delete(name);
          const logs = broker.context.logManager
            .logs()
            .map((log) => `${log.topic}-${log.partition}`)
            .sort();
          const wantedLogs = wanted.flatMap(([name, topic]) => Array.from({ length: topic.partitions }, (_, p) => `${name}-${p}`)).sort();
          if (JSON.stringify(logs) !== JSON.stringify(wantedLogs)) throw new Error(`logs ${JSON.stringify(logs)} != ${JSON.stringify(wantedLogs)}`);
          for (const [name, topic] of wanted) {
            const retentionMs = broker.context.logManager.getLog(name, 0)!.config.retentionMs;
            const wantedRetentionMs = topic.configs['retention.ms'] === undefined ? broker.config.log.retentionMs : Number(topic.configs['retention.ms']);
            if (retentionMs !== wantedRetentionMs) throw new Error(`${name}: retention.ms ${retentionMs} != ${wantedRetentionMs}`);
          }
        }
      } finally {
        await broker.close();
      }
    }),
    { numRuns: 40 },
  );
  t.pass();
});
