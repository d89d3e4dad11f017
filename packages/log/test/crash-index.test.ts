import { spawn } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { patchBaseOffset, readBatchHeader } from '@defter/protocol';
import { defaultLogConfig, type LogConfig } from '../src/log-config.js';
import { RecordingLogger } from '../src/logger.js';
import { PartitionLog, RECOVERY_POINT_CHECKPOINT_FILE } from '../src/partition-log.js';
import { crashBatch } from './helpers/crash-batch.js';
import { tempDir } from './helpers/temp-dir.js';

const writerScript = fileURLToPath(new URL('./helpers/index-crash-writer.ts', import.meta.url));

/** Runs the writer until it has appended everything, then SIGKILLs it; returns its "done" line. */
function appendAndKill(dir: string, config: Partial<LogConfig>, count: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=defter-source', writerScript, dir, JSON.stringify(config), String(count)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) child.kill('SIGKILL');
    });
    child.on('exit', (_code, signal) => {
      if (signal === 'SIGKILL' && stdout.startsWith('done')) resolve(stdout.trim());
      else reject(new Error(`writer exited without finishing: ${stderr}`));
    });
  });
}

/** Kafka's indexing rule over the batch sizes of one segment: the entries a rebuild must give. */
function expectedEntries(sizes: readonly number[], firstOffsets: readonly bigint[], intervalBytes: number): Array<{ offset: bigint; position: number }> {
  const entries: Array<{ offset: bigint; position: number }> = [];
  let sinceLast = 0;
  let position = 0;
  for (let i = 0; i < sizes.length; i++) {
    if (sinceLast > intervalBytes) {
      entries.push({ offset: firstOffsets[i]!, position });
      sinceLast = 0;
    }
    sinceLast += sizes[i]!;
    position += sizes[i]!;
  }
  return entries;
}

for (const flushMessages of [1, defaultLogConfig.flushMessages]) {
  test(`SIGKILL after appends whose index entries were never written (flush.messages ${flushMessages === 1 ? '1' : 'default'}): reopening rebuilds the indexes`, async (t) => {
    t.timeout(30_000);
    const dir = await tempDir(t);
    const config: Partial<LogConfig> = { segmentBytes: 16 * 1024, indexIntervalBytes: 200, flushMessages };
    const count = 400;
    const done = await appendAndKill(dir, config, count);
    t.regex(done, new RegExp(`^done ${count * 3} `));

    // The precondition that makes this test mean something: the active segment's log holds
    // batches that need index entries, but its index file holds none of them.
    const logs = (await readdir(dir)).filter((name) => name.endsWith('.log')).sort();
    t.true(logs.length >= 3, `segments: ${logs.join(', ')}`);
    const active = logs.at(-1)!;
    t.true((await stat(path.join(dir, active))).size > 2 * 200);
    t.is((await stat(path.join(dir, active.replace('.log', '.index')))).size, 0);
    t.is((await stat(path.join(dir, active.replace('.log', '.timeindex')))).size, 0);
    // The recovery-point checkpoint never covers a segment whose indexes are not on disk.
    const checkpoint = await readFile(path.join(dir, RECOVERY_POINT_CHECKPOINT_FILE), 'utf8');
    t.is(BigInt(checkpoint.split('\n')[1]!), BigInt(active.slice(0, 20)));

    const logger = new RecordingLogger();
    const log = await PartitionLog.open({ dir, config: { ...defaultLogConfig, ...config }, logger });
    try {
      t.is(log.logEndOffset, BigInt(count * 3));
      t.true(
        logger.lines.some((line) => /indexes rebuilt/.test(line.msg ?? '') && (line.obj as { segment: string }).segment.endsWith(active)),
        'the active segment went through recovery',
      );
      // Every batch, found through the rebuilt indexes from an offset inside it.
      for (let n = 0; n < count; n++) {
        const expected = crashBatch(n);
        patchBaseOffset(expected, BigInt(n * 3));
        const [found] = await log.readBatches(BigInt(n * 3 + 1), 1);
        if (found === undefined || !found.equals(expected)) {
          t.fail(`batch ${n} read back wrong`);
          break;
        }
      }
      // Each segment's offset index is exactly what appending would have built.
      for (const segment of log.segments()) {
        const sizes: number[] = [];
        const firstOffsets: bigint[] = [];
        for await (const entry of segment.batches()) {
          sizes.push(entry.bytes.length);
          firstOffsets.push(readBatchHeader(entry.bytes).baseOffset);
        }
        const entries = Array.from({ length: segment.offsetIndex.entryCount }, (_, i) => segment.offsetIndex.entry(i));
        t.deepEqual(entries, expectedEntries(sizes, firstOffsets, 200), `index of segment ${segment.baseOffset}`);
        t.true(segment.timeIndex.entryCount > 0);
        const lastTime = segment.timeIndex.lastEntry!;
        // A rolled segment ends its time index with its max timestamp (the active one need not).
        if (segment !== log.segments().at(-1)) t.is(lastTime.timestampMs, segment.maxTimestampMs);
        else t.true(lastTime.timestampMs <= segment.maxTimestampMs);
      }
      // Timestamp lookups use the rebuilt time index: crashBatch(n) has times n, n+1, n+2 at
      // offsets 3n..3n+2, so time 301 is first reached by batch 299's last record.
      t.deepEqual(await log.offsetForTimestamp(301n), { offset: 899n, timestampMs: 301n });
      t.deepEqual(await log.offsetForTimestamp(399n + 2n), { offset: 399n * 3n + 2n, timestampMs: 401n });
    } finally {
      await log.close();
    }
  });
}
