import { ErrorCode, apiKeys, type RequestDataByApiKey, type ResponseDataByApiKey } from '@defter/protocol';
import type { BrokerContext } from '../broker-context.js';
import { KafkaError } from '../errors.js';
import { NO_RESPONSE } from './handler.js';
import type { ApiRegistry } from './registry.js';

type ServedApiKey = keyof RequestDataByApiKey & keyof ResponseDataByApiKey;

/** The address in-process requests show in log lines and as a group member's client host. */
const IN_PROCESS_ADDRESS = 'in-process';

/**
 * A client of this broker inside its own process: the request objects go straight to the same
 * handlers the network serves, without framing, encoding or sockets. The embedded streams log
 * is built on it, so it sees exactly the validation, errors and semantics of a networked client.
 */
export class InProcessClient {
  private correlationId = 0;

  constructor(
    private readonly registry: ApiRegistry,
    private readonly broker: BrokerContext,
    readonly clientId: string,
  ) {}

  /**
   * Sends one request and resolves with its response. Rejects with a KafkaError
   * (UNSUPPORTED_VERSION) for an API or version the broker does not serve; a request that gets
   * no response (Produce with acks=0) is refused, since there would be nothing to resolve with.
   */
  async send<K extends ServedApiKey>(apiKey: K, apiVersion: number, request: RequestDataByApiKey[K]): Promise<ResponseDataByApiKey[K]> {
    const name = apiKeys[apiKey]?.name ?? `API key ${apiKey}`;
    const handler = this.registry.lookup(apiKey, apiVersion);
    if (handler === undefined) {
      throw new KafkaError(ErrorCode.UNSUPPORTED_VERSION, `${name} v${apiVersion} is not served by this broker`);
    }
    this.correlationId = (this.correlationId + 1) | 0;
    const header = { apiKey, apiVersion, correlationId: this.correlationId, clientId: this.clientId };
    const response = await handler.handle(request, { header, clientAddress: IN_PROCESS_ADDRESS, broker: this.broker });
    if (response === NO_RESPONSE) throw new Error(`${name} v${apiVersion} was sent in a form that gets no response (acks=0); in-process requests need a response`);
    return response as ResponseDataByApiKey[K];
  }
}
