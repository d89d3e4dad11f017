import test from 'ava';
import fc from 'fast-check';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '@defter/protocol';
import { KafkaError } from '../src/errors.js';
import {
  formatBlockFile,
  parseBlockFile,
  PRODUCER_ID_BLOCK_FILE,
  ProducerIdFileError,
  ProducerIdManager,
} from '../src/txn/producer-id-manager.js';

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'defter-pids-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const readBlockFile = (dir: string) => readFile(join(dir, PRODUCER_ID_BLOCK_FILE), 'utf8');

/** An fsync that fails while `failing` is set: the write is not durable, so the block must not be used. */
function flakySync() {
  const control = { failing: false, calls: 0 };
  const fileSync = async (file: { sync(): Promise<void> }) => {
    control.calls++;
    if (control.failing) throw Object.assign(new Error('EIO: simulated fsync failure'), { code: 'EIO' });
    await file.sync();
  };
  return { control, fileSync };
}

test('a new data directory hands out ids from 0, after persisting the end of the first block', async (t) => {
  await withDir(async (dir) => {
    const ids = await ProducerIdManager.open({ dataDir: dir, blockSize: 1000 });
    t.is(await readBlockFile(dir), '{"version":1,"nextBlockStart":"1000"}\n');
    t.deepEqual([ids.generateProducerId(), ids.generateProducerId(), await ids.allocate()], [0n, 1n, 2n]);
    t.is(ids.reservedUpTo, 1000n);
    await ids.close();
  });
});

test('the next block is reserved in the background before the current one runs out', async (t) => {
  await withDir(async (dir) => {
    const ids = await ProducerIdManager.open({ dataDir: dir, blockSize: 100 });
    const handed: bigint[] = [];
    for (let i = 0; i < 91; i++) handed.push(ids.generateProducerId());
    // 9 left (< 10 %): the reservation of [100, 200) has started.
    await ids.close();
    t.is(ids.reservedUpTo, 200n);
    for (let i = 0; i < 100; i++) handed.push(ids.generateProducerId());
    t.deepEqual(handed, Array.from({ length: 191 }, (_, i) => BigInt(i)));
    await ids.close();
    t.is(await readBlockFile(dir), '{"version":1,"nextBlockStart":"300"}\n');
  });
});

