import { ApiKey, type ApiVersionsResponseApiVersion, type RequestDataByApiKey, type ResponseDataByApiKey } from '@defter/protocol';
import type { InProcessClient } from '@defter/broker';
import { KafkaProtocolError, type ApiKeyWithResponse } from './kafka-connection.js';

/**
 * What the raw-protocol clients (ClusterClient, PartitionFetcher, replay's producer) need from a
 * broker: request objects in, response objects out, and the versions both sides speak. A socket
 * (`KafkaConnection`) and a broker of this process (`InProcessTransport`) both provide it, so the
 * same client code reads a running broker and a data directory opened in-process.
 */
export interface RequestTransport {
  /** Where requests go, for messages. */
  readonly address: string;
  send<K extends ApiKeyWithResponse>(apiKey: K, apiVersion: number, body: RequestDataByApiKey[K]): Promise<ResponseDataByApiKey[K]>;
  /** The highest version of `apiKey` both sides speak within the client's range; throws when there is none. */
  versionFor(apiKey: number, clientMin: number, clientMax: number): number;
  close(): Promise<void>;
}

/** The highest version in both ranges (as `KafkaConnection.versionFor`). */
function negotiatedVersion(
  served: ReadonlyMap<number, ApiVersionsResponseApiVersion> | undefined,
  address: string,
  apiKey: number,
  clientMin: number,
  clientMax: number,
): number {
  if (served === undefined) throw new Error('negotiateVersions() must run before versionFor()');
  const range = served.get(apiKey);
  if (range === undefined || range.maxVersion < clientMin || range.minVersion > clientMax) {
    throw new KafkaProtocolError(35, `the broker at ${address} does not serve API ${apiKey} in versions ${clientMin}-${clientMax}`);
  }
  return Math.min(range.maxVersion, clientMax);
}

/**
 * A broker of this process, reached through its in-process client (the same handlers as the
 * network, without sockets or encoding). Closing it closes nothing: the broker belongs to the caller.
 */
export class InProcessTransport implements RequestTransport {
  readonly address = 'in-process';
  private served: ReadonlyMap<number, ApiVersionsResponseApiVersion> | undefined;

  private constructor(private readonly client: InProcessClient) {}

  /** Asks the broker for its API versions, as a network client does on connecting. */
  static async open(client: InProcessClient): Promise<InProcessTransport> {
    const transport = new InProcessTransport(client);
    const response = await client.send(ApiKey.ApiVersions, 0, {});
    if (response.errorCode !== 0) throw new KafkaProtocolError(response.errorCode, 'ApiVersions in-process');
    transport.served = new Map(response.apiKeys.map((range) => [range.apiKey, range]));
    return transport;
  }

  send<K extends ApiKeyWithResponse>(apiKey: K, apiVersion: number, body: RequestDataByApiKey[K]): Promise<ResponseDataByApiKey[K]> {
    return this.client.send(apiKey, apiVersion, body);
  }

  versionFor(apiKey: number, clientMin: number, clientMax: number): number {
    return negotiatedVersion(this.served, this.address, apiKey, clientMin, clientMax);
  }

  async close(): Promise<void> {}
}
