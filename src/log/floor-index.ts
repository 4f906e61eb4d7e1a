// Binary search shared by segment lists and sparse indexes: the last position whose key is
// at or below a target, over any sorted sequence addressed by position.

/** Last i in [0, length) with keyAt(i) ≤ target (keys ascending), or -1 if none. */
export function floorIndex(length: number, keyAt: (i: number) => number, target: number): number {
  let lo = 0;
  let hi = length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (keyAt(mid) <= target) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