test('when the next block is not ready yet, the synchronous call is refused as retriable and allocate() waits', async (t) => {
  await withDir(async (dir) => {
    const ids = await ProducerIdManager.open({ dataDir: dir, blockSize: 2 });
    t.deepEqual([ids.generateProducerId(), ids.generateProducerId()], [0n, 1n]);
    const error = t.throws(() => ids.generateProducerId(), { instanceOf: KafkaError });
    t.is(error?.code, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    t.is(await ids.allocate(), 2n);
    await ids.close();
  });
});

test('ids are never reused across a clean restart: the rest of the block is skipped', async (t) => {
  await withDir(async (dir) => {
    const first = await ProducerIdManager.open({ dataDir: dir, blockSize: 1000 });
    const before = [await first.allocate(), await first.allocate(), await first.allocate()];
    await first.close();
    const second = await ProducerIdManager.open({ dataDir: dir, blockSize: 1000 });
    t.deepEqual(before, [0n, 1n, 2n]);
    t.is(await second.allocate(), 1000n);
    t.is(await readBlockFile(dir), '{"version":1,"nextBlockStart":"2000"}\n');
    await second.close();
  });
});

test('a crash in the middle of a block (no close) never leads to reuse', async (t) => {
  await withDir(async (dir) => {
    const crashed = await ProducerIdManager.open({ dataDir: dir, blockSize: 50 });
    const handed: bigint[] = [];
    for (let i = 0; i < 20; i++) handed.push(crashed.generateProducerId());
    // The process dies here: nothing is flushed or closed.
    const restarted = await ProducerIdManager.open({ dataDir: dir, blockSize: 50 });
    const next = await restarted.allocate();
    t.is(next, 50n);
    t.true(handed.every((id) => id < next));
    await restarted.close();
  });
});

test('a crash while the next block is being written (fsync fails, temp file left behind): the old mark stands and no id from the unwritten block was handed out', async (t) => {
  await withDir(async (dir) => {
    const { control, fileSync } = flakySync();
    const ids = await ProducerIdManager.open({ dataDir: dir, blockSize: 10, fileSync });
    const handed: bigint[] = [];
    control.failing = true;
    for (let i = 0; i < 10; i++) handed.push(ids.generateProducerId());
    await ids.close();
    // Block [10, 20) could not be persisted, so nothing from it is handed out.
    t.is(ids.reservedUpTo, 10n);
    const error = t.throws(() => ids.generateProducerId(), { instanceOf: KafkaError });
    t.is(error?.code, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS);
    t.regex(error?.message ?? '', /simulated fsync failure/);
    await t.throwsAsync(ids.allocate(), { message: /simulated fsync failure/ });
    t.is(await readBlockFile(dir), '{"version":1,"nextBlockStart":"10"}\n');
    // The process dies; after the restart ids continue above everything handed out.
    const restarted = await ProducerIdManager.open({ dataDir: dir, blockSize: 10 });
    const next = await restarted.allocate();
    t.is(next, 10n);
    t.true(handed.every((id) => id < next));
    await restarted.close();
  });
});

test('after a failed block write the same process carries on once the disk recovers', async (t) => {
  await withDir(async (dir) => {
    const { control, fileSync } = flakySync();
    const ids = await ProducerIdManager.open({ dataDir: dir, blockSize: 3, fileSync });
    control.failing = true;
    t.deepEqual([ids.generateProducerId(), ids.generateProducerId(), ids.generateProducerId()], [0n, 1n, 2n]);
    await t.throwsAsync(ids.allocate(), { message: /simulated fsync failure/ });
    control.failing = false;
    t.deepEqual([await ids.allocate(), await ids.allocate()], [3n, 4n]);
    t.is(await readBlockFile(dir), '{"version":1,"nextBlockStart":"6"}\n');
    await ids.close();
  });
});

test('open fails when the first block cannot be persisted', async (t) => {
  await withDir(async (dir) => {
    const { control, fileSync } = flakySync();
    control.failing = true;
    await t.throwsAsync(ProducerIdManager.open({ dataDir: dir, blockSize: 10, fileSync }), { message: /simulated fsync failure/ });
  });
});

test('a corrupt block file stops the broker rather than risk reusing ids', async (t) => {
  await withDir(async (dir) => {
    for (const text of ['', 'not json', '[]', '{"version":2,"nextBlockStart":"5"}', '{"version":1,"nextBlockStart":5}', '{"version":1,"nextBlockStart":"-5"}', '{"version":1,"nextBlockStart":"9223372036854775808"}', '{"version":1,"nextBlockStart":"007"}']) {
      await writeFile(join(dir, PRODUCER_ID_BLOCK_FILE), text);
      await t.throwsAsync(ProducerIdManager.open({ dataDir: dir }), { instanceOf: ProducerIdFileError }, text);
    }
  });
});

test('the block file format', (t) => {
  t.is(formatBlockFile(123n), '{"version":1,"nextBlockStart":"123"}\n');
  t.is(parseBlockFile(formatBlockFile(9223372036854775807n)), 9223372036854775807n);
  t.is(parseBlockFile('{"version":1,"nextBlockStart":"0"}'), 0n);
  t.throws(() => parseBlockFile('{"version":1}'), { instanceOf: ProducerIdFileError });
});

test('ids stay unique and increasing over random lives that end in a restart or in a crash while a block is being written (property)', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ count: fc.nat(25), crashAfter: fc.option(fc.nat(25), { nil: undefined }) }), { minLength: 1, maxLength: 5 }),
      fc.integer({ min: 1, max: 12 }),
      async (lives, blockSize) => {
        await withDir(async (dir) => {
          const handed: bigint[] = [];
          for (const life of lives) {
            const { control, fileSync } = flakySync();
            const ids = await ProducerIdManager.open({ dataDir: dir, blockSize, fileSync });
            for (let i = 0; i < life.count; i++) {
              // From `crashAfter` on the disk fails: the process dies during its next block write.
              if (life.crashAfter === i) control.failing = true;
              try {
                handed.push(ids.generateProducerId());
              } catch (error) {
                if (!(error instanceof KafkaError)) throw error;
                try {
                  handed.push(await ids.allocate());
                } catch {
                  break; // dead
                }
              }
            }
            // A dead process writes nothing more: let any write in flight settle before the next life.
            await ids.close();
          }
          for (let i = 1; i < handed.length; i++) {
            if (handed[i]! <= handed[i - 1]!) throw new Error(`id ${handed[i]} after ${handed[i - 1]}`);
          }
        });
      },
    ),
    { numRuns: 25 },
  );
  t.pass();
});
