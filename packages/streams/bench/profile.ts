/**
 * `--profile DIR`: a V8 CPU profile of each row (this process only: the app or the kafkajs loop,
 * and for the embedded rows the broker too), written as `DIR/<row>.cpuprofile` — the input
 * preparation is left out, unlike `node --cpu-prof`. Summarise one with profile-summary.js, or
 * open it in Chrome DevTools.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/** Runs `run` under the profiler when `directory` is given; the profile is written even if `run` fails. */
export async function profiled<T>(directory: string | undefined, name: string, run: () => Promise<T>): Promise<T> {
  if (directory === undefined) return run();
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    // 200 µs between samples: fine enough for per-batch work, coarse enough to stay out of the figures.
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    try {
      return await run();
    } finally {
      const { profile } = await session.post('Profiler.stop');
      await mkdir(directory, { recursive: true });
      await writeFile(join(directory, `${name}.cpuprofile`), JSON.stringify(profile));
    }
  } finally {
    session.disconnect();
  }
}
