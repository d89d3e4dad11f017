/**
 * The frame buffer pool and its hand-back rule: memory is reused only once released, a release
 * of a frame that is not the current lease is a programming error, and a connection releases a
 * Produce frame only after its request has been answered (never a frame of another API, nor one
 * whose request closed the connection).
 */
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import pino from 'pino';
import { ApiKey } from '@defter/protocol';
import { Connection } from '../src/network/connection.js';
import { FrameBufferPool } from '../src/network/frame-buffer-pool.js';
import type { Outcome, RequestProcessor } from '../src/network/request-processor.js';

test('a released frame buffer is reused by the next frame of its class, and only then', (t) => {
  const pool = new FrameBufferPool({ classBytesMin: 16 * 1024, classBytesMax: 1024 * 1024 });
  const first = pool.acquire(100_000);
  t.is(first.length, 100_000);
  t.is(first.buffer.byteLength, 128 * 1024);
  const second = pool.acquire(100_000);
  t.not(second.buffer, first.buffer, 'a lent buffer is not handed out again');
  t.true(pool.release(first));
  t.is(pool.idleBytes, 128 * 1024);
  const otherClass = pool.acquire(40_000);
  t.not(otherClass.buffer, first.buffer);
  t.is(otherClass.buffer.byteLength, 64 * 1024);
  const third = pool.acquire(70_000);
  t.is(third.buffer, first.buffer, 'same class: the released memory comes back');
  t.is(third.length, 70_000);
  t.is(pool.idleBytes, 0);
});

test('frames outside the classes are plain allocations the pool does not take back', (t) => {
  const pool = new FrameBufferPool({ classBytesMin: 16 * 1024, classBytesMax: 1024 * 1024 });
  const small = pool.acquire(8 * 1024);
  const large = pool.acquire(1024 * 1024 + 1);
  t.false(pool.release(small));
  t.false(pool.release(large));
  t.false(pool.release(Buffer.alloc(64 * 1024)), 'a buffer the pool never lent (a socket chunk)');
  t.is(pool.idleBytes, 0);
  t.is(pool.acquire(8 * 1024 + 1).buffer.byteLength, 16 * 1024, 'just over half the smallest class is pooled');
});

test('releasing twice, or releasing a stale or partial view, throws instead of freeing memory in use', (t) => {
  const pool = new FrameBufferPool();
  const frame = pool.acquire(50_000);
  t.throws(() => pool.release(frame.subarray(0, 10)), { message: /not its current frame/ });
  t.true(pool.release(frame));
  t.throws(() => pool.release(frame), { message: /released twice/ });
  const reused = pool.acquire(60_000);
  t.is(reused.buffer, frame.buffer);
  t.throws(() => pool.release(frame), { message: /not its current frame/ }, 'the old frame must not free the new lease');
  t.true(pool.release(reused));
});

test('the pool keeps at most idleBytesMax for reuse', (t) => {
  const pool = new FrameBufferPool({ classBytesMin: 16 * 1024, classBytesMax: 1024 * 1024, idleBytesMax: 256 * 1024 });
  const frames = [pool.acquire(100_000), pool.acquire(100_000), pool.acquire(100_000)];
  for (const frame of frames) t.true(pool.release(frame));
  t.is(pool.idleBytes, 256 * 1024);
  const again = [pool.acquire(100_000), pool.acquire(100_000), pool.acquire(100_000)];
  t.is(again[0]!.buffer, frames[1]!.buffer);
  t.is(again[1]!.buffer, frames[0]!.buffer);
  t.false([frames[0]!.buffer, frames[1]!.buffer, frames[2]!.buffer].includes(again[2]!.buffer), 'the dropped one is gone');
});

// ---- the connection's hand-back rule ----------------------------------------------------------

interface HeldRequest {
  readonly apiKey: number;
  readonly frame: Buffer;
  readonly finish: (outcome: 'respond' | 'none' | 'close') => void;
}

/** Requests finish only when the test says so; the frame each was given is kept for inspection. */
class HeldProcessor {
  readonly started: HeldRequest[] = [];
  process(frame: Buffer): Promise<Outcome> {
    const apiKey = frame.readInt16BE(0);
    const correlationId = frame.readInt32BE(4);
    const header = { apiKey, apiVersion: 0, correlationId, clientId: null };
    return new Promise((resolve) => {
      const bytes = Buffer.alloc(8);
      bytes.writeInt32BE(4, 0);
      bytes.writeInt32BE(correlationId, 4);
      this.started.push({
        apiKey,
        frame,
        finish: (kind) => resolve(kind === 'respond' ? { kind, bytes, header } : kind === 'none' ? { kind, header } : { kind, reason: 'test' }),
      });
    });
  }
}

