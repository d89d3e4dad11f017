/**
 * `defter consume --format`: kcat-style placeholders, one output line per record.
 *   %k key · %v value · %p partition · %o offset · %t timestamp (ms) · %h headers (k=v,k=v)
 *   %K key length · %V value length (-1 for null) · %s topic · %% a percent sign · \n \t \\ escapes.
 * A null key or value prints as nothing, as kcat does.
 */

export interface FormattableRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly timestamp: bigint;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: ReadonlyArray<{ readonly key: string; readonly value: Buffer | null }>;
}

export type RecordFormatter = (record: FormattableRecord) => string;

type Part = string | ((record: FormattableRecord) => string);

const placeholders: Readonly<Record<string, (record: FormattableRecord) => string>> = {
  k: (record) => record.key?.toString('utf8') ?? '',
  v: (record) => record.value?.toString('utf8') ?? '',
  p: (record) => String(record.partition),
  o: (record) => String(record.offset),
  t: (record) => String(record.timestamp),
  h: (record) => record.headers.map((header) => `${header.key}=${header.value?.toString('utf8') ?? ''}`).join(','),
  K: (record) => String(record.key?.length ?? -1),
  V: (record) => String(record.value?.length ?? -1),
  s: (record) => record.topic,
};

const escapes: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '\\': '\\' };

/** Compiles a format once; throws on an unknown placeholder (naming it) so a typo is not printed a million times. */
export function compileRecordFormat(format: string): RecordFormatter {
  const parts: Part[] = [];
  let literal = '';
  for (let i = 0; i < format.length; i++) {
    const char = format[i]!;
    const next = format[i + 1];
    if (char === '%' && next !== undefined) {
      i++;
      if (next === '%') {
        literal += '%';
        continue;
      }
      const placeholder = placeholders[next];
      if (placeholder === undefined) throw new Error(`unknown placeholder '%${next}' in --format (known: %k %v %p %o %t %h %K %V %s %%)`);
      if (literal.length > 0) parts.push(literal);
      literal = '';
      parts.push(placeholder);
    } else if (char === '\\' && next !== undefined && escapes[next] !== undefined) {
      literal += escapes[next];
      i++;
    } else {
      literal += char;
    }
  }
  if (literal.length > 0) parts.push(literal);
  return (record) => parts.map((part) => (typeof part === 'string' ? part : part(record))).join('');
}
