/**
 * Generates `src/generated/` from Apache Kafka's JSON message specs in `spec/`:
 * one module per API (the request and response schemas as declarative objects, plus TypeScript
 * interfaces for their data), one module per data message that a broker or client reads
 * (`data/`), the `apiKeys` table, and an index. The output is committed, so a build needs nothing
 * but the repository.
 *
 *   node --import tsx packages/protocol/scripts/generate-schemas.ts
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DefaultValue, PrimitiveType, VersionRange } from '../src/schema/types.js';
import { parseVersionRange } from '../src/schema/versions.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const specDir = join(packageDir, 'spec');
const outDir = join(packageDir, 'src', 'generated');

// ---------------------------------------------------------------------------------------------
// The spec format (the subset of keys the codec needs; `about`, `entityType`, `mapKey` are documentation).

interface SpecField {
  name: string;
  type: string;
  versions: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number;
  flexibleVersions?: string;
  default?: string | number | boolean;
  ignorable?: boolean;
  about?: string;
  fields?: SpecField[];
}

interface SpecStruct {
  name: string;
  versions: string;
  fields: SpecField[];
}

interface SpecMessage {
  apiKey?: number;
  type: string;
  name: string;
  validVersions: string;
  flexibleVersions: string;
  latestVersionUnstable?: boolean;
  listeners?: string[];
  fields: SpecField[];
  commonStructs?: SpecStruct[];
}

const PRIMITIVES = new Set<string>([
  'bool',
  'int8',
  'int16',
  'uint16',
  'int32',
  'int64',
  'float64',
  'string',
  'bytes',
  'uuid',
  'records',
]);

/** The specs carry `//` licence and documentation comments, which JSON.parse rejects. */
function stripLineComments(text: string): string {
  return text.replace(/^\s*\/\/.*$/gm, '');
}

function readSpecs(): SpecMessage[] {
  return readdirSync(specDir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => JSON.parse(stripLineComments(readFileSync(join(specDir, file), 'utf8'))) as SpecMessage);
}

function asRange(text: string, where: string): VersionRange {
  if (!/^(none|\d+\+|\d+-\d+|\d+)$/.test(text)) throw new Error(`${where}: bad version range "${text}"`);
  return text as VersionRange;
}

// ---------------------------------------------------------------------------------------------
// The resolved model: common structs inlined, defaults typed, optionality computed.

type Kind = 'primitive' | 'struct' | 'primitiveArray' | 'structArray';

interface Field {
  name: string;
  key: string;
  kind: Kind;
  type?: PrimitiveType;
  struct?: Struct;
  versions: VersionRange;
  nullableVersions?: VersionRange;
  taggedVersions?: VersionRange;
  tag?: number;
  flexibleVersions?: VersionRange;
  default?: DefaultValue;
  ignorable?: boolean;
  about?: string;
  /** Absent from, or tagged in, some version where its parent is present. */
  optional: boolean;
  /** Nullable in some version where it is present. */
  nullable: boolean;
}

interface Struct {
  name: string;
  /** The TypeScript interface name of its data. */
  typeName: string;
  fields: Field[];
}

