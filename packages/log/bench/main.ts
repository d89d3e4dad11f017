/**
 * Append and read throughput of PartitionLog for 100-byte records in batches of 1, 100 and 1000,
 * beside the physical baseline measured in the same run on the same disk: plain `fs` appends of
 * the same bytes (and plain sequential reads of the file they make).
 *
 * Each case runs several rounds; a round measures the baseline and the log one after the other
 * in fresh directories, so each ratio compares runs seconds apart. Other work on the machine
 * moves every figure, so the table shows medians: MB/s over rounds, and "vs plain fs" as the
 * median of the per-round ratios.
 *
 * `--stages` adds where a lone writer's time goes, per append: the plain write, the CRC-32C of the
 * same batch on its own, and the whole `PartitionLog.append` — wall time and CPU time (all
 * threads: the threadpool's copy into the page cache counts). Measured in short interleaved
 * blocks after a warm-up, so each line compares like with like.
 *
 *   node packages/log/dist/bench/main.js [--quick] [--rounds N] [--stages]
 */
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { encodeRecordBatch, verifyBatchCrc } from '@defter/protocol';
import { PartitionLog, defaultLogConfig, type LogConfig } from '../src/index.js';

const RECORD_VALUE_BYTES = 100;
const READ_CHUNK_BYTES = 1024 * 1024;
const PIPELINE_DEPTH = 32;
const quick = process.argv.includes('--quick');
const stages = process.argv.includes('--stages');
const roundsArgument = process.argv.indexOf('--rounds');
const rounds = roundsArgument > 0 ? Math.max(1, Number(process.argv[roundsArgument + 1])) : quick ? 1 : 5;

interface Case {
  recordsPerBatch: number;
  batches: number;
}

const cases: Case[] = [
  { recordsPerBatch: 1, batches: quick ? 20_000 : 100_000 },
  { recordsPerBatch: 100, batches: quick ? 2_000 : 10_000 },
  { recordsPerBatch: 1000, batches: quick ? 200 : 1_000 },
];

/** Distinct batches built before timing starts (append patches offsets in place, so none is reused). */
function buildBatches(c: Case): Buffer[] {
  const value = Buffer.alloc(RECORD_VALUE_BYTES, 0x61);
  const baseTimestamp = BigInt(Date.now());
  const template = encodeRecordBatch({
    baseTimestamp,
    records: Array.from({ length: c.recordsPerBatch }, (_, i) => ({ timestampDelta: BigInt(i), key: null, value })),
  });
  return Array.from({ length: c.batches }, () => Buffer.from(template));
}

interface Rate {
  seconds: number;
  bytes: number;
  records: number;
}

async function plainFileAppends(dir: string, batches: Buffer[], recordsPerBatch: number): Promise<Rate> {
  const file = await open(join(dir, 'plain.log'), 'a');
  const started = performance.now();
  let bytes = 0;
  for (const batch of batches) {
    await file.write(batch);
    bytes += batch.length;
  }
  const seconds = (performance.now() - started) / 1000;
  await file.close();
  return { seconds, bytes, records: batches.length * recordsPerBatch };
}

async function plainFileReads(dir: string, recordsTotal: number): Promise<Rate> {
  const file = await open(join(dir, 'plain.log'), 'r');
  const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  const started = performance.now();
  let bytes = 0;
  for (;;) {
    const { bytesRead } = await file.read(chunk, 0, chunk.length, bytes);
    if (bytesRead === 0) break;
    bytes += bytesRead;
  }
  const seconds = (performance.now() - started) / 1000;
  await file.close();
  return { seconds, bytes, records: recordsTotal };
}

