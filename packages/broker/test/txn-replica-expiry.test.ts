/**
 * Producer id expiration: the LogManager's periodic task forgets idle producers (never one with an
 * open transaction) every producer.id.expiration.check.interval.ms, with producer.id.expiration.ms
 * given to every partition log; both settings load like Kafka's and reach the broker's logs.
 */
import test from 'ava';
import { ConfigError } from '../src/index.js';
import { LogManager, ManualClock, ManualScheduler } from '@defter/log';
import { loadBrokerConfig } from '../src/config-loader.js';
import { defaultBrokerConfig } from '../src/config.js';
import { startTestBroker, tempDir } from './helpers/test-broker.js';
import { producerBatch } from './txn-replica-support.js';

test('the producer-id-expiration task forgets idle producers after producer.id.expiration.ms, but not one in a transaction', async (t) => {
  const clock = new ManualClock(1_000_000);
  const scheduler = new ManualScheduler(clock);
  const manager = await LogManager.open({
    dataDir: await tempDir(t),
    clock,
    scheduler,
    producerIdExpirationMs: 10_000,
    producerIdExpirationCheckIntervalMs: 4_000,
  });
  t.teardown(() => manager.close());
  t.true(scheduler.names().includes('producer-id-expiration'));
  const log = await manager.getOrCreateLog('expiry', 0);
  t.is(log.producerState.producerIdExpirationMs, 10_000);

  const at = (offsetMs: number) => BigInt(clock.nowMs() + offsetMs);
  await log.append(producerBatch(['idle'], { producerId: 1n, producerEpoch: 0, baseSequence: 0, timestampMs: at(0) }));
  await log.append(producerBatch(['open'], { producerId: 2n, producerEpoch: 0, baseSequence: 0, transactional: true, timestampMs: at(0) }));
  clock.advance(6_000);
  await log.append(producerBatch(['later'], { producerId: 3n, producerEpoch: 0, baseSequence: 0, timestampMs: at(0) }));
  t.is(log.producerState.producerCount, 3);

  clock.advance(2_000); // 8 s after the first two: not expired yet
  t.true((await scheduler.runDue()).includes('producer-id-expiration'));
  t.is(log.producerState.producerCount, 3);

  clock.advance(4_000); // 12 s after producers 1 and 2, 6 s after producer 3
  t.true((await scheduler.runDue()).includes('producer-id-expiration'));
  t.deepEqual([...log.producerState.activeProducers()].map((entry) => entry.producerId).sort(), [2n, 3n], 'producer 1 is forgotten; 2 has a transaction open');

  clock.advance(10_000);
  t.is(await manager.runProducerExpiration(), 1, 'producer 3 too, on demand');
  t.deepEqual([...log.producerState.activeProducers()].map((entry) => entry.producerId), [2n]);
  // A forgotten producer may carry on at any sequence (KIP-360).
  t.like(await log.append(producerBatch(['back'], { producerId: 1n, producerEpoch: 0, baseSequence: 40, timestampMs: at(0) })), { baseOffset: 3n });
});

test('producer.id.expiration.ms and producer.id.expiration.check.interval.ms load like Kafka’s and reach the broker’s logs', async (t) => {
  t.is(defaultBrokerConfig.producerIdExpirationMs, 86_400_000);
  t.is(defaultBrokerConfig.producerIdExpirationCheckIntervalMs, 600_000);
  const loaded = await loadBrokerConfig({ file: null, env: {}, flags: { 'producer.id.expiration.ms': '5000', 'producer.id.expiration.check.interval.ms': 250 } });
  t.is(loaded.producerIdExpirationMs, 5_000);
  t.is(loaded.producerIdExpirationCheckIntervalMs, 250);
  await t.throwsAsync(loadBrokerConfig({ file: null, env: {}, flags: { 'producer.id.expiration.ms': '0' } }), { instanceOf: ConfigError });
  await t.throwsAsync(loadBrokerConfig({ file: null, env: {}, flags: { 'producer.id.expiration.check.interval.ms': 'soon' } }), { instanceOf: ConfigError });

  const { broker } = await startTestBroker(t, { producerIdExpirationMs: 1_234 });
  await broker.context.metadata.createTopic('wired', 1, {});
  t.is(broker.context.logManager.getLog('wired', 0)!.producerState.producerIdExpirationMs, 1_234);
});
