import { readTextIfExists, writeFileAtomically } from './atomic-file.js';
import type { FileSync } from './segment.js';
import { dataSync } from './segment.js';

/*
 * A one-offset checkpoint file in the partition directory (`recovery-point-checkpoint`,
 * `log-start-offset-checkpoint`). Text, so operators can read it:
 *
 *   0          <- format version
 *   <offset>   <- decimal int64
 *
 * Written atomically: temp file, fsync, rename over the old one, fsync the directory. A crash
 * leaves either the old or the new content, never a mix.
 */
const CHECKPOINT_VERSION = '0';

export class OffsetCheckpointFile {
  /** Serialises writers: two overlapping writes would share the temp file. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly fileSync: FileSync = dataSync,
  ) {}

  /** The stored offset; undefined when the file is absent. Throws `CheckpointFormatError` when malformed. */
  async read(): Promise<bigint | undefined> {
    const text = await readTextIfExists(this.path);
    if (text === undefined) return undefined;
    const lines = text.split('\n');
    if (lines.length !== 3 || lines[2] !== '' || lines[0] !== CHECKPOINT_VERSION || !/^\d{1,19}$/.test(lines[1]!)) {
      throw new CheckpointFormatError(`malformed checkpoint file ${this.path}: ${JSON.stringify(text.slice(0, 64))}`);
    }
    const offset = BigInt(lines[1]!);
    if (offset > 0x7fffffffffffffffn) throw new CheckpointFormatError(`checkpoint offset ${offset} in ${this.path} is not an int64`);
    return offset;
  }

  write(offset: bigint): Promise<void> {
    const run = this.writing.then(() => this.writeNow(offset));
    this.writing = run.catch(() => {});
    return run;
  }

  private async writeNow(offset: bigint): Promise<void> {
    if (offset < 0n) throw new RangeError(`checkpoint offset ${offset} is negative`);
    await writeFileAtomically(this.path, `${CHECKPOINT_VERSION}\n${offset}\n`, this.fileSync);
  }
}

export class CheckpointFormatError extends Error {
  override readonly name = 'CheckpointFormatError';
}

