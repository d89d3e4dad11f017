import type { RequestDataByApiKey, RequestHeader, ResponseDataByApiKey } from '@defter/protocol';
import type { BrokerContext } from '../broker-context.js';

/** Returned by a handler for a request that gets no response (Produce with acks=0). */
export const NO_RESPONSE: unique symbol = Symbol('no response');
export type NoResponse = typeof NO_RESPONSE;

/** What a handler knows about the request beyond its body. */
export interface RequestContext {
  readonly header: RequestHeader;
  /** `address:port` of the client, for log lines. */
  readonly clientAddress: string;
  readonly broker: BrokerContext;
}

/**
 * One Kafka API as this broker serves it: the version range it advertises in ApiVersions and the
 * function that turns a decoded request into a response. Handlers are thin; the logic lives in
 * the components on `BrokerContext` (ReplicaManager, MetadataStore, …).
 */
export interface ApiHandler<K extends keyof RequestDataByApiKey & keyof ResponseDataByApiKey = keyof RequestDataByApiKey & keyof ResponseDataByApiKey> {
  readonly apiKey: K;
  readonly minVersion: number;
  readonly maxVersion: number;
  handle(request: RequestDataByApiKey[K], context: RequestContext): Promise<ResponseDataByApiKey[K] | NoResponse> | ResponseDataByApiKey[K] | NoResponse;
}

/** Declares a handler with its types tied to its API key. */
export function defineHandler<K extends keyof RequestDataByApiKey & keyof ResponseDataByApiKey>(handler: ApiHandler<K>): ApiHandler<K> {
  return handler;
}
