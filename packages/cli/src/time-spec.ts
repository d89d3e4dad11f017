import { parseDateTime } from './groups-command.js';

/**
 * Where a replay starts or ends: an offset (the same number in every partition) or a time, which
 * each partition resolves to the first offset whose timestamp is at or after it (ListOffsets).
 *   `1500`                  an offset
 *   `2026-11-23T10:00:00Z`  ISO 8601 (a date alone means its midnight, UTC)
 *   `@1795428000000`        epoch milliseconds
 *   `-15m`, `-2h`, `-90s`, `-1d`, `-500ms`   that long before now
 */
export type LogPosition = { readonly kind: 'offset'; readonly offset: bigint } | { readonly kind: 'time'; readonly timestampMs: bigint };

const UNIT_MS: Readonly<Record<string, bigint>> = { ms: 1n, s: 1_000n, m: 60_000n, h: 3_600_000n, d: 86_400_000n };

/** Parses a position given on the command line; `nowMs` anchors the relative forms. */
export function parseLogPosition(text: string, nowMs: bigint, option: string): LogPosition {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return { kind: 'offset', offset: BigInt(trimmed) };
  const epoch = /^@(\d+)$/.exec(trimmed);
  if (epoch !== null) return { kind: 'time', timestampMs: BigInt(epoch[1]!) };
  const relative = /^-(\d+)(ms|s|m|h|d)$/.exec(trimmed);
  if (relative !== null) return { kind: 'time', timestampMs: nowMs - BigInt(relative[1]!) * UNIT_MS[relative[2]!]! };
  if (/^\d{4}-/.test(trimmed)) {
    try {
      return { kind: 'time', timestampMs: parseDateTime(trimmed) };
    } catch {
      // Reported below, with every accepted form.
    }
  }
  throw new Error(
    `${option} '${text}' is neither an offset nor a time: give an offset (e.g. 1500), an ISO 8601 time (e.g. 2026-11-23T10:00:00Z), @<epoch ms>, or a time before now such as -15m or -2h`,
  );
}

/** The position as the user would write it, for messages. */
export function describeLogPosition(position: LogPosition): string {
  return position.kind === 'offset' ? `offset ${position.offset}` : new Date(Number(position.timestampMs)).toISOString();
}
