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

/**
 * Labels the connected components of a mask's nonzero pixels. Works on horizontal runs: each run is joined
 * (union-find) with the overlapping runs of the row above, where 8-connectivity also accepts runs that only
 * touch at a corner; pixels are touched once to find runs and once to write labels.
 */
export function labelComponents(mask: BinaryMask, connectivity: Connectivity = 4): Components {
  const { width: w, height: h, data } = mask;
  const ext = connectivity === 8 ? 1 : 0;
  const starts: number[] = [];
  const ends: number[] = [];
  const rows: number[] = [];
  let parent = new Int32Array(64);
  const find = (a: number): number => {
    let r = a;
    while (parent[r] !== r) r = parent[r];
    // Path halving keeps later finds short.
    while (parent[a] !== r) {
      const next = parent[a];
      parent[a] = r;
      a = next;
    }
    return r;
  };
  let prevFirst = 0;
  let prevLast = 0;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    const first = starts.length;
    let x = 0;
    while (x < w) {
      if (data[row + x] === 0) {
        x++;
        continue;
      }
      const s = x;
      while (x < w && data[row + x] !== 0) x++;
      const id = starts.length;
      starts.push(s);
      ends.push(x);
      rows.push(y);
      if (id >= parent.length) {
        const grown = new Int32Array(parent.length * 2);
        grown.set(parent);
        parent = grown;
      }
      parent[id] = id;
      // Runs of the previous row overlapping [s - ext, x + ext): runs are sorted, so advance a cursor.
      while (prevFirst < prevLast && ends[prevFirst] + ext <= s) prevFirst++;
      for (let k = prevFirst; k < prevLast && starts[k] < x + ext; k++) {
        const ra = find(id);
        const rb = find(k);
        if (ra !== rb) {
          if (ra < rb) parent[rb] = ra;
          else parent[ra] = rb;
        }
      }
    }
    prevFirst = first;
    prevLast = starts.length;
  }
  const labels = new Int32Array(w * h);
  const sizes: number[] = [];
  const labelOf = new Int32Array(starts.length);
  let count = 0;
  for (let id = 0; id < starts.length; id++) {
    const root = find(id);
    // Roots are always the smallest run id of their component, i.e. its first run in row-major order.
    if (root === id) {
      labelOf[id] = ++count;
      sizes.push(0);
    }
    const label = labelOf[root];
    labelOf[id] = label;
    sizes[label - 1] += ends[id] - starts[id];
    labels.fill(label, rows[id] * w + starts[id], rows[id] * w + ends[id]);
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
