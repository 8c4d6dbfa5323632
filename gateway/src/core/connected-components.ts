/** Connected-component labelling of binary masks (4- or 8-connectivity), breadth-first on typed arrays. */
import type { BinaryMask } from './mask.ts';

/** 4: edge neighbours only; 8: edge and corner neighbours. */
export type Connectivity = 4 | 8;

/** Labelled components: `labels[i]` is 0 outside, 1..count inside; labels follow row-major first-pixel order. */
export interface Components {
  labels: Int32Array;
  count: number;
  /** Pixel count of component k at index k - 1. */
  sizes: number[];
}

/** Labels the connected components of a mask's nonzero pixels. */
export function labelComponents(mask: BinaryMask, connectivity: Connectivity = 4): Components {
  const { width: w, height: h, data } = mask;
  const n = w * h;
  const labels = new Int32Array(n);
  const queue = new Int32Array(n);
  const sizes: number[] = [];
  let count = 0;
  for (let start = 0; start < n; start++) {
    if (data[start] === 0 || labels[start] !== 0) continue;
    const label = ++count;
    labels[start] = label;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    while (head < tail) {
      const i = queue[head++];
      const y = (i / w) | 0;
      const x = i - y * w;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          if ((dx === 0 && dy === 0) || (connectivity === 4 && dx !== 0 && dy !== 0)) continue;
          const xx = x + dx;
          if (xx < 0 || xx >= w) continue;
          const j = yy * w + xx;
          if (data[j] !== 0 && labels[j] === 0) {
            labels[j] = label;
            queue[tail++] = j;
          }
        }
      }
    }
    sizes.push(tail);
  }
  return { labels, count, sizes };
}

/** The largest connected component as a mask (ties: the first in row-major order), or null when empty. */
export function largestComponent(mask: BinaryMask, connectivity: Connectivity = 4): BinaryMask | null {
  const { labels, count, sizes } = labelComponents(mask, connectivity);
  if (count === 0) return null;
  let best = 0;
  for (let k = 1; k < count; k++) if (sizes[k] > sizes[best]) best = k;
  const data = new Uint8Array(labels.length);
  const want = best + 1;
  for (let i = 0; i < labels.length; i++) data[i] = labels[i] === want ? 1 : 0;
  return { width: mask.width, height: mask.height, data };
}
