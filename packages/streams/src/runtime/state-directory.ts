import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomically } from '@defter/log';

/**
 * The app's state directory, `<stateDir>/<applicationId>/`: one directory per task holding one
 * directory per store, and `STORE_NAMES_FILE`, the store names of the topology that last started
 * here. A start whose topology lacks a store that still has local state or a changelog topic is
 * refused: that state would be orphaned (a renamed or removed stateful step), and a silently empty
 * new store is worse than a clear stop.
 */

export const STORE_NAMES_FILE = 'topology-stores';
const HEADER = 'defter-topology-stores 1';
/** A task directory: `<subTopologyId>_<partition>`. */
const TASK_DIRECTORY_PATTERN = /^\d+_\d+$/;

export interface OrphanCheckOptions {
  /** `<stateDir>/<applicationId>` */
  readonly appDirectory: string;
  readonly applicationId: string;
  /** The store names of the topology about to start. */
  readonly storeNames: readonly string[];
  /** Whether a topic exists (the changelog of a store the topology lacks). */
  readonly topicExists: (topic: string) => Promise<boolean>;
  readonly changelogTopic: (store: string) => string;
}

/** Stores known from an earlier start: the names file plus every store directory under a task directory. */
async function knownStores(appDirectory: string): Promise<Map<string, string[]>> {
  const known = new Map<string, string[]>();
  const text = await readTextIfExists(join(appDirectory, STORE_NAMES_FILE));
  if (text !== undefined) {
    const lines = text.split('\n').filter((line) => line.length > 0);
    if (lines[0] === HEADER) for (const name of lines.slice(1)) known.set(name, []);
  }
  const tasks = await readdir(appDirectory, { withFileTypes: true }).catch(() => []);
  for (const task of tasks) {
    if (!task.isDirectory() || !TASK_DIRECTORY_PATTERN.test(task.name)) continue;
    for (const store of await readdir(join(appDirectory, task.name), { withFileTypes: true }).catch(() => [])) {
      if (!store.isDirectory()) continue;
      const places = known.get(store.name) ?? [];
      places.push(join(appDirectory, task.name, store.name));
      known.set(store.name, places);
    }
  }
  return known;
}

/**
 * Refuses a topology that would orphan state (see the file comment), then records its store
 * names. The error names the store, where its state is, and how to reset.
 */
export async function checkStoresAndRecord(options: OrphanCheckOptions): Promise<void> {
  const { appDirectory, storeNames } = options;
  const current = new Set(storeNames);
  for (const [name, places] of await knownStores(appDirectory)) {
    if (current.has(name)) continue;
    const changelog = options.changelogTopic(name);
    const hasChangelog = await options.topicExists(changelog);
    if (places.length === 0 && !hasChangelog) continue;
    const where = [...(places.length > 0 ? [`local state in ${places[0]}${places.length > 1 ? ` and ${places.length - 1} more` : ''}`] : []), ...(hasChangelog ? [`the changelog topic "${changelog}"`] : [])].join(' and ');
    throw new Error(
      `the topology of app "${options.applicationId}" has no store named "${name}", which has ${where}: ` +
        `the change (a stateful step renamed or removed) would orphan that state. Give the step its old name ({ name: "${name}" }), ` +
        `or reset the app: stop every instance, delete ${appDirectory} on each and the topic "${changelog}".`,
    );
  }
  // A stateless app leaves no trace in the state directory.
  if (current.size === 0) return;
  await mkdir(appDirectory, { recursive: true });
  await writeFileAtomically(join(appDirectory, STORE_NAMES_FILE), `${HEADER}\n${[...current].sort().map((name) => `${name}\n`).join('')}`);
}
