import type { VersionRange } from './types.js';

/** An inclusive range of versions; `max` is `Infinity` for an open range ("3+"), and `none` is empty. */
export interface VersionBounds {
  readonly min: number;
  readonly max: number;
}

const EMPTY: VersionBounds = { min: 1, max: 0 };

export function parseVersionRange(range: VersionRange | undefined): VersionBounds {
  if (range === undefined || range === 'none') return EMPTY;
  if (range.endsWith('+')) return { min: Number(range.slice(0, -1)), max: Number.POSITIVE_INFINITY };
  const dash = range.indexOf('-');
  if (dash === -1) {
    const only = Number(range);
    return { min: only, max: only };
  }
  return { min: Number(range.slice(0, dash)), max: Number(range.slice(dash + 1)) };
}

export function versionInRange(range: VersionRange | undefined, version: number): boolean {
  const bounds = parseVersionRange(range);
  return version >= bounds.min && version <= bounds.max;
}
