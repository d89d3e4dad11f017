import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode } from '@defter/protocol';
import { readTextIfExists, writeFileAtomically } from '@defter/log';
import { KafkaError } from '../errors.js';

/**
 * Hands out producer ids (for idempotent and transactional producers) so that no id is ever given
 * twice, across restarts and crashes. Ids are reserved in blocks: before any id of a block is
 * handed out, the end of the block is persisted (atomically: temp file, fsync, rename, fsync dir)
 * in `<dataDir>/producer-id-block.json`. After a restart, ids start at the persisted end, so the
 * unused rest of a block is skipped, never reused (Kafka does the same with its blocks).
 *
 * File: {"version":1,"nextBlockStart":"<first id not yet reserved>"} (a decimal string: int64).
 *
 * Handing out is synchronous (the coordinator's decisions are): the next block is reserved in the
 * background when the current one is nearly used; if it is not ready in time the caller gets the
 * retriable COORDINATOR_LOAD_IN_PROGRESS, as from Kafka's producer id manager.
 */

export const PRODUCER_ID_BLOCK_FILE = 'producer-id-block.json';
/** Ids reserved per write (Kafka's block size). */
export const PRODUCER_ID_BLOCK_SIZE_DEFAULT = 1000;
const FILE_VERSION = 1;
const PRODUCER_ID_MAX = 2n ** 63n - 1n;
/** The next block is reserved once fewer than this fraction of the current one is left (Kafka: 10 %). */
const PREFETCH_FRACTION = 0.1;

/** The block file cannot be trusted: refuse to hand out ids rather than risk reusing one. */
export class ProducerIdFileError extends Error {
  override readonly name = 'ProducerIdFileError';
}

export interface ProducerIdManagerOptions {
  /** The broker's data directory. */
  readonly dataDir: string;
  readonly blockSize?: number;
  /** fsync of the temporary file; injected by tests to simulate failures. */
  readonly fileSync?: (file: FileHandle, filePath: string) => Promise<void>;
}

export class ProducerIdManager {
  private readonly filePath: string;
  private readonly blockSize: bigint;
  private readonly prefetchBelow: bigint;
  /** The next id to hand out. */
  private nextId: bigint;
  /** Ids below this are persisted as reserved. */
  private reservedEnd: bigint;
  private reserving: Promise<void> | undefined;
  private lastReservationError: unknown;

  private constructor(
    private readonly options: ProducerIdManagerOptions,
    nextBlockStart: bigint,
  ) {
    const blockSize = options.blockSize ?? PRODUCER_ID_BLOCK_SIZE_DEFAULT;
    if (!Number.isSafeInteger(blockSize) || blockSize < 1) throw new RangeError(`producer id block size ${blockSize}`);
    this.filePath = join(options.dataDir, PRODUCER_ID_BLOCK_FILE);
    this.blockSize = BigInt(blockSize);
    this.prefetchBelow = BigInt(Math.max(1, Math.ceil(blockSize * PREFETCH_FRACTION)));
    this.nextId = nextBlockStart;
    this.reservedEnd = nextBlockStart;
  }

  /** Reads the persisted high-water mark and reserves the first block (throws if that write fails). */
  static async open(options: ProducerIdManagerOptions): Promise<ProducerIdManager> {
    const filePath = join(options.dataDir, PRODUCER_ID_BLOCK_FILE);
    const text = await readTextIfExists(filePath);
    const manager = new ProducerIdManager(options, text === undefined ? 0n : parseBlockFile(text, filePath));
    await manager.reserveNextBlock();
    return manager;
  }

  /** The next id, synchronously. Throws KafkaError COORDINATOR_LOAD_IN_PROGRESS while the next block is being reserved. */
  generateProducerId(): bigint {
    if (this.nextId >= this.reservedEnd) {
      this.startReservation();
      const cause = this.lastReservationError instanceof Error ? `: ${this.lastReservationError.message}` : '';
      throw new KafkaError(ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, `no producer id block is reserved yet${cause}`);
    }
    const id = this.nextId;
    this.nextId += 1n;
    if (this.reservedEnd - this.nextId < this.prefetchBelow) this.startReservation();
    return id;
  }

  /** The next id, waiting for a reservation when needed (rejects when the reservation fails). */
  async allocate(): Promise<bigint> {
    while (this.nextId >= this.reservedEnd) await (this.reserving ?? this.reserveNextBlock());
    return this.generateProducerId();
  }

  /** The first id that a restart would hand out: everything below is used or skipped. */
  get reservedUpTo(): bigint {
    return this.reservedEnd;
  }

  /** Waits for a reservation in flight (so that a clean stop leaves no write behind). */
  async close(): Promise<void> {
    await this.reserving?.catch(() => undefined);
  }

  private startReservation(): void {
    if (this.reserving !== undefined) return;
    // Errors are kept for the next caller that runs out of ids; never an unhandled rejection.
    this.reserveNextBlock().catch(() => undefined);
  }

  private reserveNextBlock(): Promise<void> {
    if (this.reserving !== undefined) return this.reserving;
    const end = this.reservedEnd + this.blockSize;
    const reservation = (async () => {
      if (end > PRODUCER_ID_MAX) throw new KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, 'every producer id has been handed out');
      await writeFileAtomically(this.filePath, formatBlockFile(end), this.options.fileSync);
      this.reservedEnd = end;
      this.lastReservationError = undefined;
    })();
    this.reserving = reservation.then(
      () => {
        this.reserving = undefined;
      },
      (error: unknown) => {
        this.reserving = undefined;
        this.lastReservationError = error;
        throw error;
      },
    );
    return this.reserving;
  }
}

export function formatBlockFile(nextBlockStart: bigint): string {
  return `${JSON.stringify({ version: FILE_VERSION, nextBlockStart: nextBlockStart.toString() })}\n`;
}

/** The persisted `nextBlockStart`; throws ProducerIdFileError on anything else. */
export function parseBlockFile(text: string, filePath = PRODUCER_ID_BLOCK_FILE): bigint {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ProducerIdFileError(`${filePath} is not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw new ProducerIdFileError(`${filePath} is not a JSON object`);
  const { version, nextBlockStart } = parsed as Record<string, unknown>;
  if (version !== FILE_VERSION) throw new ProducerIdFileError(`${filePath} has version ${String(version)}, expected ${FILE_VERSION}`);
  if (typeof nextBlockStart !== 'string' || !/^(0|[1-9][0-9]{0,18})$/.test(nextBlockStart) || BigInt(nextBlockStart) > PRODUCER_ID_MAX) {
    throw new ProducerIdFileError(`${filePath} has no valid nextBlockStart (${String(nextBlockStart)})`);
  }
  return BigInt(nextBlockStart);
}
