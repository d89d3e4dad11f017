import { CorruptRecordError, type FileRange } from '@defter/log';

const EMPTY = Buffer.alloc(0);

/**
 * The bytes of `ranges` (whole stored batches, in offset order) in one buffer, as a Fetch
 * response carries them. One read per range (more only on a short read).
 *
 * The next step is zero-copy: hand the file ranges to the connection and `writev` them after the
 * encoded response prefix, instead of copying them through this buffer.
 */
export async function readRanges(ranges: readonly FileRange[], sizeBytes: number): Promise<Buffer> {
  if (sizeBytes === 0) return EMPTY;
  const buffer = Buffer.allocUnsafe(sizeBytes);
  let filled = 0;
  for (const range of ranges) {
    let rangeRead = 0;
    while (rangeRead < range.size) {
      const { bytesRead } = await range.file.read(buffer, filled, range.size - rangeRead, range.position + rangeRead);
      if (bytesRead === 0) throw new CorruptRecordError(`segment ${range.logPath} ended inside a range being read`, range.position + rangeRead);
      rangeRead += bytesRead;
      filled += bytesRead;
    }
  }
  return buffer;
}
