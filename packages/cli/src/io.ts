/** Where a command reads and writes; injectable so tests can drive it in-process. */
export interface CliIo {
  /** One line of results on stdout. */
  out: (line: string) => void;
  /** One line of messages (errors, summaries) on stderr. */
  err: (line: string) => void;
  /** Standard input (records for `produce`). */
  input: NodeJS.ReadableStream;
  /** The environment (DEFTER_BOOTSTRAP_SERVER, DEFTER_* settings). */
  env: Readonly<Record<string, string | undefined>>;
}

export const processIo: CliIo = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
  input: process.stdin,
  env: process.env,
};
