/**
 * Where a row's time goes, from a `.cpuprofile` written by `--profile`:
 *
 *   node packages/streams/dist/bench/profile-summary.js DIR/embedded.cpuprofile [TOP]
 *
 * Prints the time per stage — each sample is charged to the nearest frame on its stack that belongs
 * to a stage (so JSON.parse under the JSON serde counts as serde, a varint read under the batch
 * decoder as decoding) — and the TOP functions by self time.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Stages, tried in order on each frame from the sampled one towards the root; the first match wins. */
const STAGES: ReadonlyArray<{ readonly stage: string; readonly matches: (frame: CallFrame) => boolean }> = [
  { stage: 'garbage collection', matches: (frame) => frame.functionName === '(garbage collector)' },
  { stage: 'idle (waiting for I/O or timers)', matches: (frame) => frame.functionName === '(idle)' },
  { stage: 'V8 outside JavaScript (program)', matches: (frame) => frame.functionName === '(program)' },
  { stage: 'CRC-32C', matches: (frame) => /\/crc32c\./.test(frame.url) },
  { stage: 'record batches: decode', matches: (frame) => /\/protocol\/.*record-batch\//.test(frame.url) && /decode|read/i.test(frame.functionName) },
  { stage: 'record batches: encode', matches: (frame) => /\/protocol\/.*record-batch\//.test(frame.url) },
  { stage: 'serdes', matches: (frame) => /\/streams\/(src|dist\/src)\/serde\//.test(frame.url) },
  { stage: 'user functions (transform, filter)', matches: (frame) => /\/streams\/(dist\/)?bench\/workload\./.test(frame.url) },
  { stage: 'DSL operators', matches: (frame) => /\/streams\/(src|dist\/src)\/dsl\//.test(frame.url) },
  { stage: 'RxJS', matches: (frame) => /\/rxjs\//.test(frame.url) },
  { stage: 'runtime: batch processing (topology, batch processor)', matches: (frame) => /\/streams\/(src|dist\/src)\/(topology\/|runtime\/batch-processor\.)/.test(frame.url) },
  { stage: 'runtime: app, tasks, commits', matches: (frame) => /\/streams\/(src|dist\/src)\/runtime\//.test(frame.url) },
  { stage: 'embedded log (fetcher, producer, group member)', matches: (frame) => /\/streams\/(src|dist\/src)\/log\/(embedded|embedded-log)/.test(frame.url) },
  { stage: 'kafkajs log adapter', matches: (frame) => /\/streams\/(src|dist\/src)\/log\/kafkajs-log\./.test(frame.url) },
  { stage: 'kafkajs', matches: (frame) => /\/kafkajs\//.test(frame.url) },
  { stage: 'broker: storage (PartitionLog, segments)', matches: (frame) => /\/packages\/log\//.test(frame.url) },
  { stage: 'broker: handlers, replica manager, groups, transactions', matches: (frame) => /\/packages\/broker\//.test(frame.url) },
  { stage: 'kafkajs loop body (JSON, transform, filter)', matches: (frame) => /\/streams\/(dist\/)?bench\/kafkajs-loop\./.test(frame.url) },
  { stage: 'bench harness (offset polling)', matches: (frame) => /\/streams\/(dist\/)?bench\//.test(frame.url) },
  { stage: 'pino (logging)', matches: (frame) => /\/pino/.test(frame.url) },
];
/** Tried only when no stage matched anywhere on the stack: the protocol's primitives serve every stage above. */
const FALLBACK_STAGES: typeof STAGES = [{ stage: 'protocol: other (schemas, primitives)', matches: (frame) => /\/packages\/protocol\//.test(frame.url) }];
const UNATTRIBUTED = 'node internals and builtins, no project frame on the stack';

function summarise(profile: CpuProfile, top: number): string[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const nearestStage = (id: number, stages: typeof STAGES): string | undefined => {
    for (let current: number | undefined = id; current !== undefined; current = parentOf.get(current)) {
      const frame = byId.get(current)!.callFrame;
      const found = stages.find((candidate) => candidate.matches(frame));
      if (found !== undefined) return found.stage;
    }
    return undefined;
  };
  const stageOfNode = new Map<number, string>();
  const stageOf = (id: number): string => {
    const known = stageOfNode.get(id);
    if (known !== undefined) return known;
    const stage = nearestStage(id, STAGES) ?? nearestStage(id, FALLBACK_STAGES) ?? UNATTRIBUTED;
    stageOfNode.set(id, stage);
    return stage;
  };

  const stageMs = new Map<string, number>();
  const selfMs = new Map<string, number>();
  let totalMs = 0;
  profile.samples.forEach((id, index) => {
    // timeDeltas[i] is the time before sample i: the time after it is the next delta.
    const ms = (profile.timeDeltas[index + 1] ?? profile.timeDeltas[index] ?? 0) / 1000;
    totalMs += ms;
    stageMs.set(stageOf(id), (stageMs.get(stageOf(id)) ?? 0) + ms);
    const frame = byId.get(id)!.callFrame;
    const name = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    selfMs.set(name, (selfMs.get(name) ?? 0) + ms);
  });

  const share = (ms: number) => `${((100 * ms) / totalMs).toFixed(1)}%`;
  const lines = [`total ${totalMs.toFixed(0)} ms sampled`, '', '| stage | ms | share |', '|---|---:|---:|'];
  for (const [stage, ms] of [...stageMs].sort((a, b) => b[1] - a[1])) lines.push(`| ${stage} | ${ms.toFixed(0)} | ${share(ms)} |`);
  lines.push('', `| top ${top} functions by self time | ms | share |`, '|---|---:|---:|');
  for (const [name, ms] of [...selfMs].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`| ${name} | ${ms.toFixed(0)} | ${share(ms)} |`);
  return lines;
}

function shortUrl(url: string): string {
  const packages = url.lastIndexOf('/packages/');
  if (packages >= 0) return url.slice(packages + '/packages/'.length);
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length);
  return url;
}

const [file, topArgument] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: profile-summary.js FILE.cpuprofile [TOP]');
  process.exit(2);
}
const top = topArgument === undefined ? 25 : Number(topArgument);
if (!Number.isSafeInteger(top) || top < 1) {
  console.error(`TOP must be a whole number above 0, not ${topArgument}`);
  process.exit(2);
}
let profile: CpuProfile;
try {
  profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
} catch (error) {
  console.error(`cannot read ${file} as a CPU profile: ${(error as Error).message}`);
  process.exit(2);
}
if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples) || !Array.isArray(profile.timeDeltas)) {
  console.error(`${file} is not a V8 CPU profile (nodes, samples, timeDeltas)`);
  process.exit(2);
}
for (const line of summarise(profile, top)) console.log(line);
