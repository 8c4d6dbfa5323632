/**
 * Exact Euclidean distance transform in linear time (Felzenszwalb & Huttenlocher, "Distance Transforms of
 * Sampled Functions", Theory of Computing 2012): a 1-D pass down every column, then the lower envelope of
 * parabolas along every row. Distances are squared and may be anisotropic: one row step is `sy`, one
 * column step is `sx` (e.g. millimetres per pixel).
 */

/** Reusable scratch buffers for row passes, so repeated transforms allocate nothing per pixel. */
interface Scratch {
  v: Int32Array;
  z: Float64Array;
  f: Float64Array;
}

let scratch: Scratch = { v: new Int32Array(0), z: new Float64Array(0), f: new Float64Array(0) };

function scratchFor(n: number): Scratch {
  if (scratch.v.length < n) {
    scratch = { v: new Int32Array(n), z: new Float64Array(n + 1), f: new Float64Array(n) };
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
  const n = width * height;
  if (feature.length !== n) {
    throw new RangeError(`feature length ${feature.length} does not match ${width}x${height}`);
  }
  const d = out && out.length >= n ? out : new Float64Array(n);
  const sy2 = spacing[0] * spacing[0];
  const sx2 = spacing[1] * spacing[1];
  // Columns: distance in rows to the nearest feature, by a forward then a backward scan.
  for (let x = 0; x < width; x++) {
    let last = -1;
    for (let y = 0, i = x; y < height; y++, i += width) {
      if (feature[i] !== 0) {
        last = y;
        d[i] = 0;
      } else {
        d[i] = last < 0 ? Infinity : y - last;
      }
    }
    last = -1;
    for (let y = height - 1, i = x + (height - 1) * width; y >= 0; y--, i -= width) {
      if (feature[i] !== 0) {
        last = y;
      } else if (last >= 0) {
        const dy = last - y;
        if (dy < d[i]) d[i] = dy;
      }
      const dy = d[i];
      d[i] = dy === Infinity ? Infinity : dy * dy * sy2;
    }
  }
  const { v, z, f } = scratchFor(width);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) f[x] = d[row + x];
    envelopeRow(f, width, sx2, v, z);
    for (let x = 0; x < width; x++) d[row + x] = f[x];
  }
  return d;
}

/**
 * One row of FH: replaces f[q] by min_p (a (q - p)^2 + f[p]) over finite f[p], in place. Infinite entries
 * are not parabolas and are skipped, so a row without finite entries stays infinite.
 */
function envelopeRow(f: Float64Array, n: number, a: number, v: Int32Array, z: Float64Array): void {
  let k = -1;
  for (let q = 0; q < n; q++) {
    const fq = f[q];
    if (fq === Infinity) continue;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    const hq = fq + a * q * q;
    let s: number;
    while (true) {
      const r = v[k];
      s = (hq - (f[r] + a * r * r)) / (2 * a * (q - r));
      if (s <= z[k]) k--;
      else break;
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  if (k < 0) return;
  // f is overwritten in place below, so the envelope's parabola heights are saved first.
  const count = k + 1;
  const heights = heightsFor(count);
  for (let i = 0; i < count; i++) heights[i] = f[v[i]];
  let j = 0;
  for (let q = 0; q < n; q++) {
    while (z[j + 1] < q) j++;
    const dq = q - v[j];
    f[q] = a * dq * dq + heights[j];
  }
}

let heightBuf = new Float64Array(0);
function heightsFor(n: number): Float64Array {
  if (heightBuf.length < n) heightBuf = new Float64Array(Math.max(n, 2 * heightBuf.length));
  return heightBuf;
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
