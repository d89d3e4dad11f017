/** Starting and stopping the network rows' broker process (broker-process.ts). */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const START_TIMEOUT_MS = 60_000;

export interface BrokerChild {
  readonly child: ChildProcess;
  readonly bootstrap: string;
}

/**
 * Runs broker-process on `dataDir` and resolves once it listens. From source (tsx) the child runs
 * from source too; from dist, the compiled script.
 */
export async function startBrokerChild(dataDir: string): Promise<BrokerChild> {
  const ownUrl = import.meta.url;
  const runningSource = ownUrl.endsWith('.ts');
  const script = fileURLToPath(new URL(`./broker-process.${runningSource ? 'ts' : 'js'}`, ownUrl));
  const nodeArguments = runningSource ? ['--import', 'tsx', '--conditions=defter-source'] : [];
  const child = spawn(process.execPath, [...nodeArguments, script, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the broker process did not listen within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        clearTimeout(timer);
        reject(new Error(`the broker process exited (${String(code ?? signal)}) before it listened`));
      };
      child.once('exit', onExit);
      lines.once('line', (line) => {
        clearTimeout(timer);
        child.off('exit', onExit);
        try {
          resolve((JSON.parse(line) as { port: number }).port);
        } catch {
          reject(new Error(`the broker process printed ${JSON.stringify(line)} instead of {"port":N}`));
        }
      });
    });
    return { child, bootstrap: `127.0.0.1:${port}` };
  } catch (error) {
    await stopBrokerChild(child);
    throw error;
  } finally {
    lines.close();
  }
}

/** Graceful stop (SIGTERM: the broker flushes and closes its logs); resolves once the process is gone. */
export async function stopBrokerChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}