function camelCase(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function kebabCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

function versionsIn(range: VersionRange | undefined, candidates: readonly number[]): number[] {
  const bounds = parseVersionRange(range);
  return candidates.filter((version) => version >= bounds.min && version <= bounds.max);
}

function typedDefault(text: string | number | boolean, kind: Kind, type: PrimitiveType | undefined, where: string): DefaultValue {
  const raw = String(text);
  if (raw === 'null') return null;
  if (kind !== 'primitive') throw new Error(`${where}: unsupported default "${raw}" for a ${kind}`);
  switch (type) {
    case 'bool':
      if (raw !== 'true' && raw !== 'false') throw new Error(`${where}: bad bool default "${raw}"`);
      return raw === 'true';
    case 'int8':
    case 'int16':
    case 'uint16':
    case 'int32':
    case 'float64': {
      const value = Number(raw);
      if (Number.isNaN(value)) throw new Error(`${where}: bad numeric default "${raw}"`);
      return value;
    }
    case 'int64':
      return BigInt(raw);
    case 'string':
      return raw;
    default:
      throw new Error(`${where}: unsupported default "${raw}" for ${type}`);
  }
}

class MessageResolver {
  private readonly structsByName = new Map<string, Struct>();
  private readonly commonStructs: Map<string, SpecStruct>;
  /** The message's valid versions, listed. */
  private readonly versions: number[] = [];

  constructor(private readonly spec: SpecMessage) {
    this.commonStructs = new Map((spec.commonStructs ?? []).map((struct) => [struct.name, struct]));
    const valid = parseVersionRange(asRange(spec.validVersions, spec.name));
    for (let version = valid.min; version <= valid.max; version++) this.versions.push(version);
  }

  resolve(): Field[] {
    return this.resolveFields(this.spec.fields, this.versions, this.spec.name);
  }

  private resolveFields(fields: SpecField[], parentVersions: number[], where: string): Field[] {
    return fields.map((field) => this.resolveField(field, parentVersions, `${where}.${field.name}`));
  }

  private resolveField(spec: SpecField, parentVersions: number[], where: string): Field {
    const versions = asRange(spec.versions, where);
    const present = versionsIn(versions, parentVersions);
    const isArray = spec.type.startsWith('[]');
    const elementType = isArray ? spec.type.slice(2) : spec.type;
    const isPrimitive = PRIMITIVES.has(elementType);
    const kind: Kind = isArray ? (isPrimitive ? 'primitiveArray' : 'structArray') : isPrimitive ? 'primitive' : 'struct';
    const field: Field = {
      name: spec.name,
      key: camelCase(spec.name),
      kind,
      versions,
      optional: present.length < parentVersions.length || spec.taggedVersions !== undefined,
      nullable: false,
    };
    if (isPrimitive) field.type = elementType as PrimitiveType;
    else field.struct = this.resolveStruct(elementType, spec, present, where);
    if (spec.nullableVersions !== undefined) {
      field.nullableVersions = asRange(spec.nullableVersions, where);
      field.nullable = versionsIn(field.nullableVersions, present).length > 0;
    }
    if (spec.taggedVersions !== undefined) {
      if (spec.tag === undefined) throw new Error(`${where}: taggedVersions without a tag`);
      field.taggedVersions = asRange(spec.taggedVersions, where);
      field.tag = spec.tag;
    }
    if (spec.flexibleVersions !== undefined) field.flexibleVersions = asRange(spec.flexibleVersions, where);
    if (spec.default !== undefined) field.default = typedDefault(spec.default, kind, field.type, where);
    if (spec.ignorable === true) field.ignorable = true;
    if (spec.about !== undefined) field.about = spec.about;
    return field;
  }

  private resolveStruct(name: string, spec: SpecField, present: number[], where: string): Struct {
    const existing = this.structsByName.get(name);
    if (existing !== undefined) {
      if (spec.fields !== undefined) throw new Error(`${where}: struct ${name} is defined twice`);
      return existing; // a common struct used again
    }
    let fields: Field[];
    if (spec.fields !== undefined) {
      fields = this.resolveFields(spec.fields, present, where);
    } else {
      const common = this.commonStructs.get(name);
      if (common === undefined) throw new Error(`${where}: unknown struct type ${name}`);
      // A common struct is shared by several fields: its optionality follows its own versions.
      fields = this.resolveFields(common.fields, versionsIn(asRange(common.versions, name), this.versions), where);
    }
    const typeName = name.startsWith(this.spec.name) ? name : `${this.spec.name}${name}`;
    const struct: Struct = { name, typeName, fields };
    this.structsByName.set(name, struct);
    return struct;
  }

  allStructs(): Struct[] {
    return [...this.structsByName.values()];
  }
}

// ---------------------------------------------------------------------------------------------
// Emitting TypeScript.

function literal(value: DefaultValue): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return quote(value);
  return String(value);
}

