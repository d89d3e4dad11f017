import { BoundedMap } from './bounded-map.js';

/**
 * A client for the Confluent Schema Registry REST API (also spoken by Redpanda, Apicurio's
 * compatibility layer and Karapace), over HTTP with Node's fetch:
 *
 *   GET  /schemas/ids/{id}                   the schema with a global id (cached: ids are immutable)
 *   POST /subjects/{subject}/versions        register (or find) a schema under a subject → its id (cached)
 *   POST /subjects/{subject}                 look a schema up under a subject, without registering (cached)
 *   GET  /subjects/{subject}/versions/latest the subject's latest version (not cached: it changes)
 *
 * Concurrent requests for the same id or schema share one HTTP request. Errors are one typed
 * `SchemaRegistryError` carrying the registry's `error_code` and message.
 */

export const SCHEMA_REGISTRY_CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

/** `AVRO` when the registry leaves it out (Confluent's default). */
export type SchemaType = 'AVRO' | 'JSON' | 'PROTOBUF';

export interface RegistrySchema {
  readonly schema: string;
  readonly schemaType: SchemaType;
}

export interface SubjectVersion extends RegistrySchema {
  readonly subject: string;
  readonly id: number;
  readonly version: number;
}

export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>;

export interface SchemaRegistryClientOptions {
  /** Base URL, e.g. `http://localhost:8081` (a trailing slash is ignored). */
  readonly url: string;
  /** Per request, from sending to the whole body read. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Entries per cache (ids → schemas, subject+schema → ids). Default 1000. */
  readonly cacheEntriesMax?: number;
  /** Extra headers on every request, e.g. `Authorization`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Injectable for tests; default `globalThis.fetch`. */
  readonly fetch?: FetchFunction;
}

/**
 * How a registry call failed: `not-found` (HTTP 404: unknown id, subject or schema), `rejected`
 * (any other HTTP error: invalid or incompatible schema, server error), `unreachable` (connection
 * failed), `timeout`, `invalid-response` (not the JSON the API promises).
 */
export type SchemaRegistryErrorKind = 'not-found' | 'rejected' | 'unreachable' | 'timeout' | 'invalid-response';

