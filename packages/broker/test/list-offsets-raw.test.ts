import test from 'ava';
import { ErrorCode } from '@defter/protocol';
import { brokerWithTopics, listOffset, makeBatch, produce } from './replica-support.js';

/** Offsets 0-1 at 1000/1001, 2-3 at 2000/2001, 4-5 at 3000/3001. */
async function threeBatches(t: Parameters<typeof brokerWithTopics>[0]) {
  const setup = await brokerWithTopics(t, [{ name: 'times' }]);
  for (const timestampMs of [1_000n, 2_000n, 3_000n]) await produce(setup.client, 'times', 0, makeBatch(['x', 'y'], { timestampMs }));
  return setup;
}

test('latest, earliest and timestamps at v1-v8', async (t) => {
  const { client } = await threeBatches(t);
  for (const version of [1, 4, 7, 8]) {
    t.like(await listOffset(client, 'times', 0, -1n, version), { errorCode: 0, offset: 6n, timestamp: -1n }, `latest v${version}`);
    t.like(await listOffset(client, 'times', 0, -2n, version), { errorCode: 0, offset: 0n, timestamp: -1n }, `earliest v${version}`);
    t.like(await listOffset(client, 'times', 0, 2_000n, version), { offset: 2n, timestamp: 2_000n });
    t.like(await listOffset(client, 'times', 0, 2_001n, version), { offset: 3n, timestamp: 2_001n });
    t.like(await listOffset(client, 'times', 0, 2_500n, version), { offset: 4n, timestamp: 3_000n });
    t.like(await listOffset(client, 'times', 0, 0n, version), { offset: 0n, timestamp: 1_000n });
    t.like(await listOffset(client, 'times', 0, 9_999n, version), { errorCode: 0, offset: -1n, timestamp: -1n });
  }
  t.is((await listOffset(client, 'times', 0, -1n, 4)).leaderEpoch, 0);
  t.is((await listOffset(client, 'times', 0, -1n, 2, { isolationLevel: 1 })).offset, 6n, 'read_committed latest = last stable offset');
});

test('max timestamp (-3) from v7, UNSUPPORTED_VERSION before', async (t) => {
  const { client } = await threeBatches(t);
  t.like(await listOffset(client, 'times', 0, -3n, 7), { errorCode: 0, offset: 5n, timestamp: 3_001n });
  t.is((await listOffset(client, 'times', 0, -3n, 6)).errorCode, ErrorCode.UNSUPPORTED_VERSION);
  t.like(await listOffset(client, 'times', 0, -4n, 8), { errorCode: 0, offset: 0n });
});

test('v0 answers old-style offset lists', async (t) => {
  const { client } = await threeBatches(t);
  t.deepEqual((await listOffset(client, 'times', 0, -1n, 0)).oldStyleOffsets, [6n, 0n]);
  t.deepEqual((await listOffset(client, 'times', 0, -1n, 0, { maxNumOffsets: 1 })).oldStyleOffsets, [6n]);
  t.deepEqual((await listOffset(client, 'times', 0, -2n, 0)).oldStyleOffsets, [0n]);
  t.deepEqual((await listOffset(client, 'times', 0, 500n, 0)).oldStyleOffsets, []);
  t.deepEqual((await listOffset(client, 'times', 0, 5_000n, 0)).oldStyleOffsets, [0n]);
});

test('unknown partitions and an empty log', async (t) => {
  const { client } = await brokerWithTopics(t, [{ name: 'empty', partitions: 1 }]);
  t.is((await listOffset(client, 'nope', 0, -1n)).errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  t.is((await listOffset(client, 'empty', 1, -1n)).errorCode, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  t.like(await listOffset(client, 'empty', 0, -1n), { errorCode: 0, offset: 0n });
  t.like(await listOffset(client, 'empty', 0, -2n), { errorCode: 0, offset: 0n });
  t.like(await listOffset(client, 'empty', 0, -3n), { errorCode: 0, offset: -1n, timestamp: -1n });
  t.like(await listOffset(client, 'empty', 0, 10n), { errorCode: 0, offset: -1n });
});
