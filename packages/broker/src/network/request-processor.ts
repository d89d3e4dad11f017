import {
  ApiKey,
  DecodeError,
  decodeMessage,
  decodeRequestHeader,
  encodeResponse,
  errorByCode,
  ErrorCode,
  isVersionSupported,
  Reader,
  requestSchemas,
  responseSchemas,
  UnknownApiKeyError,
  type RequestHeader,
} from '@defter/protocol';
import type { BrokerContext } from '../broker-context.js';
import { NO_RESPONSE } from '../api/handler.js';
import type { ApiRegistry } from '../api/registry.js';

/** What to do with one request frame. */
export type Outcome =
  | { readonly kind: 'respond'; readonly bytes: Buffer; readonly header: RequestHeader }
  | { readonly kind: 'none'; readonly header: RequestHeader }
  | { readonly kind: 'close'; readonly reason: string };

const API_VERSIONS_FALLBACK_VERSION = 0;

/**
 * Turns a request frame into a response: header, version check, body decode, handler, encode.
 * Never throws: malformed input and handler failures become a `close` outcome (with the reason
 * for the log line), as Kafka closes a connection it cannot parse.
 */
export class RequestProcessor {
  constructor(
    private readonly registry: ApiRegistry,
    private readonly broker: BrokerContext,
  ) {}

  async process(frame: Buffer, clientAddress: string): Promise<Outcome> {
    const reader = new Reader(frame);
    let header: RequestHeader;
    try {
      header = decodeRequestHeader(reader);
    } catch (error) {
      if (error instanceof UnknownApiKeyError) return { kind: 'close', reason: `unknown API key ${error.apiKey}` };
      if (error instanceof DecodeError) return { kind: 'close', reason: `malformed request header: ${error.message}` };
      return { kind: 'close', reason: `request header could not be read: ${String(error)}` };
    }
    const handler = this.registry.lookup(header.apiKey, header.apiVersion);
    if (handler === undefined) return this.unsupported(header);

    const schema = requestSchemas[header.apiKey]!;
    let body: unknown;
    try {
      body = decodeMessage(schema, header.apiVersion, reader);
      reader.assertFullyConsumed(schema.name);
    } catch (error) {
      const detail = error instanceof DecodeError ? error.message : String(error);
      return { kind: 'close', reason: `malformed ${schema.name} v${header.apiVersion}: ${detail}` };
    }

    let response: unknown;
    try {
      response = await handler.handle(body, { header, clientAddress, broker: this.broker });
    } catch (error) {
      // A handler turns every expected failure into a Kafka error code; reaching here is a bug.
      this.broker.logger.error({ err: error, apiKey: header.apiKey, apiVersion: header.apiVersion, clientAddress }, 'request handler failed');
      return { kind: 'close', reason: `${schema.name} v${header.apiVersion} failed inside the broker` };
    }
    if (response === NO_RESPONSE) return { kind: 'none', header };
    try {
      return { kind: 'respond', header, bytes: encodeResponse({ correlationId: header.correlationId }, header.apiKey as never, header.apiVersion, response as never) };
    } catch (error) {
      this.broker.logger.error({ err: error, apiKey: header.apiKey, apiVersion: header.apiVersion }, 'response could not be encoded');
      return { kind: 'close', reason: `${schema.name} v${header.apiVersion} response could not be encoded` };
    }
  }

  /**
   * An API or version this broker does not serve. ApiVersions answers in the v0 layout with
   * UNSUPPORTED_VERSION and the full list, so the client can pick a version it shares; other APIs
   * get UNSUPPORTED_VERSION in their top-level error code where their response has one, else the
   * connection is closed (there is no response shape to carry the error).
   */
  private unsupported(header: RequestHeader): Outcome {
    const code = ErrorCode.UNSUPPORTED_VERSION;
    if (header.apiKey === ApiKey.ApiVersions) {
      const bytes = encodeResponse({ correlationId: header.correlationId }, ApiKey.ApiVersions, API_VERSIONS_FALLBACK_VERSION, {
        errorCode: code,
        apiKeys: this.registry.apiVersions(),
      });
      return { kind: 'respond', header, bytes };
    }
    const responseSchema = responseSchemas[header.apiKey];
    const hasTopLevelErrorCode = responseSchema?.fields.some((field) => field.key === 'errorCode') ?? false;
    if (responseSchema !== undefined && hasTopLevelErrorCode && isVersionSupported(responseSchema, header.apiVersion)) {
      try {
        const bytes = encodeResponse({ correlationId: header.correlationId }, header.apiKey as never, header.apiVersion, { errorCode: code } as never);
        return { kind: 'respond', header, bytes };
      } catch {
        // Fall through: the response has required fields that an error response cannot fill.
      }
    }
    const name = responseSchema?.name.replace(/Response$/, '') ?? `API key ${header.apiKey}`;
    return { kind: 'close', reason: `${name} v${header.apiVersion} is not served (${errorByCode(code)?.name ?? code})` };
  }
}
