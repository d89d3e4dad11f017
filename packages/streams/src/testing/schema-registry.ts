import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import avro from 'avsc';
import type { Type } from 'avsc';

/**
 * A small, real schema registry for tests and examples: an HTTP server (node:http, in memory)
 * speaking the part of the Confluent REST API that the serdes use, with Confluent's rules:
 * ids are global, the same schema gets the same id in every subject, registering a schema that a
 * subject already holds returns its id without a new version, errors are
 * `{ "error_code": …, "message": … }` with Confluent's codes.
 *
 *   GET  /schemas/ids/{id}
 *   GET  /subjects
 *   GET  /subjects/{subject}/versions
 *   GET  /subjects/{subject}/versions/{version|latest}
 *   POST /subjects/{subject}/versions        register
 *   POST /subjects/{subject}                 lookup
 *
 * Compatibility is checked against the subject's latest version when `compatibility` asks for it
 * (Avro only, with avsc's resolver: BACKWARD = the new schema reads the old one's data).
 */
export type CompatibilityLevel = 'NONE' | 'BACKWARD' | 'FORWARD' | 'FULL';

export interface SchemaRegistryServerOptions {
  /** Default 0: any free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default NONE. */
  readonly compatibility?: CompatibilityLevel;
  /** Request bodies above this are refused with 413. Default 1 MiB. */
  readonly requestBytesMax?: number;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
}

interface StoredSchema {
  readonly id: number;
  readonly schema: string;
  readonly schemaType: string;
  /** What identity is judged on: the normalized Avro schema, or the text as sent for other types. */
  readonly identity: string;
}

interface SubjectVersionEntry {
  readonly version: number;
  readonly schema: StoredSchema;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const REQUESTS_RECORDED_MAX = 10_000;

class RegistryHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

export class SchemaRegistryServer {
  /** The base URL to give a `SchemaRegistryClient`. */
  readonly url: string;
  /** The latest requests (at most 10,000), so tests can count what reached the registry. */
  readonly requests: RecordedRequest[] = [];
  /** Delay every answer by this much, to exercise client timeouts. */
  responseDelayMs = 0;
  compatibility: CompatibilityLevel;

  private readonly schemasById = new Map<number, StoredSchema>();
  private readonly schemasByIdentity = new Map<string, StoredSchema>();
  private readonly subjects = new Map<string, SubjectVersionEntry[]>();
  private nextId = 1;

  private constructor(
    private readonly server: Server,
    options: SchemaRegistryServerOptions,
  ) {
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.url = `http://${host}:${address.port}`;
    this.compatibility = options.compatibility ?? 'NONE';
  }

