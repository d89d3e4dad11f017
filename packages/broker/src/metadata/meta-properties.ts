import { join } from 'node:path';
import { readTextIfExists } from '@defter/log';
import { isUuid } from './uuid.js';

/**
 * Kafka's `meta.properties`: the identity of a data directory (which node and which cluster it
 * belongs to), written once on first start. A Java properties file; only its simple form
 * (`key=value` lines, `#` comments) is written and read.
 */
export const META_PROPERTIES_FILE = 'meta.properties';
/** KRaft's layout version of the file. */
const META_PROPERTIES_VERSION = 1;

export interface MetaProperties {
  readonly nodeId: number;
  readonly clusterId: string;
}

/** `meta.properties` cannot be used: unreadable, of another version, or missing a field. */
export class MetaPropertiesError extends Error {
  override readonly name = 'MetaPropertiesError';
}

/** Parses the simple Java properties form: `key=value` (or `key: value`), `#`/`!` comments. */
export function parseProperties(text: string): Map<string, string> {
  const properties = new Map<string, string>();
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line.length === 0 || line.startsWith('#') || line.startsWith('!')) continue;
    const separator = line.search(/[=:]/);
    if (separator < 0) {
      properties.set(line, '');
      continue;
    }
    properties.set(line.slice(0, separator).trim(), line.slice(separator + 1).trim());
  }
  return properties;
}

export function formatMetaProperties(meta: MetaProperties): string {
  return ['#', '# Written by defter: the identity of this data directory (Kafka KRaft layout).', `cluster.id=${meta.clusterId}`, `node.id=${meta.nodeId}`, `version=${META_PROPERTIES_VERSION}`, ''].join('\n');
}

/** Reads and checks `meta.properties` text; `where` names the file in errors. */
export function parseMetaProperties(text: string, where: string): MetaProperties {
  const properties = parseProperties(text);
  const version = properties.get('version');
  if (version !== String(META_PROPERTIES_VERSION)) {
    throw new MetaPropertiesError(`${where}: unsupported version ${JSON.stringify(version ?? null)} (expected ${META_PROPERTIES_VERSION})`);
  }
  const nodeIdText = properties.get('node.id') ?? properties.get('broker.id');
  if (nodeIdText === undefined || !/^\d{1,10}$/.test(nodeIdText) || Number(nodeIdText) > 0x7fffffff) {
    throw new MetaPropertiesError(`${where}: node.id is missing or not a non-negative 32-bit integer (${JSON.stringify(nodeIdText ?? null)})`);
  }
  const clusterId = properties.get('cluster.id');
  if (clusterId === undefined || !isUuid(clusterId)) {
    throw new MetaPropertiesError(`${where}: cluster.id is missing or not a 22-character base64url UUID (${JSON.stringify(clusterId ?? null)})`);
  }
  return { nodeId: Number(nodeIdText), clusterId };
}

/** The directory's `meta.properties`, or undefined when the directory (or the file) does not exist yet. */
export async function readMetaProperties(dataDir: string): Promise<MetaProperties | undefined> {
  const path = join(dataDir, META_PROPERTIES_FILE);
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined;
  return parseMetaProperties(text, path);
}
