/** Dice coefficient for tests (the real metrics live in gateway/src/core/metrics.ts). */

/** Dice = 2|A∩B| / (|A| + |B|) of two 0/1 arrays of equal length; 1 when both are empty. */
export function dice(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`dice: lengths differ (${a.length} vs ${b.length})`);
  let inter = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ? 1 : 0;
    const y = b[i] ? 1 : 0;
    inter += x & y;
    sum += x + y;
  }
  return sum === 0 ? 1 : (2 * inter) / sum;
}