async function logAppends(dir: string, batches: Buffer[], recordsPerBatch: number, config: LogConfig, depth: number): Promise<Rate> {
  const log = await PartitionLog.open({ dir, config });
  const started = performance.now();
  let bytes = 0;
  let next = 0;
  // `depth` producers each append one batch at a time: depth 1 is a lone sequential writer,
  // a larger depth lets appends that arrive together be written together (group commit).
  await Promise.all(
    Array.from({ length: depth }, async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        bytes += batch.length;
        await log.append(batch);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await log.close();
  return { seconds, bytes, records: batches.length * recordsPerBatch };
}

/** Fetch-style reads: ranges of whole batches up to 1 MiB each, read into one pooled buffer. */
async function logReads(dir: string, recordsTotal: number, config: LogConfig): Promise<Rate> {
  const log = await PartitionLog.open({ dir, config });
  const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES * 2);
  const started = performance.now();
  let bytes = 0;
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const result = await log.read(offset, READ_CHUNK_BYTES);
    for (const range of result.ranges) {
      const target = range.size <= chunk.length ? chunk : Buffer.allocUnsafe(range.size);
      await range.file.read(target, 0, range.size, range.position);
      bytes += range.size;
      offset = range.nextOffset;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  await log.close();
  return { seconds, bytes, records: recordsTotal };
}

const megabytesPerSecond = (r: Rate) => r.bytes / r.seconds / 1e6;
const format = (n: number) => n.toLocaleString('en-US');

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

interface Round {
  plainAppend: Rate;
  sequential: Rate;
  pipelined: Rate;
  plainRead: Rate;
  logRead: Rate;
}

async function runRound(root: string, c: Case, config: LogConfig): Promise<Round> {
  const recordsTotal = c.batches * c.recordsPerBatch;
  const caseDir = await mkdtemp(join(root, `batch-${c.recordsPerBatch}-`));
  try {
    const plainDir = join(caseDir, 'plain');
    const pipelinedDir = join(caseDir, 'pipelined');
    await mkdir(plainDir);
    const plainAppend = await plainFileAppends(plainDir, buildBatches(c), c.recordsPerBatch);
    const sequential = await logAppends(join(caseDir, 'sequential'), buildBatches(c), c.recordsPerBatch, config, 1);
    const pipelined = await logAppends(pipelinedDir, buildBatches(c), c.recordsPerBatch, config, PIPELINE_DEPTH);
    const plainRead = await plainFileReads(plainDir, recordsTotal);
    const logRead = await logReads(pipelinedDir, recordsTotal, config);
    return { plainAppend, sequential, pipelined, plainRead, logRead };
  } finally {
    await rm(caseDir, { recursive: true, force: true });
  }
}

function row(recordsPerBatch: number, operation: string, rounds: readonly Round[], log: (r: Round) => Rate, plain: (r: Round) => Rate): string {
  const records = median(rounds.map((r) => log(r).records / log(r).seconds));
  const logMegabytes = median(rounds.map((r) => megabytesPerSecond(log(r))));
  const plainMegabytes = median(rounds.map((r) => megabytesPerSecond(plain(r))));
  const ratio = median(rounds.map((r) => megabytesPerSecond(log(r)) / megabytesPerSecond(plain(r))));
  return `| ${recordsPerBatch} | ${operation} | ${format(Math.round(records))} | ${logMegabytes.toFixed(1)} | ${plainMegabytes.toFixed(1)} | ${Math.round(100 * ratio)}% |`;
}

/** Microseconds per append of one stage: wall time, and CPU time of every thread of the process. */
interface StageCost {
  wallUs: number;
  cpuUs: number;
}

type StageName = 'plain fs write' | 'CRC-32C alone' | 'PartitionLog.append';
const STAGE_NAMES: readonly StageName[] = ['plain fs write', 'CRC-32C alone', 'PartitionLog.append'];
const STAGE_BLOCKS = 24;
const STAGE_WARMUP_BLOCKS = 4;

/**
 * The lone writer's stages, in interleaved blocks of appends of fresh batches (as the rounds
 * append them: not in the CPU cache). The difference between the append and the plain write
 * is what the log adds; the CRC line says how much of it its check alone would cost.
 */
async function stageCosts(root: string, c: Case, config: LogConfig): Promise<Map<StageName, StageCost>> {
  const dir = await mkdtemp(join(root, `stages-${c.recordsPerBatch}-`));
  const blockBatches = Math.max(1, Math.floor(c.batches / 20));
  const plain = await open(join(dir, 'plain.log'), 'a');
  const log = await PartitionLog.open({ dir: join(dir, 'log'), config });
  const measured = new Map<StageName, StageCost[]>(STAGE_NAMES.map((name) => [name, []]));
  try {
    for (let block = -STAGE_WARMUP_BLOCKS; block < STAGE_BLOCKS; block++) {
      const order = block % 2 === 0 ? STAGE_NAMES : [...STAGE_NAMES].reverse();
      for (const name of order) {
        const batches = buildBatches({ recordsPerBatch: c.recordsPerBatch, batches: blockBatches });
        const cpuBefore = process.cpuUsage();
        const started = performance.now();
        for (const batch of batches) {
          if (name === 'plain fs write') await plain.write(batch);
          else if (name === 'PartitionLog.append') await log.append(batch);
          else if (!verifyBatchCrc(batch)) throw new Error('the benchmark built a batch with a bad CRC');
        }
        const wallUs = ((performance.now() - started) * 1000) / batches.length;
        const cpu = process.cpuUsage(cpuBefore);
        if (block >= 0) measured.get(name)!.push({ wallUs, cpuUs: (cpu.user + cpu.system) / batches.length });
      }
    }
  } finally {
    await log.close();
    await plain.close();
    await rm(dir, { recursive: true, force: true });
  }
  return new Map(
    STAGE_NAMES.map((name) => {
      const costs = measured.get(name)!;
      return [name, { wallUs: median(costs.map((cost) => cost.wallUs)), cpuUs: median(costs.map((cost) => cost.cpuUs)) }];
    }),
  );
}

function stageRows(recordsPerBatch: number, costs: Map<StageName, StageCost>): string[] {
  return STAGE_NAMES.map((name) => {
    const cost = costs.get(name)!;
    return `| ${recordsPerBatch} | ${name} | ${cost.wallUs.toFixed(1)} | ${cost.cpuUs.toFixed(1)} |`;
  });
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'defter-log-bench-'));
  // Kafka's default flush policy: leave flushing to the OS (no fsync per append), as the baseline does.
  const config: LogConfig = { ...defaultLogConfig, segmentBytes: 256 * 1024 * 1024 };
  const rows: string[] = [];
  const stageLines: string[] = [];
  try {
    for (const c of cases) {
      const measured: Round[] = [];
      for (let round = 0; round < rounds; round++) measured.push(await runRound(root, c, config));
      rows.push(
        row(c.recordsPerBatch, 'append, 1 writer', measured, (r) => r.sequential, (r) => r.plainAppend),
        row(c.recordsPerBatch, `append, ${PIPELINE_DEPTH} writers`, measured, (r) => r.pipelined, (r) => r.plainAppend),
        row(c.recordsPerBatch, 'read (1 MiB fetches)', measured, (r) => r.logRead, (r) => r.plainRead),
      );
      if (stages) stageLines.push(...stageRows(c.recordsPerBatch, await stageCosts(root, c, config)));
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  console.log(
    `PartitionLog, ${RECORD_VALUE_BYTES}-byte records${quick ? ' (--quick)' : ''}; baseline: plain fs writes/reads of the same bytes, same run, same disk; median of ${rounds} round(s)`,
  );
  console.log('');
  console.log('| records/batch | operation | records/s | MB/s | plain fs MB/s | vs plain fs |');
  console.log('|---:|---|---:|---:|---:|---:|');
  for (const line of rows) console.log(line);
  if (stages) {
    console.log('');
    console.log(`One writer, per append (medians of ${STAGE_BLOCKS} interleaved blocks; CPU: all threads of the process)`);
    console.log('');
    console.log('| records/batch | stage | wall µs | CPU µs |');
    console.log('|---:|---|---:|---:|');
    for (const line of stageLines) console.log(line);
  }
}

await main();
