/**
 * Reusable memory for request frames that the frame decoder assembles from several socket chunks
 * (every Produce request of more than one 64 KiB read). Without it each such frame is a fresh
 * allocation of its size, which glibc takes from and gives back to the OS again and again (page
 * faults zero it on every touch) and which, as external memory, drives V8's garbage collections.
 *
 * Buffers come in power-of-two size classes, each its own ArrayBuffer; a frame is a view of the
 * first `sizeBytes` of one. Frames outside the classes are plain allocations. A frame that is
 * never released is simply collected, so the caller releases only what it knows nothing reads any
 * more, and the pool keeps at most `idleBytesMax` bytes waiting for reuse.
 */

export interface FrameBufferPoolOptions {
  /** Smallest class; frames of up to half of it are left to Node's allocator (whose 8 KiB slab serves those under 4 KiB). */
  readonly classBytesMin?: number;
  /** Largest class; larger frames are allocated, and collected, one by one. */
  readonly classBytesMax?: number;
  /** Most bytes kept for reuse while no frame uses them; releases beyond it are dropped. */
  readonly idleBytesMax?: number;
}

export const FRAME_CLASS_BYTES_MIN_DEFAULT = 8 * 1024;
export const FRAME_CLASS_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;
export const FRAME_POOL_IDLE_BYTES_MAX_DEFAULT = 32 * 1024 * 1024;

export class FrameBufferPool {
  readonly classBytesMin: number;
  readonly classBytesMax: number;
  readonly idleBytesMax: number;
  /** Free buffers by class size. */
  private readonly idle = new Map<number, ArrayBuffer[]>();
  /** Memory handed out and not yet released, with the frame that uses it; weak, as unreleased frames are left to the GC. */
  private readonly lent = new WeakMap<ArrayBuffer, Buffer>();
  private idleBytesNow = 0;

  constructor(options: FrameBufferPoolOptions = {}) {
    this.classBytesMin = options.classBytesMin ?? FRAME_CLASS_BYTES_MIN_DEFAULT;
    this.classBytesMax = options.classBytesMax ?? FRAME_CLASS_BYTES_MAX_DEFAULT;
    this.idleBytesMax = options.idleBytesMax ?? FRAME_POOL_IDLE_BYTES_MAX_DEFAULT;
    if (!isPowerOfTwo(this.classBytesMin) || !isPowerOfTwo(this.classBytesMax) || this.classBytesMin > this.classBytesMax) {
      throw new RangeError(`frame classes must be powers of two with min <= max, got ${this.classBytesMin}..${this.classBytesMax}`);
    }
  }

  /** Bytes kept for reuse now. */
  get idleBytes(): number {
    return this.idleBytesNow;
  }

  /** Exactly `sizeBytes` writable bytes that nothing else uses until `release`d (or forgotten). */
  acquire(sizeBytes: number): Buffer {
    const classBytes = this.classOf(sizeBytes);
    if (classBytes === undefined) return Buffer.allocUnsafe(sizeBytes);
    let memory = this.idle.get(classBytes)?.pop();
    if (memory === undefined) memory = new ArrayBuffer(classBytes);
    else this.idleBytesNow -= classBytes;
    const frame = Buffer.from(memory, 0, sizeBytes);
    this.lent.set(memory, frame);
    return frame;
  }

  /**
   * Gives a frame's memory back for reuse. Only for a frame nothing reads or writes any more: the
   * next `acquire` of its class overwrites it. Returns false for a frame the pool did not hand out
   * (a view of a socket chunk, an unpooled size). Releasing a frame twice, or a view other than the
   * one `acquire` returned, is a programming error and throws.
   */
  release(frame: Buffer): boolean {
    const memory = frame.buffer;
    if (!(memory instanceof ArrayBuffer) || this.classOf(memory.byteLength) !== memory.byteLength) return false;
    const lease = this.lent.get(memory);
    if (lease === undefined) {
      if (this.idle.get(memory.byteLength)?.includes(memory) === true) {
        throw new Error(`a frame buffer of ${memory.byteLength} bytes was released twice`);
      }
      return false;
    }
    if (lease !== frame) throw new Error(`released a view of a ${memory.byteLength}-byte frame buffer that is not its current frame`);
    this.lent.delete(memory);
    if (this.idleBytesNow + memory.byteLength > this.idleBytesMax) return true;
    let free = this.idle.get(memory.byteLength);
    if (free === undefined) {
      free = [];
      this.idle.set(memory.byteLength, free);
    }
    free.push(memory);
    this.idleBytesNow += memory.byteLength;
    return true;
  }

  /** The class serving `sizeBytes`, or undefined when it is left to the ordinary allocator. */
  private classOf(sizeBytes: number): number | undefined {
    if (sizeBytes <= this.classBytesMin / 2 || sizeBytes > this.classBytesMax) return undefined;
    let classBytes = this.classBytesMin;
    while (classBytes < sizeBytes) classBytes *= 2;
    return classBytes;
  }
}

function isPowerOfTwo(value: number): boolean {
  return Number.isInteger(value) && value > 0 && (value & (value - 1)) === 0;
}
