import type { ApiHandler } from './handler.js';
import { apiVersionsHandler } from '../handlers/api-versions.js';

/**
 * Every API this broker serves, one module per API key under `handlers/`. Add a handler here and
 * it is served and advertised in ApiVersions.
 */
export const allHandlers: ReadonlyArray<ApiHandler<never>> = [
  apiVersionsHandler,
] as ReadonlyArray<unknown> as ReadonlyArray<ApiHandler<never>>;
