import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LogCleaner } from '../src/cleaner.js';
import { ManualClock } from '../src/clock.js';
import type { LogConfig } from '../src/log-config.js';
import { defaultLogConfig } from '../src/log-config.js';
import { PartitionLog } from '../src/partition-log.js';
import { appendAll, assertOffsetsIncrease, checkAgainstOracle, checkBatchBounds, keyedWorkload, readLog } from './compaction-workload.js';

const START_MS = 1_700_000_000_000;
const config: LogConfig = { ...defaultLogConfig, cleanupPolicy: ['compact'], segmentBytes: 1024, deleteRetentionMs: 60_000 };
const sourceDir = fileURLToPath(new URL('../src/', import.meta.url));

/** A child that opens the log, reports, cleans it, and reports again; killed somewhere in between. */
function spawnCleaner(dir: string): ReturnType<typeof spawn> {
  const script = [
    `import { PartitionLog } from ${JSON.stringify(path.join(sourceDir, 'partition-log.ts'))};`,
    `import { LogCleaner } from ${JSON.stringify(path.join(sourceDir, 'cleaner.ts'))};`,
    `const config = JSON.parse(process.argv[2]);`,
    `const clock = { nowMs: () => ${START_MS} };`,
    'const log = await PartitionLog.open({ dir: process.argv[1], config, clock });',
    "process.stdout.write('cleaning\\n');",
    'await new LogCleaner({ clock }).clean(log, { force: true });',
    "process.stdout.write('cleaned\\n');",
    'await log.close();',
  ].join('\n');
  return spawn(process.execPath, ['--import', 'tsx', '--conditions=defter-source', '--input-type=module', '-e', script, dir, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

test('a cleaner killed with SIGKILL at any moment leaves a log that reopens with every latest value', async (t) => {
  const killDelaysMs = [5, 60, 150, 250];
  let interrupted = 0;
  for (const delayMs of killDelaysMs) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'defter-compaction-crash-'));
    try {
      const clock = new ManualClock(START_MS);
      let log = await PartitionLog.open({ dir, config, clock });
      const appended = await appendAll(log, keyedWorkload({ batchCount: 300, keyCount: 25, deleteEvery: 7, seed: delayMs + 1 }), () => clock.nowMs());
      const before = await readLog(log);
      await log.close();

      const child = spawnCleaner(dir);
      let output = '';
      child.stdout?.setEncoding('utf8');
      const exited = once(child, 'exit');
      await new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (chunk: string) => {
          output += chunk;
          if (output.includes('cleaning\n')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`cleaner exited with ${code} before cleaning`)));
      });
      await sleep(delayMs);
      child.kill('SIGKILL');
      await exited;
      if (!output.includes('cleaned\n')) interrupted++;

      log = await PartitionLog.open({ dir, config, clock });
      const afterCrash = await readLog(log);
      t.is(assertOffsetsIncrease(afterCrash), undefined, `killed after ${delayMs} ms`);
      t.is(checkBatchBounds(before, afterCrash), undefined, `killed after ${delayMs} ms`);
      t.is(checkAgainstOracle(appended, afterCrash, undefined, 'kept'), undefined, `killed after ${delayMs} ms`);
      t.false((await fs.readdir(dir)).some((name) => /\.(cleaned|swap)$/.test(name)), 'recovery finished or dropped the swap');

      // Cleaning again completes the job.
      await new LogCleaner({ clock }).clean(log, { force: true });
      const segments = log.segments();
      const activeBase = segments[segments.length - 1]!.baseOffset;
      t.is(checkAgainstOracle(appended, await readLog(log), activeBase, 'kept'), undefined, `killed after ${delayMs} ms, cleaned again`);
      await log.close();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  t.log(`${interrupted} of ${killDelaysMs.length} cleaners were killed before they finished`);
  t.true(interrupted > 0, 'at least one kill landed mid-clean');
});
