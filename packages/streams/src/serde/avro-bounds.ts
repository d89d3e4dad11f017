import type { Type } from 'avsc';

/**
 * A bounds check of an Avro binary body against its writer schema, run before avsc decodes it.
 *
 * Why: avsc trusts the item count of an array or map block. Reading past the end of the buffer does
 * not stop it (a varint past the end reads as 0), so six hostile bytes — a count of 2^31 — make it
 * fill an array of two billion entries and the process dies out of memory. This walk follows the
 * schema over the bytes without building values, and refuses any length or count that the remaining
 * bytes cannot hold (or, for items that take no bytes at all, more than `zeroByteItemsMax`).
 * Only schemas with an array or a map need it (`needsAvroBoundsCheck`).
 */

/** The parts of avsc's types the walk reads (public getters of avsc's type classes). */
interface AvroTypeNode {
  readonly typeName: string;
  readonly fields?: ReadonlyArray<{ readonly type: AvroTypeNode }>;
  readonly itemsType?: AvroTypeNode;
  readonly valuesType?: AvroTypeNode;
  readonly types?: readonly AvroTypeNode[];
  readonly size?: number;
  readonly underlyingType?: AvroTypeNode;
}

/** Items of a zero-byte type (null, an empty record) allowed in one collection block. */
export const ZERO_BYTE_ITEMS_MAX = 100_000;
const VARINT_BYTES_MAX = 10;

class BoundsProblem extends Error {}

/** Whether the schema holds an array or a map anywhere (only those can make avsc allocate without bound). */
export function needsAvroBoundsCheck(type: Type): boolean {
  return hasCollection(type as unknown as AvroTypeNode, new Set());
}

/** Describes the first length or count that cannot fit, or returns undefined when the body is plausible. */
export function findAvroBoundsProblem(type: Type, bytes: Buffer, start: number): string | undefined {
  const walk = new BoundsWalk(bytes, start);
  try {
    walk.skip(type as unknown as AvroTypeNode);
  } catch (error) {
    if (error instanceof BoundsProblem) return error.message;
    // A schema nested deeper than the stack: leave it to avsc, whose own recursion fails the same way.
    if (error instanceof RangeError) return undefined;
    throw error;
  }
  return undefined;
}

function hasCollection(node: AvroTypeNode, seen: Set<AvroTypeNode>): boolean {
  if (seen.has(node)) return false;
  seen.add(node);
  const kind = baseTypeName(node);
  if (kind === 'array' || kind === 'map') return true;
  if (node.underlyingType !== undefined && hasCollection(node.underlyingType, seen)) return true;
  if (node.fields?.some((field) => hasCollection(field.type, seen)) === true) return true;
  return node.types?.some((member) => hasCollection(member, seen)) === true;
}

/** `union:wrapped` → `union`, `abstract:long` → `long`; logical types are walked through their underlying type. */
function baseTypeName(node: AvroTypeNode): string {
  const name = node.typeName;
  if (name.startsWith('union:')) return 'union';
  if (name.startsWith('abstract:')) return name.slice('abstract:'.length);
  return name;
}

/** Per type node, the fewest bytes one value takes; types are immutable, so this is computed once. */
const minBytesByType = new WeakMap<AvroTypeNode, number>();

class BoundsWalk {
  constructor(
    private readonly bytes: Buffer,
    private position: number,
  ) {}

