import { DecodeError } from './decode-error.js';
import { apiKeys } from './generated/api-keys.js';
import { requestSchemas, responseSchemas } from './generated/index.js';
import type { RequestDataByApiKey, ResponseDataByApiKey } from './generated/index.js';
import { Reader } from './primitives/reader.js';
import { Writer } from './primitives/writer.js';
import { decodeMessage, writeMessage } from './schema/codec.js';
import { readTaggedFieldsSkipping } from './schema/tagged-fields.js';
import { parseVersionRange } from './schema/versions.js';

/**
 * Kafka's framing: every request and response is an int32 size followed by that many bytes, which
 * begin with a request or response header. Header versions follow the API version: flexible API
 * versions use request header v2 (v1 + tagged fields) and response header v1 (v0 + tagged fields).
 */

const SIZE_PREFIX_BYTES = 4;

/** Kafka's default `socket.request.max.bytes` (100 MiB). */
export const FRAME_BYTES_MAX_DEFAULT = 104_857_600;

export interface RequestHeader {
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  /** Absent (null) in header v0, and nullable in v1 and v2. */
  readonly clientId: string | null;
}

export interface ResponseHeader {
  readonly correlationId: number;
}

// ---------------------------------------------------------------------------------------------
// Header versions

function isFlexible(apiKey: number, apiVersion: number): boolean {
  const info = apiKeys[apiKey];
  if (info === undefined) throw new RangeError(`unknown API key ${apiKey}`);
  const flexible = parseVersionRange(info.flexibleVersions);
  return apiVersion >= flexible.min && apiVersion <= flexible.max;
}

/**
 * The request header version for an API version: 2 when the version is flexible, else 1; 0 for
 * ControlledShutdown v0. Versions above the highest known follow the (open) flexible range, so a
 * header of an ApiVersions request newer than ours can still be read.
 */
export function requestHeaderVersion(apiKey: number, apiVersion: number): number {
  const known = apiKeys[apiKey]?.requestHeaderVersions[apiVersion];
  if (known !== undefined) return known;
  return isFlexible(apiKey, apiVersion) ? 2 : 1;
}

