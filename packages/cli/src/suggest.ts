import { closest, distance } from 'fastest-levenshtein';

/**
 * "Did you mean …?" for mistyped commands and topic names: the nearest candidate by edit distance,
 * offered only when it is near enough to be a plausible typo.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const best = closest(word, [...candidates]);
  const editsMax = Math.max(2, Math.floor(Math.max(word.length, best.length) / 3));
  return distance(word, best) <= editsMax ? best : undefined;
}

/** One sentence for a topic that does not exist, with the nearest existing name when there is one. */
export function unknownTopicMessage(topic: string, existing: readonly string[]): string {
  const suggestion = nearest(topic, existing);
  if (suggestion !== undefined) return `topic '${topic}' does not exist. Did you mean '${suggestion}'?`;
  if (existing.length === 0) return `topic '${topic}' does not exist (the broker has no topics yet).`;
  return `topic '${topic}' does not exist.`;
}
