import type { ExecutionContext } from 'ava';
import { parseConsumed, type ConsumedLine } from './keyed-lines.js';
import { kcatArgs, runProcess } from './processes.js';

const KCAT_TIMEOUT_MS = 60_000;

/** Produces `key:value` lines with `kcat -P -K:` (acks=all, librdkafka's default); fails the test if kcat does. */
export async function kcatProduce(
  t: ExecutionContext,
  bootstrap: string,
  topic: string,
  lines: ReadonlyArray<{ key: string; value: string }>,
  ...extraArgs: string[]
): Promise<void> {
  const result = await runProcess(t, 'kcat', kcatArgs(bootstrap, '-P', '-K:', '-t', topic, ...extraArgs), {
    input: lines.map(({ key, value }) => `${key}:${value}\n`).join(''),
    timeoutMs: KCAT_TIMEOUT_MS,
  });
  if (result.code !== 0) throw new Error(`kcat -P exited with ${result.code ?? result.signal}: ${result.stderr}`);
}

/** Reads a whole topic from the beginning with `kcat -C -e`, as key/value/partition/offset lines. */
export async function kcatConsumeAll(t: ExecutionContext, bootstrap: string, topic: string): Promise<ConsumedLine[]> {
  const result = await runProcess(t, 'kcat', kcatArgs(bootstrap, '-C', '-e', '-t', topic, '-o', 'beginning', '-f', '%k:%s:%p:%o\\n'), {
    timeoutMs: KCAT_TIMEOUT_MS,
  });
  if (result.code !== 0) throw new Error(`kcat -C exited with ${result.code ?? result.signal}: ${result.stderr}`);
  return parseConsumed(result.stdout);
}
