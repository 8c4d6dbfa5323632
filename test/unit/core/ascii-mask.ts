/** Test helper: builds BinaryMasks from ASCII art ('#' or '1' inside, anything else outside). */
import type { BinaryMask } from '../../../gateway/src/core/mask.ts';

/** Parses rows of equal length; leading/trailing blank lines are ignored, indentation is stripped. */
export function ascii(art: string): BinaryMask {
  const rows = art
    .split('\n')
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  const height = rows.length;
  const width = height > 0 ? rows[0].length : 0;
  const data = new Uint8Array(width * height);
  rows.forEach((r, y) => {
    if (r.length !== width) throw new Error(`row ${y} has length ${r.length}, expected ${width}`);
    for (let x = 0; x < width; x++) data[y * width + x] = r[x] === '#' || r[x] === '1' ? 1 : 0;
  });
  return { width, height, data };
}

/** A random mask with the given foreground probability, from a tiny deterministic LCG. */
export function randomMask(width: number, height: number, p: number, seed: number): BinaryMask {
  let s = seed >>> 0 || 1;
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 4294967296 < p ? 1 : 0;
  }
  return { width, height, data };
}
