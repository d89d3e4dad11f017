import { spawn } from 'node:child_process';

/**
 * Runs a writer script (which prints `ready`, then `<number> <offset>` per acknowledged append)
 * until `acknowledgements` appends are acknowledged, waits `extraDelayMs` more, then SIGKILLs it.
 * Resolves with every acknowledgement it printed.
 */
export function runWriterAndKill(writerScript: string, dir: string, acknowledgements: number, extraDelayMs: number): Promise<Map<number, bigint>> {
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
