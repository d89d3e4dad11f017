/**
 * inner: both sides present; left: the left side present (the right may be null); outer: either
 * side present (the other may be null).
 */
export type JoinKind = 'inner' | 'left' | 'outer';

/** The joined value of a row, or null when the kind of join has no row for these sides. */
export function joinedValue<L, R, VR>(
  kind: JoinKind,
  left: L | null,
  right: R | null,
  joiner: (left: L | null, right: R | null) => VR,
): VR | null {
  if (left === null && right === null) return null;
  if (kind === 'inner' && (left === null || right === null)) return null;
  if (kind === 'left' && left === null) return null;
  return joiner(left, right);
}
