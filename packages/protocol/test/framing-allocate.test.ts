import test from 'ava';
import fc from 'fast-check';
import { FrameDecoder } from '@defter/protocol';

function sizePrefixed(payload: Buffer): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeInt32BE(payload.length);
  return Buffer.concat([prefix, payload]);
}

test('a frame spanning chunks is assembled in the buffer allocateFrame returned; one inside a chunk is a view of it', (t) => {
  const allocated: Buffer[] = [];
  const decoder = new FrameDecoder({
    allocateFrame: (sizeBytes) => {
      const buffer = Buffer.alloc(sizeBytes);
      allocated.push(buffer);
      return buffer;
    },
  });
  const spanning = Buffer.from('spans two chunks');
  const inside = Buffer.from('fits in one');
  const stream = Buffer.concat([sizePrefixed(spanning), sizePrefixed(inside)]);
  const first = decoder.push(stream.subarray(0, 10));
  t.deepEqual(first, []);
  const second = decoder.push(stream.subarray(10));
  t.deepEqual(second, [spanning, inside]);
  t.is(allocated.length, 1);
  t.is(second[0], allocated[0]);
  t.is(second[1]!.buffer, stream.buffer);
});

test('a size prefix split across chunks does not go through allocateFrame', (t) => {
  const sizes: number[] = [];
  const decoder = new FrameDecoder({ allocateFrame: (sizeBytes) => (sizes.push(sizeBytes), Buffer.allocUnsafe(sizeBytes)) });
  const stream = sizePrefixed(Buffer.from('abc'));
  t.deepEqual(decoder.push(stream.subarray(0, 2)), []);
  t.deepEqual(decoder.push(stream.subarray(2)), [Buffer.from('abc')]);
  t.deepEqual(sizes, []);
});

test('with allocateFrame, frames fed in random chunk sizes come out the same, each allocation exactly one frame', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)), { maxLength: 12 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 50 }),
      (frames, chunkSizes) => {
        const stream = Buffer.concat(frames.map(sizePrefixed));
        const allocated = new Set<Buffer>();
        const decoder = new FrameDecoder({
          frameBytesMax: 1000,
          allocateFrame: (sizeBytes) => {
            const buffer = Buffer.allocUnsafe(sizeBytes).fill(0xee);
            allocated.add(buffer);
            return buffer;
          },
        });
        const out: Buffer[] = [];
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const size = chunkSizes[i % chunkSizes.length]!;
          out.push(...decoder.push(stream.subarray(at, at + size)));
          at += size;
        }
        t.deepEqual(out, frames);
        for (const buffer of allocated) t.true(out.includes(buffer));
      },
    ),
    { numRuns: 100 },
  );
});

test('allocateFrame returning the wrong size is a programming error, reported at once', (t) => {
  const decoder = new FrameDecoder({ allocateFrame: (sizeBytes) => Buffer.alloc(sizeBytes + 1) });
  const stream = sizePrefixed(Buffer.from('abcdef'));
  decoder.push(stream.subarray(0, 6));
  t.throws(() => decoder.push(stream.subarray(6)), { instanceOf: RangeError, message: 'allocateFrame(6) returned 7 bytes' });
});
