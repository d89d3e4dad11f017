import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { patchBaseOffset, readBatchHeader, verifyBatchCrc } from '@defter/protocol';
import { PartitionLog } from '../src/partition-log.js';
import { defaultLogConfig } from '../src/log-config.js';
import { crashBatch } from './helpers/crash-batch.js';
import { tempDir } from './helpers/temp-dir.js';

const writerScript = fileURLToPath(new URL('./helpers/crash-writer.ts', import.meta.url));

/** Runs the writer until `acknowledgements` appends are acknowledged (plus a little), then SIGKILLs it. */
function runAndKill(dir: string, acknowledgements: number, extraDelayMs: number): Promise<Map<number, bigint>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=defter-source', writerScript, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Map<number, bigint>();
    let pending = '';
    let stderr = '';
    let killing = false;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        const [number, offset] = line.split(' ');
        if (number === 'ready') continue;
        acked.set(Number(number), BigInt(offset!));
      }
      if (!killing && acked.size >= acknowledgements) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), extraDelayMs);
      }
    });
    child.on('exit', (_code, signal) => {
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`writer exited without being killed: ${stderr}`));
    });
  });
}

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