/** A frame of `sizeBytes` (prefix excluded) for `apiKey`, its body filled with `fill`. */
function frameOf(apiKey: number, correlationId: number, sizeBytes: number, fill: number): Buffer {
  const frame = Buffer.alloc(4 + sizeBytes, fill);
  frame.writeInt32BE(sizeBytes, 0);
  frame.writeInt16BE(apiKey, 4);
  frame.writeInt16BE(7, 6);
  frame.writeInt32BE(correlationId, 8);
  return frame;
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 30));

async function connectionWithPool(t: ExecutionContext, pool: FrameBufferPool): Promise<{ client: Socket; processor: HeldProcessor }> {
  const processor = new HeldProcessor();
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const client = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1' });
  const [socket] = (await accepted) as [Socket];
  new Connection(socket, processor as unknown as RequestProcessor, {
    frameBytesMax: 1 << 20,
    queuedRequestsMax: 100,
    pipelinedProducesMax: 16,
    framePool: pool,
    clock: { nowMs: () => Date.now() },
    logger: pino({ level: 'silent' }),
  });
  client.on('data', () => undefined);
  t.teardown(() => {
    client.destroy();
    socket.destroy();
    server.close();
  });
  return { client, processor };
}

/** Writes a frame in two parts, so the connection assembles it from two chunks (in a pool buffer). */
async function writeSplit(client: Socket, frame: Buffer): Promise<void> {
  client.write(frame.subarray(0, 1000));
  await settle();
  client.write(frame.subarray(1000));
}

test('a Produce frame goes back to the pool only once its request is answered, and later frames never overwrite it before', async (t) => {
  const pool = new FrameBufferPool({ classBytesMin: 16 * 1024, classBytesMax: 1024 * 1024 });
  const { client, processor } = await connectionWithPool(t, pool);
  await writeSplit(client, frameOf(ApiKey.Produce, 1, 40_000, 0x11));
  await until(() => processor.started.length === 1);
  const first = processor.started[0]!;
  t.is(first.frame.buffer.byteLength, 64 * 1024, 'assembled in a pool buffer');
  await writeSplit(client, frameOf(ApiKey.Produce, 2, 40_000, 0x22));
  await until(() => processor.started.length === 2);
  await settle();
  t.is(pool.idleBytes, 0, 'nothing is released while both are in progress');
  t.not(processor.started[1]!.frame.buffer, first.frame.buffer);
  t.true(first.frame.subarray(8).every((byte) => byte === 0x11), 'the first frame is intact');

  first.finish('respond');
  await until(() => pool.idleBytes === 64 * 1024);
  // The released memory now carries the next frame of its class.
  await writeSplit(client, frameOf(ApiKey.Produce, 3, 50_000, 0x33));
  await until(() => processor.started.length === 3);
  t.is(processor.started[2]!.frame.buffer, first.frame.buffer);
  t.true(processor.started[1]!.frame.subarray(8).every((byte) => byte === 0x22), 'the frame still in progress is intact');

  processor.started[1]!.finish('none');
  await until(() => pool.idleBytes === 64 * 1024);
  t.pass();
});

test('frames of other APIs, and Produce frames whose request closed the connection, are never handed back', async (t) => {
  const pool = new FrameBufferPool({ classBytesMin: 16 * 1024, classBytesMax: 1024 * 1024 });
  const { client, processor } = await connectionWithPool(t, pool);
  await writeSplit(client, frameOf(ApiKey.JoinGroup, 1, 40_000, 0x44));
  await until(() => processor.started.length === 1);
  t.is(processor.started[0]!.frame.buffer.byteLength, 64 * 1024);
  processor.started[0]!.finish('respond');
  await settle();
  t.is(pool.idleBytes, 0, 'a JoinGroup body may keep views of its frame');

  await writeSplit(client, frameOf(ApiKey.Produce, 2, 40_000, 0x55));
  await until(() => processor.started.length === 2);
  processor.started[1]!.finish('close');
  await settle();
  t.is(pool.idleBytes, 0, 'a failed handler may have left appends pending');
});
