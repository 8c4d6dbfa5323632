/**
 * Exact Euclidean distance transform in linear time (Felzenszwalb & Huttenlocher, "Distance Transforms of
 * Sampled Functions", Theory of Computing 2012): a 1-D pass down every column, then the lower envelope of
 * parabolas along every row. Distances are squared and may be anisotropic: one row step is `sy`, one
 * column step is `sx` (e.g. millimetres per pixel).
 */

/** Reusable scratch buffers, so repeated transforms allocate nothing per pixel. */
interface Scratch {
  /** Column pass: last / next feature row per column. */
  near: Int32Array;
  /** Row pass: envelope vertices, their heights f(v), f(v) + a v^2, and boundaries. */
  v: Int32Array;
  fv: Float64Array;
  hv: Float64Array;
  z: Float64Array;
}

let scratch: Scratch = {
  near: new Int32Array(0),
  v: new Int32Array(0),
  fv: new Float64Array(0),
  hv: new Float64Array(0),
  z: new Float64Array(0),
};

function scratchFor(n: number): Scratch {
  if (scratch.v.length < n) {
    scratch = {
      near: new Int32Array(n),
      v: new Int32Array(n),
      fv: new Float64Array(n),
      hv: new Float64Array(n),
      z: new Float64Array(n + 1),
    };
  }
  return scratch;
}

/**
 * Squared Euclidean distance from every pixel to the nearest feature pixel (`feature[y * width + x] !== 0`),
 * in squared spacing units; `Infinity` everywhere when there is no feature. `spacing` is [sy, sx].
 * Pass `out` (length width x height) to reuse memory.
 */
export function squaredDistanceTransform(
  feature: Uint8Array,
  width: number,
  height: number,
  spacing: readonly [number, number] = [1, 1],
  out?: Float64Array,
): Float64Array {
  return transform(feature, null, width, height, spacing, out);
}

/**
 * Like `squaredDistanceTransform`, but the result is only guaranteed at pixels where `query` is nonzero
 * (other entries hold intermediate values); rows without query pixels skip the row pass. Used for surface
 * distances, where only border pixels of the other mask are read.
 */
export function squaredDistancesAt(
  feature: Uint8Array,
  query: Uint8Array,
  width: number,
  height: number,
  spacing: readonly [number, number] = [1, 1],
  out?: Float64Array,
): Float64Array {
  if (query.length !== width * height) {
    throw new RangeError(`query length ${query.length} does not match ${width}x${height}`);
  }
  return transform(feature, query, width, height, spacing, out);
}

function transform(
  feature: Uint8Array,
  query: Uint8Array | null,
  width: number,
  height: number,
  spacing: readonly [number, number],
  out: Float64Array | undefined,
): Float64Array {
  const n = width * height;
  if (feature.length !== n) {
    throw new RangeError(`feature length ${feature.length} does not match ${width}x${height}`);
  }
  const d = out && out.length >= n ? out : new Float64Array(n);
  const sy2 = spacing[0] * spacing[0];
  const sx2 = spacing[1] * spacing[1];
  const { near, v, fv, hv, z } = scratchFor(width);
  // Columns: rows to the nearest feature above (forward sweep) and below (backward sweep). Sweeping whole
  // rows at a time with one tracker per column keeps memory access sequential.
  near.fill(-1, 0, width);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      if (feature[i] !== 0) {
        near[x] = y;
        d[i] = 0;
      } else {
        const l = near[x];
        d[i] = l < 0 ? Infinity : y - l;
      }
    }
  }
  near.fill(-1, 0, width);
  for (let y = height - 1; y >= 0; y--) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const i = row + x;
      if (feature[i] !== 0) {
        near[x] = y;
        continue;
      }
      let dy = d[i];
      const b = near[x];
      if (b >= 0 && b - y < dy) dy = b - y;
      d[i] = dy === Infinity ? Infinity : dy * dy * sy2;
    }
  }
  // Rows: lower envelope of the parabolas sx2 (x - q)^2 + f(q) over the finite f(q), then read it off.
  const a = sx2;
  const inv2a = 1 / (2 * a);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let first = 0;
    let last = width - 1;
    if (query !== null) {
      while (first < width && query[row + first] === 0) first++;
      if (first === width) continue;
      while (query[row + last] === 0) last--;
      if (nearestInRow(d, query, row, first, last, width, a, v, fv)) continue;
    }
    let k = -1;
    for (let q = 0; q < width; q++) {
      const fq = d[row + q];
      if (fq === Infinity) continue;
      const hq = fq + a * q * q;
      if (k < 0) {
        k = 0;
        v[0] = q;
        fv[0] = fq;
        hv[0] = hq;
        z[0] = -Infinity;
        z[1] = Infinity;
        continue;
      }
      let s = ((hq - hv[k]) * inv2a) / (q - v[k]);
      while (s <= z[k]) {
        k--;
        s = ((hq - hv[k]) * inv2a) / (q - v[k]);
      }
      k++;
      v[k] = q;
      fv[k] = fq;
      hv[k] = hq;
      z[k] = s;
      z[k + 1] = Infinity;
    }
    if (k < 0) continue;
    let j = 0;
    if (query === null) {
      for (let q = 0; q < width; q++) {
        while (z[j + 1] < q) j++;
        const dq = q - v[j];
        d[row + q] = a * dq * dq + fv[j];
      }
    } else {
      for (let q = first; q <= last; q++) {
        while (z[j + 1] < q) j++;
        if (query[row + q] === 0) continue;
        const dq = q - v[j];
        d[row + q] = a * dq * dq + fv[j];
      }
    }
  }
  return d;
}

/**
 * The row pass for a few query pixels when that is cheaper than the envelope: each query searches outward
 * from its own column and stops once the horizontal term alone, a r^2, reaches the best value found, which
 * is exact. Border queries sit close to the other border, so each search is short. Returns false (nothing
 * written) when the estimated work exceeds a few envelope passes, e.g. many far queries in one row.
 */
function nearestInRow(
  d: Float64Array,
  query: Uint8Array,
  row: number,
  first: number,
  last: number,
  width: number,
  a: number,
  idx: Int32Array,
  res: Float64Array,
): boolean {
  let budget = 4 * width;
  let m = 0;
  for (let q = first; q <= last; q++) {
    if (query[row + q] === 0) continue;
    const f = d[row + q];
    budget -= f === Infinity ? width : 2 * Math.sqrt(f / a) + 1;
    if (budget < 0) return false;
    idx[m++] = q;
  }
  // Results go to a side buffer first: later queries still read this row's column-pass values.
  for (let t = 0; t < m; t++) {
    const q = idx[t];
    let best = d[row + q];
    for (let r = 1; a * r * r < best; r++) {
      const ar2 = a * r * r;
      if (q - r >= 0) {
        const c = ar2 + d[row + q - r];
        if (c < best) best = c;
      }
      if (q + r < width) {
        const c = ar2 + d[row + q + r];
        if (c < best) best = c;
      } else if (q - r < 0) {
        break;
      }
    }
    res[t] = best;
  }
  for (let t = 0; t < m; t++) d[row + idx[t]] = res[t];
  return true;
}

/** Euclidean distance (not squared) to the nearest feature pixel, in spacing units. */
export function distanceTransform(
  feature: Uint8Array,
  width: number,
  height: number,
  spacing: readonly [number, number] = [1, 1],
): Float64Array {
  const d = squaredDistanceTransform(feature, width, height, spacing);
  for (let i = 0; i < d.length; i++) d[i] = Math.sqrt(d[i]);
  return d;
}
