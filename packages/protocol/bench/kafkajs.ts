import { createRequire } from 'node:module';

/*
 * kafkajs 2.2.4's own request encoders and response decoders, loaded as the baseline of the message
 * codec benchmark (kafkajs ships no types, so each gets the narrow shape used here). kafkajs is a
 * client: it encodes requests and decodes responses, never the other way round.
 */
const require = createRequire(import.meta.url);

interface KafkajsRequest {
  apiVersion: number;
  encode: () => Promise<{ buffer: Buffer }>;
}

/** The request builder of `requests/<api>/v<version>/request.js`; `encode` resolves to the body bytes. */
export function kafkajsRequest(api: string, version: number): (args: object) => () => Promise<Buffer> {
  const build = require(`kafkajs/src/protocol/requests/${api}/v${version}/request.js`) as (args: object) => KafkajsRequest;
  return (args) => {
    const request = build(args);
    if (request.apiVersion !== version) throw new Error(`kafkajs ${api} v${version} reports version ${request.apiVersion}`);
    return async () => (await request.encode()).buffer;
  };
}

/** The `decode` of `requests/<api>/v<version>/response.js` (the body, without the response header). */
export function kafkajsResponseDecoder(api: string, version: number): (body: Buffer) => Promise<unknown> {
  const response = require(`kafkajs/src/protocol/requests/${api}/v${version}/response.js`) as { decode: (body: Buffer) => Promise<unknown> };
  return response.decode;
}