export class SchemaRegistryError extends Error {
  override readonly name = 'SchemaRegistryError';
  constructor(
    message: string,
    readonly kind: SchemaRegistryErrorKind,
    /** The request, e.g. `GET http://localhost:8081/schemas/ids/7`. */
    readonly request: string,
    /** HTTP status, when the registry answered. */
    readonly status?: number,
    /** The registry's `error_code` (e.g. 40403 schema not found, 40401 subject not found, 42201 invalid schema, 409 incompatible). */
    readonly errorCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Confluent's error codes that the serdes tell apart. */
export const SchemaRegistryErrorCode = {
  SUBJECT_NOT_FOUND: 40401,
  VERSION_NOT_FOUND: 40402,
  SCHEMA_NOT_FOUND: 40403,
  INCOMPATIBLE_SCHEMA: 409,
  INVALID_SCHEMA: 42201,
} as const;

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_CACHE_ENTRIES_MAX = 1000;

export class SchemaRegistryClient {
  /** The base URL, without a trailing slash. */
  readonly url: string;
  private readonly requestTimeoutMs: number;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly fetchFunction: FetchFunction;
  private readonly schemasById: BoundedMap<number, Promise<RegistrySchema>>;
  private readonly idsBySubjectSchema: BoundedMap<string, Promise<number>>;
  private readonly lookupsBySubjectSchema: BoundedMap<string, Promise<SubjectVersion>>;

  constructor(options: SchemaRegistryClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.headers = options.headers ?? {};
    this.fetchFunction = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const entriesMax = options.cacheEntriesMax ?? DEFAULT_CACHE_ENTRIES_MAX;
    this.schemasById = new BoundedMap(entriesMax);
    this.idsBySubjectSchema = new BoundedMap(entriesMax);
    this.lookupsBySubjectSchema = new BoundedMap(entriesMax);
  }

  /** The schema with this global id; `SchemaRegistryError` of kind `not-found` when there is none. */
  getSchemaById(id: number): Promise<RegistrySchema> {
    return this.cached(this.schemasById, id, async () => {
      const body = await this.request('GET', `/schemas/ids/${id}`);
      return parseRegistrySchema(body, `GET ${this.url}/schemas/ids/${id}`);
    });
  }

  /** Registers `schema` under `subject` (or finds it, if already there) and returns its global id. */
  register(subject: string, schema: string, schemaType: SchemaType = 'AVRO'): Promise<number> {
    return this.cached(this.idsBySubjectSchema, cacheKey(subject, schema, schemaType), async () => {
      const path = `/subjects/${encodeURIComponent(subject)}/versions`;
      const body = await this.request('POST', path, schemaRequestBody(schema, schemaType));
      const id = readField(body, 'id', 'number', `POST ${this.url}${path}`);
      this.rememberSchema(id, schema, schemaType);
      return id;
    });
  }

  /** The subject version holding `schema`, without registering; `not-found` when it is not there. */
  lookup(subject: string, schema: string, schemaType: SchemaType = 'AVRO'): Promise<SubjectVersion> {
    return this.cached(this.lookupsBySubjectSchema, cacheKey(subject, schema, schemaType), async () => {
      const path = `/subjects/${encodeURIComponent(subject)}`;
      const body = await this.request('POST', path, schemaRequestBody(schema, schemaType));
      const found = parseSubjectVersion(body, `POST ${this.url}${path}`);
      this.rememberSchema(found.id, found.schema, found.schemaType);
      return found;
    });
  }

  /** The subject's latest version. Not cached: a new version may be registered at any time. */
  async getLatest(subject: string): Promise<SubjectVersion> {
    const path = `/subjects/${encodeURIComponent(subject)}/versions/latest`;
    const body = await this.request('GET', path);
    const latest = parseSubjectVersion(body, `GET ${this.url}${path}`);
    this.rememberSchema(latest.id, latest.schema, latest.schemaType);
    return latest;
  }

  private rememberSchema(id: number, schema: string, schemaType: SchemaType): void {
    if (!this.schemasById.has(id)) this.schemasById.set(id, Promise.resolve({ schema, schemaType }));
  }

  /** One request per key at a time; a failure is not cached, so the next call retries. */
  private cached<K, V>(cache: BoundedMap<K, Promise<V>>, key: K, load: () => Promise<V>): Promise<V> {
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const loading = load();
    cache.set(key, loading);
    loading.catch(() => {
      if (cache.get(key) === loading) cache.delete(key);
    });
    return loading;
  }

  private async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const url = `${this.url}${path}`;
    const described = `${method} ${url}`;
    const headers: Record<string, string> = { Accept: SCHEMA_REGISTRY_CONTENT_TYPE, ...this.headers };
    if (body !== undefined) headers['Content-Type'] = SCHEMA_REGISTRY_CONTENT_TYPE;
    let response: Response;
    let text: string;
    try {
      const init: RequestInit = { method, headers, signal: AbortSignal.timeout(this.requestTimeoutMs) };
      if (body !== undefined) init.body = JSON.stringify(body);
      response = await this.fetchFunction(url, init);
      text = await response.text();
    } catch (cause) {
      if (isTimeout(cause)) {
        throw new SchemaRegistryError(`the schema registry did not answer ${described} within ${this.requestTimeoutMs} ms`, 'timeout', described, undefined, undefined, { cause });
      }
      throw new SchemaRegistryError(`the schema registry at ${this.url} is unreachable (${describeFetchFailure(cause)})`, 'unreachable', described, undefined, undefined, { cause });
    }
    const parsed = parseJsonOrUndefined(text);
    if (!response.ok) {
      const errorCode = isObject(parsed) && typeof parsed['error_code'] === 'number' ? parsed['error_code'] : undefined;
      const message = isObject(parsed) && typeof parsed['message'] === 'string' ? parsed['message'] : text.slice(0, 200) || response.statusText;
      const kind: SchemaRegistryErrorKind = response.status === 404 ? 'not-found' : 'rejected';
      const codeText = errorCode === undefined ? '' : `, error_code ${errorCode}`;
      throw new SchemaRegistryError(`${described} failed with HTTP ${response.status}${codeText}: ${message}`, kind, described, response.status, errorCode);
    }
    if (parsed === undefined) {
      throw new SchemaRegistryError(`${described} answered with a body that is not JSON`, 'invalid-response', described, response.status);
    }
    return parsed;
  }
}

function cacheKey(subject: string, schema: string, schemaType: SchemaType): string {
  // NUL cannot appear in a subject name typed by a person, and keeps the parts apart.
  return `${subject}\u0000${schemaType}\u0000${schema}`;
}

function schemaRequestBody(schema: string, schemaType: SchemaType): Record<string, string> {
  // Confluent omits schemaType for Avro; older registries reject the field.
  return schemaType === 'AVRO' ? { schema } : { schema, schemaType };
}

function parseRegistrySchema(body: unknown, described: string): RegistrySchema {
  const schema = readField(body, 'schema', 'string', described);
  return { schema, schemaType: readSchemaType(body, described) };
}

function parseSubjectVersion(body: unknown, described: string): SubjectVersion {
  return {
    subject: readField(body, 'subject', 'string', described),
    id: readField(body, 'id', 'number', described),
    version: readField(body, 'version', 'number', described),
    schema: readField(body, 'schema', 'string', described),
    schemaType: readSchemaType(body, described),
  };
}

function readSchemaType(body: unknown, described: string): SchemaType {
  const value = isObject(body) ? body['schemaType'] : undefined;
  if (value === undefined || value === null) return 'AVRO';
  if (value === 'AVRO' || value === 'JSON' || value === 'PROTOBUF') return value;
  throw new SchemaRegistryError(`${described} answered with an unknown schemaType ${JSON.stringify(value)}`, 'invalid-response', described);
}

function readField(body: unknown, field: string, type: 'number', described: string): number;
function readField(body: unknown, field: string, type: 'string', described: string): string;
function readField(body: unknown, field: string, type: 'number' | 'string', described: string): number | string {
  const value = isObject(body) ? body[field] : undefined;
  if (typeof value !== type || (type === 'number' && !Number.isInteger(value))) {
    throw new SchemaRegistryError(`${described} answered without a ${type} "${field}"`, 'invalid-response', described);
  }
  return value as number | string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isTimeout(cause: unknown): boolean {
  return cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError');
}

/** undici's "fetch failed" hides the useful part (ECONNREFUSED …) in `cause`. */
function describeFetchFailure(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const inner = cause.cause;
  if (inner instanceof Error) {
    const code = (inner as NodeJS.ErrnoException).code;
    return code === undefined ? inner.message : code;
  }
  return cause.message;
}
