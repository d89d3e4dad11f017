import { apiKeys, type ApiVersionsResponseApiVersion } from '@defter/protocol';
import type { ApiHandler, NoResponse, RequestContext } from './handler.js';

/** A handler whose request and response types are erased, as the registry stores it. */
export interface RegisteredHandler {
  readonly apiKey: number;
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly handle: (request: unknown, context: RequestContext) => Promise<unknown | NoResponse> | unknown | NoResponse;
}

/**
 * The table of served APIs: one handler per API key. It also produces the ApiVersions list, so
 * that what is advertised is exactly what is implemented.
 */
export class ApiRegistry {
  private readonly byKey = new Map<number, RegisteredHandler>();

  constructor(handlers: ReadonlyArray<ApiHandler<never>>) {
    for (const handler of handlers as ReadonlyArray<unknown> as RegisteredHandler[]) {
      const info = apiKeys[handler.apiKey];
      if (info === undefined) throw new Error(`handler for unknown API key ${handler.apiKey}`);
      if (this.byKey.has(handler.apiKey)) throw new Error(`two handlers for API key ${handler.apiKey} (${info.name})`);
      if (handler.minVersion < 0 || handler.maxVersion < handler.minVersion) {
        throw new Error(`handler for ${info.name} has an empty version range ${handler.minVersion}-${handler.maxVersion}`);
      }
      this.byKey.set(handler.apiKey, handler);
    }
  }

  /** The handler for `apiKey` if `apiVersion` is in its range. */
  lookup(apiKey: number, apiVersion: number): RegisteredHandler | undefined {
    const handler = this.byKey.get(apiKey);
    if (handler === undefined || apiVersion < handler.minVersion || apiVersion > handler.maxVersion) return undefined;
    return handler;
  }

  /** Whether any version of `apiKey` is served. */
  serves(apiKey: number): boolean {
    return this.byKey.has(apiKey);
  }

  /** The ApiVersions list, sorted by API key. */
  apiVersions(): ApiVersionsResponseApiVersion[] {
    return [...this.byKey.values()]
      .sort((a, b) => a.apiKey - b.apiKey)
      .map(({ apiKey, minVersion, maxVersion }) => ({ apiKey, minVersion, maxVersion }));
  }
}
