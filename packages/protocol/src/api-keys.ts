import { ApiKey, apiKeys } from './generated/api-keys.js';
import type { ApiKeyInfo } from './schema/types.js';

/** Lookups over the generated `apiKeys` table. */

export { ApiKey, apiKeys };
export type { ApiKeyInfo };

/** The API with this key, or undefined for a key Kafka does not define. */
export function apiKeyInfo(apiKey: number): ApiKeyInfo | undefined {
  return apiKeys[apiKey];
}

/** Every API, by ascending key. */
export function allApiKeys(): ApiKeyInfo[] {
  return Object.values(apiKeys).sort((a, b) => a.apiKey - b.apiKey);
}
