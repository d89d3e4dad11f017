import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Suffix of the temporary file that `writeFileAtomically` renames into place. */
export const ATOMIC_TEMP_SUFFIX = '.tmp';

/**
 * Replaces `filePath` with `content` (text as UTF-8, or bytes) so that a crash leaves either the old or the new content, never a
 * mix: write a temporary file, fsync it, rename it over the old one, fsync the directory (so the
 * rename itself is durable).
 */
export async function writeFileAtomically(
  filePath: string,
  content: string | Uint8Array,
  fileSync: (file: FileHandle, filePath: string) => Promise<void> = (file) => file.sync(),
): Promise<void> {
  const tempPath = filePath + ATOMIC_TEMP_SUFFIX;
  const file = await open(tempPath, 'w');
  try {
    await file.writeFile(content);
    await fileSync(file, tempPath);
  } finally {
    await file.close();
  }
  await rename(tempPath, filePath);
  await fsyncDirectory(dirname(filePath));
}

/** Makes renames and creations in `dir` durable. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The file's text, or undefined when it does not exist (any other failure is thrown). */
export async function readTextIfExists(filePath: string): Promise<string | undefined> {
  try {
    return await readFile(filePath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