function quote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function emitFields(fields: Field[], indent: string): string {
  if (fields.length === 0) return '[]';
  const inner = indent + '  ';
  return `[\n${fields.map((field) => `${inner}${emitField(field, inner)},\n`).join('')}${indent}]`;
}

function emitField(field: Field, indent: string): string {
  const parts = [`name: ${quote(field.name)}`, `key: ${quote(field.key)}`, `kind: '${field.kind}'`];
  if (field.type !== undefined) parts.push(`type: '${field.type}'`);
  parts.push(`versions: '${field.versions}'`);
  if (field.nullableVersions !== undefined) parts.push(`nullableVersions: '${field.nullableVersions}'`);
  if (field.taggedVersions !== undefined) parts.push(`taggedVersions: '${field.taggedVersions}', tag: ${field.tag}`);
  if (field.flexibleVersions !== undefined) parts.push(`flexibleVersions: '${field.flexibleVersions}'`);
  if (field.default !== undefined) parts.push(`default: ${literal(field.default)}`);
  if (field.ignorable === true) parts.push('ignorable: true');
  if (field.struct !== undefined) {
    const inner = indent + '  ';
    parts.push(`struct: {\n${inner}name: ${quote(field.struct.name)},\n${inner}fields: ${emitFields(field.struct.fields, inner)},\n${indent}}`);
  }
  return `{ ${parts.join(', ')} }`;
}

const TS_TYPES: Record<PrimitiveType, string> = {
  bool: 'boolean',
  int8: 'number',
  int16: 'number',
  uint16: 'number',
  int32: 'number',
  int64: 'bigint',
  float64: 'number',
  string: 'string',
  bytes: 'Buffer',
  uuid: 'string',
  records: 'Buffer',
};

function tsType(field: Field): string {
  let base: string;
  switch (field.kind) {
    case 'primitive':
      base = TS_TYPES[field.type!];
      break;
    case 'primitiveArray':
      base = `${TS_TYPES[field.type!]}[]`;
      break;
    case 'struct':
      base = field.struct!.typeName;
      break;
    case 'structArray':
      base = `${field.struct!.typeName}[]`;
      break;
  }
  return field.nullable ? `${base} | null` : base;
}

