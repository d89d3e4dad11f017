/*
 * End to end through the storage engine with an independent encoder: kafkajs (a real Kafka client)
 * builds record batches exactly as it would send them in a Produce request; the log stores them,
 * survives a reopen, and hands back bytes that kafkajs decodes to the same records at dense offsets.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LogManager } from '@defter/log';

const require = createRequire(import.meta.url);
const { RecordBatch: kafkajsRecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (options: object) => Promise<{ buffer: Buffer }> };
const kafkajsRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (options: object) => unknown;
const kafkajsBatchDecoder = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (decoder: unknown) => Promise<KafkajsBatch>;
const KafkajsDecoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => unknown;
const { Types: KafkajsCompression } = require('kafkajs/src/protocol/message/compression/index.js') as { Types: { None: number; GZIP: number } };

interface KafkajsBatch {
  firstOffset: string;
  records: Array<{ offset: string; key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer> }>;
}

interface Produced {
  key: string;
  value: string;
  header: string;
}

async function kafkajsBatch(records: Produced[], compression: number): Promise<Buffer> {
  const now = 1_700_000_000_000;
  const encoded = await kafkajsRecordBatch({
    compression,
    firstTimestamp: now,
    maxTimestamp: now + records.length - 1,
    lastOffsetDelta: records.length - 1,
    records: records.map((r, i) =>
      kafkajsRecord({ offsetDelta: i, timestampDelta: i, key: Buffer.from(r.key), value: Buffer.from(r.value), headers: { trace: Buffer.from(r.header) } }),
    ),
  });
  return encoded.buffer;
}

const tempDirs: string[] = [];
test.after.always(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'defter-e2e-'));
  tempDirs.push(dir);
  return dir;
}

test('batches encoded by kafkajs are stored as they are and decode back to the same records at dense offsets after a reopen', async (t) => {
  const dataDir = await tempDir();
  const produced: Produced[] = [];
  let manager = await LogManager.open({ dataDir });
  const log = await manager.getOrCreateLog('orders.eu-west', 0);
  for (let batchIndex = 0; batchIndex < 20; batchIndex++) {
    const records = Array.from({ length: 1 + (batchIndex % 7) }, (_, i) => ({
      key: `customer-${batchIndex}-${i}`,
      value: `order ${produced.length + i} ${'x'.repeat(batchIndex * 3)}`,
      header: `trace-${batchIndex}`,
    }));
    const info = await log.append(await kafkajsBatch(records, batchIndex % 2 === 0 ? KafkajsCompression.None : KafkajsCompression.GZIP));
    t.is(info.baseOffset, BigInt(produced.length), 'offsets are assigned densely in append order');
    produced.push(...records);
  }
  await manager.close();

  manager = await LogManager.open({ dataDir });
  const reopened = manager.getLog('orders.eu-west', 0);
  t.truthy(reopened);
  t.is(reopened!.logEndOffset, BigInt(produced.length));
  const stored = await reopened!.readBatches(0n, 64 * 1024 * 1024);
  const consumed: Array<{ offset: string; key: string; value: string; header: string }> = [];
  for (const bytes of stored) {
    const batch = await kafkajsBatchDecoder(new KafkajsDecoder(bytes));
    for (const record of batch.records) {
      consumed.push({ offset: record.offset, key: String(record.key), value: String(record.value), header: String(record.headers['trace']) });
    }
  }
  t.deepEqual(
    consumed,
    produced.map((p, i) => ({ offset: String(i), ...p })),
  );
  await manager.close();
});

test('defter dump-log validates a segment written by the log and reports a corrupted copy', async (t) => {
  const dataDir = await tempDir();
  const manager = await LogManager.open({ dataDir });
  const log = await manager.getOrCreateLog('events', 3);
  for (let i = 0; i < 5; i++) {
    await log.append(await kafkajsBatch([{ key: `k${i}`, value: `v${i}`, header: 'h' }], KafkajsCompression.None));
  }
  await manager.close();
  const partitionDir = join(dataDir, 'events-3');
  const segmentName = (await readdir(partitionDir)).find((name) => name.endsWith('.log'))!;
  t.is(segmentName, '00000000000000000000.log');
  const segmentPath = join(partitionDir, segmentName);
  const cli = join(import.meta.dirname, '..', 'packages', 'cli', 'src', 'main.ts');
  const run = (file: string) =>
    promisify(execFile)(process.execPath, ['--import=tsx', '--conditions=defter-source', cli, 'dump-log', '--records', file]).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );

  const valid = await run(segmentPath);
  t.is(valid.code, 0);
  t.is(valid.stdout.match(/crc: \d+ valid/g)?.length, 5);
  t.regex(valid.stdout, /offset: 4 .*key: "k4" value: "v4" headers: trace="h"/);

  const corrupted = await readFile(segmentPath);
  corrupted[corrupted.length - 3] ^= 0xff;
  const corruptedPath = join(dataDir, '00000000000000000000.log');
  await writeFile(corruptedPath, corrupted);
  const invalid = await run(corruptedPath);
  t.is(invalid.code, 1);
  t.is(invalid.stdout.match(/crc: \d+ valid/g)?.length, 4);
  t.regex(invalid.stdout, /baseOffset: 4 .*crc: \d+ INVALID/);
});
