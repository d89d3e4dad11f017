/**
 * How NEXMark events are written to a topic: one JSON object per record, the kind first
 * (`{"kind":"bid","auction":1007,…}`), the model's field names, times as epoch milliseconds. JSON
 * is what a TypeScript user would pick and what the peers' JSON codecs read too, so every row of
 * the bench parses the same bytes.
 *
 * Reading checks the shape cheaply — a known kind and numbers where the model has numbers, strings
 * where it has strings — so a foreign or damaged record is a `SerdeError`, never an event with
 * holes that a query would turn into NaN.
 */
import { isUtf8 } from 'node:buffer';
import { SerdeError, type Serde, type SerdeContext } from '../src/index.js';
import type { NexmarkEvent, NexmarkEventKind } from './model.js';

const NUMBER_FIELDS: Readonly<Record<NexmarkEventKind, readonly string[]>> = {
  person: ['id', 'dateTime'],
  auction: ['id', 'initialBid', 'reserve', 'dateTime', 'expires', 'seller', 'category'],
  bid: ['auction', 'bidder', 'price', 'dateTime'],
};
const STRING_FIELDS: Readonly<Record<NexmarkEventKind, readonly string[]>> = {
  person: ['name', 'emailAddress', 'creditCard', 'city', 'state', 'extra'],
  auction: ['itemName', 'description', 'extra'],
  bid: ['channel', 'url', 'extra'],
};

/** The problem with a parsed value as an event, or undefined when it is one. */
export function eventShapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const fields = value as Record<string, unknown>;
  const kind = fields['kind'];
  if (kind !== 'person' && kind !== 'auction' && kind !== 'bid') return `"kind" is ${JSON.stringify(kind) ?? 'missing'}, not person, auction or bid`;
  for (const name of NUMBER_FIELDS[kind]) {
    if (typeof fields[name] !== 'number' || !Number.isFinite(fields[name])) return `the ${kind}'s "${name}" is not a number`;
  }
  for (const name of STRING_FIELDS[kind]) {
    if (typeof fields[name] !== 'string') return `the ${kind}'s "${name}" is not a string`;
  }
  return undefined;
}

/** The serde of the `nexmark-events` topic's values. */
export function nexmarkEventSerde(): Serde<NexmarkEvent> {
  return {
    name: 'nexmark-json',
    serialize(event, context) {
      if (event === null) return null;
      const problem = eventShapeProblem(event);
      if (problem !== undefined) throw new SerdeError({ operation: 'serialize', reason: 'invalid-value', context, detail: `not a NEXMark event: ${problem}` });
      return Buffer.from(JSON.stringify(event), 'utf8');
    },
    deserialize(bytes, context) {
      if (bytes === null) return null;
      const value = parse(bytes, context);
      const problem = eventShapeProblem(value);
      if (problem !== undefined) throw new SerdeError({ operation: 'deserialize', reason: 'validation', context, detail: `not a NEXMark event: ${problem}` });
      return value as NexmarkEvent;
    },
  };
}

function parse(bytes: Buffer, context: SerdeContext): unknown {
  if (!isUtf8(bytes)) throw new SerdeError({ operation: 'deserialize', reason: 'malformed', context, detail: `${bytes.length} bytes are not valid UTF-8` });
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (cause) {
    throw new SerdeError({ operation: 'deserialize', reason: 'malformed', context, detail: `not valid JSON (${cause instanceof Error ? cause.message : String(cause)})`, cause });
  }
}