/** The response header version: 1 when the version is flexible, else 0; always 0 for ApiVersions. */
export function responseHeaderVersion(apiKey: number, apiVersion: number): number {
  const known = apiKeys[apiKey]?.responseHeaderVersions[apiVersion];
  if (known !== undefined) return known;
  return apiKey !== 18 && isFlexible(apiKey, apiVersion) ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Headers

/**
 * Reads a request header from the start of a frame. It needs only the API key to know the header
 * layout, so it works for API versions this broker does not support (which must still be answered).
 */
export function decodeRequestHeader(reader: Reader): RequestHeader {
  const at = reader.position;
  const apiKey = reader.int16();
  const apiVersion = reader.int16();
  const correlationId = reader.int32();
  if (apiKeys[apiKey] === undefined) throw new UnknownApiKeyError(apiKey, apiVersion, correlationId, at);
  if (apiVersion < 0) throw new DecodeError(`negative API version ${apiVersion}`, at + 2, 'RequestHeader.apiVersion');
  const headerVersion = requestHeaderVersion(apiKey, apiVersion);
  let clientId: string | null = null;
  if (headerVersion >= 1) clientId = reader.nullableString();
  if (headerVersion >= 2) readTaggedFieldsSkipping(reader);
  return { apiKey, apiVersion, correlationId, clientId };
}

export function writeRequestHeader(writer: Writer, header: RequestHeader): void {
  const headerVersion = requestHeaderVersion(header.apiKey, header.apiVersion);
  writer.int16(header.apiKey).int16(header.apiVersion).int32(header.correlationId);
  if (headerVersion >= 1) writer.nullableString(header.clientId);
  if (headerVersion >= 2) writer.unsignedVarint(0);
}

export function decodeResponseHeader(reader: Reader, apiKey: number, apiVersion: number): ResponseHeader {
  const correlationId = reader.int32();
  if (responseHeaderVersion(apiKey, apiVersion) >= 1) readTaggedFieldsSkipping(reader);
  return { correlationId };
}

export function writeResponseHeader(writer: Writer, header: ResponseHeader, apiKey: number, apiVersion: number): void {
  writer.int32(header.correlationId);
  if (responseHeaderVersion(apiKey, apiVersion) >= 1) writer.unsignedVarint(0);
}

// ---------------------------------------------------------------------------------------------
// Whole messages

/** A decoded request; `apiKey` at the top level lets TypeScript narrow `body`. */
export type DecodedRequest = {
  [K in keyof RequestDataByApiKey]: { readonly apiKey: K; readonly header: RequestHeader; readonly body: RequestDataByApiKey[K] };
}[keyof RequestDataByApiKey];

/** The request's API key is not one Kafka defines; the connection should be closed. */
export class UnknownApiKeyError extends DecodeError {
  constructor(
    readonly apiKey: number,
    readonly apiVersion: number,
    readonly correlationId: number,
    offset: number,
  ) {
    super(`unknown API key ${apiKey}`, offset, 'RequestHeader.apiKey');
  }
}

/** The API key is known but this version of it is not; the header was read and can be answered. */
export class UnsupportedVersionError extends DecodeError {
  constructor(readonly header: RequestHeader) {
    super(`API key ${header.apiKey} version ${header.apiVersion} is not supported`, 4, 'RequestHeader.apiVersion');
  }
}

/**
 * Decodes a request frame (without its size prefix): header, then body. Every byte must be used.
 * Throws `UnsupportedVersionError` (carrying the header) for a version outside the schema's range,
 * and `DecodeError` for anything malformed.
 */
export function decodeRequest(frame: Buffer): DecodedRequest {
  const reader = new Reader(frame);
  const header = decodeRequestHeader(reader);
  const schema = requestSchemas[header.apiKey]!;
  const valid = parseVersionRange(schema.validVersions);
  if (header.apiVersion < valid.min || header.apiVersion > valid.max) throw new UnsupportedVersionError(header);
  const body = decodeMessage(schema, header.apiVersion, reader);
  reader.assertFullyConsumed(schema.name);
  return { apiKey: header.apiKey, header, body } as DecodedRequest;
}

/** Encodes a request with its size prefix (the client side, and tests). */
export function encodeRequest<K extends keyof RequestDataByApiKey>(
  header: RequestHeader & { readonly apiKey: K },
  body: RequestDataByApiKey[K],
): Buffer {
  const writer = new Writer();
  writer.int32(0);
  writeRequestHeader(writer, header);
  writeMessage(writer, requestSchemas[header.apiKey]!, header.apiVersion, body);
  return writer.patchInt32(0, writer.position - SIZE_PREFIX_BYTES).finish();
}

/** Encodes a response with its size prefix, using the header version `apiKey`/`apiVersion` call for. */
export function encodeResponse<K extends keyof ResponseDataByApiKey>(
  header: ResponseHeader,
  apiKey: K,
  apiVersion: number,
  body: ResponseDataByApiKey[K],
): Buffer {
  const writer = new Writer();
  writer.int32(0);
  writeResponseHeader(writer, header, apiKey, apiVersion);
  writeMessage(writer, responseSchemas[apiKey]!, apiVersion, body);
  return writer.patchInt32(0, writer.position - SIZE_PREFIX_BYTES).finish();
}

/** Decodes a response frame (without its size prefix); the caller knows the API and version it asked for. */
export function decodeResponse<K extends keyof ResponseDataByApiKey>(
  frame: Buffer,
  apiKey: K,
  apiVersion: number,
): { readonly header: ResponseHeader; readonly body: ResponseDataByApiKey[K] } {
  const reader = new Reader(frame);
  const header = decodeResponseHeader(reader, apiKey, apiVersion);
  const schema = responseSchemas[apiKey]!;
  const body = decodeMessage(schema, apiVersion, reader) as ResponseDataByApiKey[K];
  reader.assertFullyConsumed(schema.name);
  return { header, body };
}

// ---------------------------------------------------------------------------------------------
// Incremental frame decoding

/** A frame declares a size above the configured maximum (or a negative one); nothing of it was buffered. */
export class FrameSizeError extends DecodeError {
  constructor(
    readonly sizeBytes: number,
    readonly frameBytesMax: number,
    offset: number,
  ) {
    super(
      sizeBytes < 0 ? `negative frame size ${sizeBytes}` : `frame of ${sizeBytes} bytes exceeds the maximum of ${frameBytesMax}`,
      offset,
      'frame size',
    );
  }
}

export interface FrameDecoderOptions {
  /** Largest accepted frame, size prefix excluded. */
  readonly frameBytesMax?: number;
  /**
   * Where a frame that spans chunks is assembled: returns exactly `sizeBytes` bytes that nothing
   * else reads or writes until the frame is done with (a broker hands them out from a pool).
   * Default `Buffer.allocUnsafe`.
   */
  readonly allocateFrame?: (sizeBytes: number) => Buffer;
}

/**
 * Splits a byte stream into frames. Push chunks as they arrive; each call returns the frames they
 * completed (without size prefixes). A frame inside one chunk is returned as a view of it, so chunks
 * must not be reused by the caller (Node's socket never does); a frame spanning chunks is copied
 * into a buffer from `allocateFrame`. After a `FrameSizeError` the stream is unusable and every
 * further push throws the same error.
 */
export class FrameDecoder {
  readonly frameBytesMax: number;
  private readonly allocateFrame: (sizeBytes: number) => Buffer;
  private readonly chunks: Buffer[] = [];
  /** Bytes already consumed from `chunks[0]`. */
  private headOffset = 0;
  private buffered = 0;
  /** Payload size of the frame being assembled, or -1 while its size prefix is incomplete. */
  private frameBytes = -1;
  private streamOffset = 0;
  private failure: FrameSizeError | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    this.frameBytesMax = options.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT;
    this.allocateFrame = options.allocateFrame ?? ((sizeBytes) => Buffer.allocUnsafe(sizeBytes));
  }

  /** Bytes received but not yet returned as part of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): Buffer[] {
    if (this.failure !== undefined) throw this.failure;
    const frames: Buffer[] = [];
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    for (;;) {
      if (this.frameBytes < 0) {
        if (this.buffered < SIZE_PREFIX_BYTES) break;
        const size = this.take(SIZE_PREFIX_BYTES).readInt32BE(0);
        if (size < 0 || size > this.frameBytesMax) {
          this.failure = new FrameSizeError(size, this.frameBytesMax, this.streamOffset - SIZE_PREFIX_BYTES);
          this.chunks.length = 0;
          this.buffered = 0;
          throw this.failure;
        }
        this.frameBytes = size;
      }
      if (this.buffered < this.frameBytes) break;
      frames.push(this.take(this.frameBytes));
      this.frameBytes = -1;
    }
    return frames;
  }

  /** Removes `size` buffered bytes: a view when they lie in one chunk, a copy when they span several. */
  private take(size: number): Buffer {
    this.buffered -= size;
    this.streamOffset += size;
    const head = this.chunks[0];
    if (head === undefined) return Buffer.alloc(0);
    if (head.length - this.headOffset >= size) {
      const view = head.subarray(this.headOffset, this.headOffset + size);
      this.advance(size);
      return view;
    }
    // A size prefix split across chunks (frameBytes still unknown) is 4 scratch bytes, not a frame.
    const out = this.frameBytes < 0 ? Buffer.allocUnsafe(size) : this.allocateFrame(size);
    if (out.length !== size) throw new RangeError(`allocateFrame(${size}) returned ${out.length} bytes`);
    let filled = 0;
    while (filled < size) {
      const current = this.chunks[0]!;
      const count = Math.min(size - filled, current.length - this.headOffset);
      current.copy(out, filled, this.headOffset, this.headOffset + count);
      filled += count;
      this.advance(count);
    }
    return out;
  }

  private advance(count: number): void {
    this.headOffset += count;
    if (this.headOffset === this.chunks[0]!.length) {
      this.chunks.shift();
      this.headOffset = 0;
    }
  }
}
