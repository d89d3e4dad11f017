import { join } from 'node:path';
import { readTextIfExists, validateTopicName } from '@defter/log';
import { isUuid } from './uuid.js';

/*
 * The topics of the cluster, in one JSON file in the data directory, replaced atomically on every
 * change. A plain file (not a `<topic>-<n>` directory, which the log manager would take for a
 * partition). Deletions are recorded in the same file until their logs are gone, so a crash halfway
 * through a deletion neither resurrects the topic nor leaves its logs behind for ever.
 */

export const TOPICS_FILE = 'topic-metadata.json';
const TOPICS_FILE_VERSION = 1;
const INT32_MAX = 0x7fffffff;

export interface StoredTopic {
  readonly name: string;
  readonly topicId: string;
  readonly partitions: number;
  readonly configs: Readonly<Record<string, string>>;
}

/** A deleted topic whose partition logs may still be on disk. */
export interface StoredDeletion {
  readonly name: string;
  readonly topicId: string;
  readonly partitions: number;
}

export interface TopicsFileContent {
  readonly topics: readonly StoredTopic[];
  readonly deleting: readonly StoredDeletion[];
}

/** The topics file cannot be used: not JSON, another version, or an entry that breaks a rule. */
export class TopicsFileError extends Error {
  override readonly name = 'TopicsFileError';
}

export function formatTopicsFile(content: TopicsFileContent): string {
  const document = {
    version: TOPICS_FILE_VERSION,
    topics: content.topics.map(({ name, topicId, partitions, configs }) => ({ name, topicId, partitions, configs })),
    deleting: content.deleting.map(({ name, topicId, partitions }) => ({ name, topicId, partitions })),
  };
  return JSON.stringify(document, null, 2) + '\n';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkIdentity(entry: unknown, where: string): { name: string; topicId: string; partitions: number } {
  if (!isRecord(entry)) throw new TopicsFileError(`${where}: not an object`);
  const { name, topicId, partitions } = entry;
  if (typeof name !== 'string') throw new TopicsFileError(`${where}: name is not a string`);
  try {
    validateTopicName(name);
  } catch (error) {
    throw new TopicsFileError(`${where}: ${(error as Error).message}`);
  }
  if (typeof topicId !== 'string' || !isUuid(topicId)) throw new TopicsFileError(`${where} (${name}): topicId is not a 22-character base64url UUID`);
  if (typeof partitions !== 'number' || !Number.isInteger(partitions) || partitions < 1 || partitions > INT32_MAX) {
    throw new TopicsFileError(`${where} (${name}): partitions is not a positive 32-bit integer`);
  }
  return { name, topicId, partitions };
}

/** Parses and checks the file's text; `where` names the file in errors. */
export function parseTopicsFile(text: string, where: string): TopicsFileContent {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new TopicsFileError(`${where}: not valid JSON (${(error as Error).message})`);
  }
  if (!isRecord(document)) throw new TopicsFileError(`${where}: not a JSON object`);
  if (document['version'] !== TOPICS_FILE_VERSION) {
    throw new TopicsFileError(`${where}: unsupported version ${JSON.stringify(document['version'] ?? null)} (expected ${TOPICS_FILE_VERSION})`);
  }
  const topicsValue = document['topics'];
  const deletingValue = document['deleting'] ?? [];
  if (!Array.isArray(topicsValue) || !Array.isArray(deletingValue)) throw new TopicsFileError(`${where}: topics and deleting must be arrays`);

  const names = new Set<string>();
  const ids = new Set<string>();
  const topics = topicsValue.map((entry: unknown, index): StoredTopic => {
    const identity = checkIdentity(entry, `${where}: topics[${index}]`);
    const configs = (entry as Record<string, unknown>)['configs'] ?? {};
    if (!isRecord(configs) || Object.values(configs).some((value) => typeof value !== 'string')) {
      throw new TopicsFileError(`${where}: topics[${index}] (${identity.name}): configs must map names to strings`);
    }
    if (names.has(identity.name)) throw new TopicsFileError(`${where}: topic ${identity.name} appears twice`);
    if (ids.has(identity.topicId)) throw new TopicsFileError(`${where}: topic id ${identity.topicId} appears twice`);
    names.add(identity.name);
    ids.add(identity.topicId);
    return { ...identity, configs: Object.freeze({ ...(configs as Record<string, string>) }) };
  });
  const deleting = deletingValue.map((entry: unknown, index) => checkIdentity(entry, `${where}: deleting[${index}]`));
  return { topics, deleting };
}

/** The data directory's topics, or undefined when there is no file yet. */
export async function readTopicsFile(dataDir: string): Promise<TopicsFileContent | undefined> {
  const path = join(dataDir, TOPICS_FILE);
  const text = await readTextIfExists(path);
  if (text === undefined) return undefined;
  return parseTopicsFile(text, path);
}