  static async start(options: SchemaRegistryServerOptions = {}): Promise<SchemaRegistryServer> {
    const requestBytesMax = options.requestBytesMax ?? 1024 * 1024;
    let registry: SchemaRegistryServer | undefined;
    const server = createServer((request, response) => {
      void registry!.handle(request, response, requestBytesMax);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    registry = new SchemaRegistryServer(server, options);
    return registry;
  }

  /** Stops listening and drops open connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** How many recorded requests match a method and a path prefix. */
  countRequests(method: string, pathPrefix: string): number {
    return this.requests.filter((request) => request.method === method && request.path.startsWith(pathPrefix)).length;
  }

  private async handle(request: IncomingMessage, response: ServerResponse, requestBytesMax: number): Promise<void> {
    const method = request.method ?? 'GET';
    const path = (request.url ?? '/').split('?')[0]!;
    this.requests.push({ method, path });
    if (this.requests.length > REQUESTS_RECORDED_MAX) this.requests.shift();
    let status = 200;
    let body: unknown;
    try {
      const requestBody = await readBody(request, requestBytesMax);
      body = this.route(method, path.split('/').filter((part) => part !== '').map(decodeURIComponent), requestBody);
    } catch (error) {
      if (error instanceof RegistryHttpError) {
        status = error.status;
        body = { error_code: error.errorCode, message: error.message };
      } else {
        status = 500;
        body = { error_code: 50001, message: error instanceof Error ? error.message : String(error) };
      }
    }
    if (this.responseDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.responseDelayMs));
    if (response.destroyed) return;
    response.writeHead(status, { 'Content-Type': CONTENT_TYPE });
    response.end(JSON.stringify(body));
  }

  private route(method: string, parts: string[], requestBody: string): unknown {
    const [first, second, third, fourth] = parts;
    if (method === 'GET' && first === 'schemas' && second === 'ids' && third !== undefined && parts.length === 3) {
      return this.getSchemaById(third);
    }
    if (first === 'subjects') {
      if (method === 'GET' && parts.length === 1) return [...this.subjects.keys()];
      if (second !== undefined) {
        if (method === 'POST' && parts.length === 2) return this.lookup(second, requestBody);
        if (third === 'versions' && parts.length === 3) {
          if (method === 'POST') return this.register(second, requestBody);
          if (method === 'GET') return this.versionsOf(second).map((entry) => entry.version);
        }
        if (method === 'GET' && third === 'versions' && fourth !== undefined && parts.length === 4) return this.getVersion(second, fourth);
      }
    }
    throw new RegistryHttpError(404, 404, `HTTP 404 Not Found: ${method} /${parts.join('/')}`);
  }

  private getSchemaById(idText: string): unknown {
    const stored = this.schemasById.get(Number(idText));
    if (stored === undefined) throw new RegistryHttpError(404, 40403, 'Schema not found');
    return stored.schemaType === 'AVRO' ? { schema: stored.schema } : { schema: stored.schema, schemaType: stored.schemaType };
  }

  private register(subject: string, requestBody: string): unknown {
    const { schema, schemaType, identity, type } = parseSchemaRequest(requestBody);
    const versions = this.subjects.get(subject) ?? [];
    const existing = versions.find((entry) => entry.schema.identity === identity);
    if (existing !== undefined) return { id: existing.schema.id };
    const latest = versions.at(-1);
    if (latest !== undefined && type !== undefined) this.checkCompatible(type, latest.schema);
    let stored = this.schemasByIdentity.get(identity);
    if (stored === undefined) {
      stored = { id: this.nextId++, schema, schemaType, identity };
      this.schemasById.set(stored.id, stored);
      this.schemasByIdentity.set(identity, stored);
    }
    versions.push({ version: (latest?.version ?? 0) + 1, schema: stored });
    this.subjects.set(subject, versions);
    return { id: stored.id };
  }

  private lookup(subject: string, requestBody: string): unknown {
    const versions = this.versionsOf(subject);
    const { identity } = parseSchemaRequest(requestBody);
    const found = versions.find((entry) => entry.schema.identity === identity);
    if (found === undefined) throw new RegistryHttpError(404, 40403, 'Schema not found');
    return describeVersion(subject, found);
  }

  private getVersion(subject: string, versionText: string): unknown {
    const versions = this.versionsOf(subject);
    const found = versionText === 'latest' ? versions.at(-1) : versions.find((entry) => entry.version === Number(versionText));
    if (found === undefined) throw new RegistryHttpError(404, 40402, 'Version not found.');
    return describeVersion(subject, found);
  }

  private versionsOf(subject: string): SubjectVersionEntry[] {
    const versions = this.subjects.get(subject);
    if (versions === undefined) throw new RegistryHttpError(404, 40401, `Subject '${subject}' not found.`);
    return versions;
  }

  private checkCompatible(candidate: Type, latest: StoredSchema): void {
    if (this.compatibility === 'NONE' || latest.schemaType !== 'AVRO') return;
    const latestType = avro.Type.forSchema(JSON.parse(latest.schema) as avro.Schema, { registry: {} });
    const canRead = (reader: Type, writer: Type): boolean => {
      try {
        reader.createResolver(writer);
        return true;
      } catch {
        return false;
      }
    };
    const backward = this.compatibility === 'FORWARD' || canRead(candidate, latestType);
    const forward = this.compatibility === 'BACKWARD' || canRead(latestType, candidate);
    if (!backward || !forward) {
      throw new RegistryHttpError(409, 409, `Schema being registered is incompatible with an earlier schema (${this.compatibility})`);
    }
  }
}

function describeVersion(subject: string, entry: SubjectVersionEntry): unknown {
  const described: Record<string, unknown> = { subject, version: entry.version, id: entry.schema.id, schema: entry.schema.schema };
  if (entry.schema.schemaType !== 'AVRO') described['schemaType'] = entry.schema.schemaType;
  return described;
}

function parseSchemaRequest(requestBody: string): { schema: string; schemaType: string; identity: string; type: Type | undefined } {
  let body: unknown;
  try {
    body = JSON.parse(requestBody);
  } catch {
    throw new RegistryHttpError(422, 42201, 'Invalid schema: the request body is not JSON');
  }
  const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const schema = fields['schema'];
  const schemaType = fields['schemaType'] ?? 'AVRO';
  if (typeof schema !== 'string') throw new RegistryHttpError(422, 42201, 'Invalid schema: "schema" must be a string');
  if (schemaType !== 'AVRO' && schemaType !== 'JSON' && schemaType !== 'PROTOBUF') {
    throw new RegistryHttpError(422, 42201, `Invalid schema: unknown schemaType ${JSON.stringify(schemaType)}`);
  }
  if (schemaType !== 'AVRO') return { schema, schemaType, identity: `${schemaType}\u0000${schema}`, type: undefined };
  let type: Type;
  try {
    type = avro.Type.forSchema(JSON.parse(schema) as avro.Schema, { registry: {} });
  } catch (error) {
    throw new RegistryHttpError(422, 42201, `Invalid schema: ${error instanceof Error ? error.message : String(error)}`);
  }
  // Whitespace and key order do not make a different schema.
  return { schema, schemaType, identity: `AVRO\u0000${JSON.stringify(type.schema({ exportAttrs: true }))}`, type };
}

function readBody(request: IncomingMessage, requestBytesMax: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let receivedBytes = 0;
    request.on('data', (chunk: Buffer) => {
      receivedBytes += chunk.length;
      // Past the limit the rest is read and dropped, so that the 413 can still be answered.
      if (receivedBytes > requestBytesMax) {
        reject(new RegistryHttpError(413, 413, `request body above ${requestBytesMax} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}