function docComment(field: Field): string {
  const notes: string[] = [];
  if (field.about !== undefined) {
    const about = field.about.replace(/\*\//g, '* /').trim();
    notes.push(/[.!?]$/.test(about) ? about : `${about}.`);
  }
  notes.push(`Versions ${field.versions}${field.taggedVersions === undefined ? '' : `, tagged ${field.taggedVersions} (tag ${field.tag})`}.`);
  return `  /** ${notes.join(' ')} */\n`;
}

function emitInterface(typeName: string, fields: Field[]): string {
  const members = fields.map((field) => `${docComment(field)}  ${field.key}${field.optional ? '?' : ''}: ${tsType(field)};\n`);
  return `export interface ${typeName} {\n${members.join('')}}\n`;
}

interface Api {
  apiKey: number;
  /** e.g. `Fetch`. */
  name: string;
  request: SpecMessage;
  response: SpecMessage;
}

const HEADER = '// Generated by scripts/generate-schemas.ts from spec/*.json. Do not edit.\n';
const MODULE_IMPORTS = "import type { MessageSchema } from '../../schema/types.js';\n";

/** One message's schema constant and the interfaces of its data; `apiKey` is absent for data messages. */
function emitMessage(spec: SpecMessage, apiKey: number | undefined): string {
  const resolver = new MessageResolver(spec);
  const fields = resolver.resolve();
  const out = [
    `\nexport const ${spec.name}Schema: MessageSchema<${spec.name}> = {\n` +
      `  name: ${quote(spec.name)},\n` +
      (apiKey === undefined ? '' : `  apiKey: ${apiKey},\n`) +
      `  type: '${spec.type}',\n` +
      `  validVersions: '${spec.validVersions}',\n` +
      `  flexibleVersions: '${spec.flexibleVersions}',\n` +
      `  fields: ${emitFields(fields, '  ')},\n};\n`,
    `\n/** The data of a ${spec.name}, versions ${spec.validVersions}. */\n`,
    emitInterface(spec.name, fields),
  ];
  for (const struct of resolver.allStructs()) out.push('\n' + emitInterface(struct.typeName, struct.fields));
  return out.join('');
}

function emitApiModule(api: Api): string {
  return HEADER + MODULE_IMPORTS + emitMessage(api.request, api.apiKey) + emitMessage(api.response, api.apiKey);
}

function emitDataModule(spec: SpecMessage): string {
  return HEADER + MODULE_IMPORTS + emitMessage(spec, undefined);
}

/** Kafka's rule: flexible versions use request header v2 and response header v1. */
function headerVersions(api: Api): { request: number[]; response: number[] } {
  const valid = parseVersionRange(asRange(api.request.validVersions, api.name));
  const flexible = parseVersionRange(asRange(api.request.flexibleVersions, api.name));
  const request: number[] = [];
  const response: number[] = [];
  for (let version = 0; version <= valid.max; version++) {
    const isFlexible = version >= flexible.min && version <= flexible.max;
    // ControlledShutdown v0 predates client ids in the request header.
    request.push(api.apiKey === 7 && version === 0 ? 0 : isFlexible ? 2 : 1);
    // ApiVersions responses stay on header v0 so a client can always read the broker's answer.
    response.push(api.apiKey === 18 ? 0 : isFlexible ? 1 : 0);
  }
  return { request, response };
}

function emitApiKeys(apis: Api[]): string {
  const rows = apis.map((api) => {
    const headers = headerVersions(api);
    return (
      `  ${api.apiKey}: {\n` +
      `    apiKey: ${api.apiKey},\n` +
      `    name: ${quote(api.name)},\n` +
      `    validVersions: '${api.request.validVersions}',\n` +
      `    flexibleVersions: '${api.request.flexibleVersions}',\n` +
      `    latestVersionUnstable: ${api.request.latestVersionUnstable === true},\n` +
      `    listeners: [${(api.request.listeners ?? []).map(quote).join(', ')}],\n` +
      `    requestHeaderVersions: [${headers.request.join(', ')}],\n` +
      `    responseHeaderVersions: [${headers.response.join(', ')}],\n` +
      `  },\n`
    );
  });
  const names = apis.map((api) => `  ${api.name}: ${api.apiKey},\n`);
  return (
    HEADER +
    "import type { ApiKeyInfo } from '../schema/types.js';\n\n" +
    '/** Every Kafka API key, by number. Header versions are indexed by API version. */\n' +
    `export const apiKeys: Readonly<Record<number, ApiKeyInfo>> = {\n${rows.join('')}};\n\n` +
    '/** API keys by name. */\n' +
    `export const ApiKey = {\n${names.join('')}} as const;\n\n` +
    'export type ApiKey = (typeof ApiKey)[keyof typeof ApiKey];\n'
  );
}

function emitIndex(apis: Api[], dataSpecs: SpecMessage[]): string {
  const out: string[] = [HEADER, "import type { MessageSchema } from '../schema/types.js';\n"];
  for (const api of apis) {
    const module = `./messages/${kebabCase(api.name)}.js`;
    out.push(`import { ${api.request.name}Schema, ${api.response.name}Schema } from '${module}';\n`);
  }
  out.push("\nexport * from './api-keys.js';\n");
  for (const api of apis) out.push(`export * from './messages/${kebabCase(api.name)}.js';\n`);
  for (const spec of dataSpecs) out.push(`export * from './data/${kebabCase(spec.name)}.js';\n`);
  for (const api of apis) {
    out.push(`import type { ${api.request.name}, ${api.response.name} } from './messages/${kebabCase(api.name)}.js';\n`);
  }
  const requestRows = apis.map((api) => `  ${api.apiKey}: ${api.request.name}Schema,\n`).join('');
  const responseRows = apis.map((api) => `  ${api.apiKey}: ${api.response.name}Schema,\n`).join('');
  out.push(`\n/** Request schemas by API key. */\nexport const requestSchemas: Readonly<Record<number, MessageSchema>> = {\n${requestRows}};\n`);
  out.push(`\n/** Response schemas by API key. */\nexport const responseSchemas: Readonly<Record<number, MessageSchema>> = {\n${responseRows}};\n`);
  const requestTypes = apis.map((api) => `  ${api.apiKey}: ${api.request.name};\n`).join('');
  const responseTypes = apis.map((api) => `  ${api.apiKey}: ${api.response.name};\n`).join('');
  out.push(`\n/** Request data types by API key. */\nexport interface RequestDataByApiKey {\n${requestTypes}}\n`);
  out.push(`\n/** Response data types by API key. */\nexport interface ResponseDataByApiKey {\n${responseTypes}}\n`);
  return out.join('');
}

function collectApis(specs: SpecMessage[]): Api[] {
  const byKey = new Map<number, { request?: SpecMessage; response?: SpecMessage }>();
  for (const spec of specs) {
    if (spec.apiKey === undefined) continue; // headers and metadata records are not APIs
    if (spec.type !== 'request' && spec.type !== 'response') throw new Error(`${spec.name}: unexpected type ${spec.type}`);
    const entry = byKey.get(spec.apiKey) ?? {};
    entry[spec.type] = spec;
    byKey.set(spec.apiKey, entry);
  }
  return [...byKey.entries()]
    .sort(([a], [b]) => a - b)
    .map(([apiKey, { request, response }]) => {
      if (request === undefined || response === undefined) throw new Error(`API key ${apiKey} lacks a request or a response`);
      if (request.validVersions !== response.validVersions || request.flexibleVersions !== response.flexibleVersions) {
        throw new Error(`API key ${apiKey}: request and response versions differ`);
      }
      return { apiKey, name: request.name.replace(/Request$/, ''), request, response };
    });
}

/**
 * Data messages ("type": "data") that a broker or client reads or writes: the consumer protocol's
 * bytes inside JoinGroup metadata and SyncGroup assignments. The others (KRaft snapshot and voter
 * records, DefaultPrincipalData) belong to a controller quorum, which defter does not run.
 */
const DATA_MESSAGES: readonly string[] = ['ConsumerProtocolAssignment', 'ConsumerProtocolSubscription'];

function collectDataSpecs(specs: SpecMessage[]): SpecMessage[] {
  return DATA_MESSAGES.map((name) => {
    const spec = specs.find((candidate) => candidate.name === name);
    if (spec === undefined) throw new Error(`data message ${name} has no spec`);
    if (spec.type !== 'data' || spec.apiKey !== undefined) throw new Error(`${name}: expected a data message, found type ${spec.type}`);
    return spec;
  });
}

function main(): void {
  const specs = readSpecs();
  const apis = collectApis(specs);
  const dataSpecs = collectDataSpecs(specs);
  // Only the outputs of this script are replaced (error-table.ts has its own generator).
  for (const dir of ['messages', 'data']) {
    rmSync(join(outDir, dir), { recursive: true, force: true });
    mkdirSync(join(outDir, dir), { recursive: true });
  }
  for (const api of apis) writeFileSync(join(outDir, 'messages', `${kebabCase(api.name)}.ts`), emitApiModule(api));
  for (const spec of dataSpecs) writeFileSync(join(outDir, 'data', `${kebabCase(spec.name)}.ts`), emitDataModule(spec));
  writeFileSync(join(outDir, 'api-keys.ts'), emitApiKeys(apis));
  writeFileSync(join(outDir, 'index.ts'), emitIndex(apis, dataSpecs));
  console.log(`generated ${apis.length} APIs and ${dataSpecs.length} data messages into ${outDir}`);
}

main();