  skip(node: AvroTypeNode): void {
    if (node.typeName.startsWith('logical:') && node.underlyingType !== undefined) return this.skip(node.underlyingType);
    switch (baseTypeName(node)) {
      case 'null':
        return;
      case 'boolean':
        return this.advance(1);
      case 'int':
      case 'long':
      case 'enum':
        this.readVarlong();
        return;
      case 'float':
        return this.advance(4);
      case 'double':
        return this.advance(8);
      case 'bytes':
      case 'string': {
        const lengthBytes = this.readVarlong();
        if (lengthBytes < 0) throw new BoundsProblem(`a negative length ${lengthBytes} at byte ${this.position}`);
        return this.advance(lengthBytes);
      }
      case 'fixed':
        return this.advance(node.size ?? 0);
      case 'union': {
        const members = node.types ?? [];
        const branch = this.readVarlong();
        const member = members[branch];
        if (member === undefined) throw new BoundsProblem(`union branch ${branch} of ${members.length} at byte ${this.position}`);
        return this.skip(member);
      }
      case 'record':
        for (const field of node.fields ?? []) this.skip(field.type);
        return;
      case 'array':
        return this.skipBlocks([node.itemsType!]);
      case 'map':
        return this.skipBlocks([STRING_NODE, node.valuesType!]);
      default:
        // A type this walk does not know: stop checking here rather than refuse valid data.
        this.position = this.bytes.length;
    }
  }

  /** Avro collections: blocks of `count` items, a negative count followed by the block's byte size, ended by 0. */
  private skipBlocks(itemParts: readonly AvroTypeNode[]): void {
    const itemMinBytes = itemParts.reduce((sum, part) => sum + minBytesOf(part), 0);
    for (;;) {
      let count = this.readVarlong();
      if (count === 0) return;
      if (count < 0) {
        count = -count;
        this.readVarlong();
      }
      const remainingBytes = this.bytes.length - this.position;
      if (itemMinBytes > 0 ? count * itemMinBytes > remainingBytes : count > ZERO_BYTE_ITEMS_MAX) {
        throw new BoundsProblem(`a block of ${count} items cannot fit in the ${remainingBytes} bytes left at byte ${this.position}`);
      }
      for (let index = 0; index < count; index++) for (const part of itemParts) this.skip(part);
    }
  }

  private advance(byteCount: number): void {
    this.position += byteCount;
    if (this.position > this.bytes.length) throw new BoundsProblem(`the body needs ${this.position - this.bytes.length} more bytes`);
  }

  /** A zig-zag varint of up to 64 bits, as a number (exact up to 2^53, enough to compare with lengths). */
  private readVarlong(): number {
    let unsigned = 0;
    let multiplier = 1;
    for (let index = 0; index < VARINT_BYTES_MAX; index++) {
      if (this.position >= this.bytes.length) throw new BoundsProblem(`the body ends inside a varint`);
      const byte = this.bytes[this.position++]!;
      unsigned += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return unsigned % 2 === 0 ? unsigned / 2 : -(unsigned + 1) / 2;
      multiplier *= 128;
    }
    throw new BoundsProblem(`a varint longer than ${VARINT_BYTES_MAX} bytes at byte ${this.position}`);
  }
}

const STRING_NODE: AvroTypeNode = { typeName: 'string' };

/** The fewest bytes one value of the type takes. */
function minBytesOf(node: AvroTypeNode): number {
  const known = minBytesByType.get(node);
  if (known !== undefined) return known;
  // A recursive record reaches itself only through a union or a collection, which take bytes anyway.
  minBytesByType.set(node, 0);
  let minBytes: number;
  if (node.typeName.startsWith('logical:') && node.underlyingType !== undefined) {
    minBytes = minBytesOf(node.underlyingType);
  } else {
    switch (baseTypeName(node)) {
      case 'null':
        minBytes = 0;
        break;
      case 'float':
        minBytes = 4;
        break;
      case 'double':
        minBytes = 8;
        break;
      case 'fixed':
        minBytes = node.size ?? 0;
        break;
      case 'record':
        minBytes = (node.fields ?? []).reduce((sum, field) => sum + minBytesOf(field.type), 0);
        break;
      default:
        // boolean, int, long, enum, bytes, string, union, array, map: at least one byte each.
        minBytes = 1;
    }
  }
  minBytesByType.set(node, minBytes);
  return minBytes;
}

