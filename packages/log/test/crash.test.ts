import { runWriterAndKill } from './helpers/kill-writer.js';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { patchBaseOffset, readBatchHeader, verifyBatchCrc } from '@defter/protocol';
import { PartitionLog } from '../src/partition-log.js';
import { defaultLogConfig } from '../src/log-config.js';
import { crashBatch } from './helpers/crash-batch.js';
import { tempDir } from './helpers/temp-dir.js';

const writerScript = fileURLToPath(new URL('./helpers/crash-writer.ts', import.meta.url));

const runAndKill = (dir: string, acknowledgements: number, extraDelayMs: number) =>
  runWriterAndKill(writerScript, dir, acknowledgements, extraDelayMs);

test('every acknowledged append survives SIGKILL, and the log is valid to its end', async (t) => {
  t.timeout(30_000);
  const dir = await tempDir(t);
  const allAcked = new Map<number, bigint>();
  const rounds: Array<[number, number]> = [
    [150, 0],
    [80, 3],
    [300, 1],
    [40, 7],
  ];
  for (const [acknowledgements, delayMs] of rounds) {
    const acked = await runAndKill(dir, acknowledgements, delayMs);
    for (const [number, offset] of acked) allAcked.set(number, offset);

    const log = await PartitionLog.open({ dir, config: { ...defaultLogConfig, segmentBytes: 4096, indexIntervalBytes: 256 } });
    const batches = await log.readBatches(0n, 1 << 30);
    // Valid to its end: dense offsets, every CRC good, batch n at offset 3n.
    let expectedOffset = 0n;
    for (const batch of batches) {
      const header = readBatchHeader(batch);
      t.is(header.baseOffset, expectedOffset);
      t.true(verifyBatchCrc(batch));
      expectedOffset += 3n;
    }
    t.is(log.logEndOffset, expectedOffset);
    // Nothing acknowledged is lost, and its bytes are exactly what was appended.
    for (const [number, offset] of allAcked) {
      t.is(offset, BigInt(number) * 3n);
      const expected = crashBatch(number);
      patchBaseOffset(expected, offset);
      const stored = batches[number];
      if (stored === undefined) {
        t.fail(`acknowledged batch ${number} at offset ${offset} is missing (log end ${log.logEndOffset})`);
        break;
      }
      if (!stored.equals(expected)) t.fail(`batch ${number} differs`);
    }
    t.true(log.segments().length > 1);
    await log.close();
  }
  t.true(allAcked.size >= 570);
});
