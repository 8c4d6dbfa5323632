/**
 * Elliptic Fourier descriptors of closed contours (Kuhl & Giardina, "Elliptic Fourier features of a closed
 * contour", Computer Graphics and Image Processing 18, 1982), with the contour tracing and polygon
 * rasterization needed to measure how well a truncated series reproduces a mask.
 * Contours here follow pixel edges ("crack" boundaries): vertices are pixel corners, pixel (x, y) being the
 * unit square [x, x+1) x [y, y+1), so the traced polygon encloses exactly the component's pixels.
 */
import type { BinaryMask } from './mask.ts';

/**
 * Traces the outer boundary of the 4-connected component that contains the first foreground pixel in
 * row-major order, clockwise on screen (x right, y down), as pixel-corner vertices with collinear vertices
 * removed: interleaved [x0, y0, x1, y1, ...]. Null for an empty mask. Corner-touching pixels are not
 * connected (4-connectivity), so the path never crosses a diagonal gap; holes are ignored.
 */
export function traceOuterContour(mask: BinaryMask): Float64Array | null {
  const { width: W, height: H, data } = mask;
  let start = -1;
  for (let i = 0; i < W * H; i++) {
    if (data[i] !== 0) {
      start = i;
      break;
    }
  }
  if (start < 0) return null;
  const inside = (x: number, y: number): boolean =>
    x >= 0 && y >= 0 && x < W && y < H && data[y * W + x] !== 0;
  const sy = (start / W) | 0;
  const sx = start - sy * W;
  // Directions 0 E, 1 S, 2 W, 3 N (y down); the inside stays on the right of the walk.
  const DX = [1, 0, -1, 0];
  const DY = [0, 1, 0, -1];
  const verts: number[] = [sx, sy];
  let vx = sx + 1;
  let vy = sy;
  let dir = 0;
  while (true) {
    // The two pixels ahead of vertex (vx, vy) on the left and right of direction dir.
    let lx: number, ly: number, rx: number, ry: number;
    switch (dir) {
      case 0:
        [lx, ly, rx, ry] = [vx, vy - 1, vx, vy];
        break;
      case 1:
        [lx, ly, rx, ry] = [vx, vy, vx - 1, vy];
        break;
      case 2:
        [lx, ly, rx, ry] = [vx - 1, vy, vx - 1, vy - 1];
        break;
      default:
        [lx, ly, rx, ry] = [vx - 1, vy - 1, vx, vy - 1];
        break;
    }
    let next: number;
    if (!inside(rx, ry)) next = (dir + 1) & 3;
    else if (inside(lx, ly)) next = (dir + 3) & 3;
    else next = dir;
    if (next !== dir) verts.push(vx, vy);
    if (vx === sx && vy === sy && next === 0) break;
    dir = next;
    vx += DX[dir];
    vy += DY[dir];
  }
  // The start vertex was pushed first and again as the closing turn; drop the repeat.
  verts.length -= 2;
  return Float64Array.from(verts);
}

/** Elliptic Fourier coefficients of orders 1..order, plus the DC offsets A0, C0. */
export interface EllipticFourierSeries {
  order: number;
  a0: number;
  c0: number;
  /** [a1, b1, c1, d1, a2, b2, c2, d2, ...]: x(t) = A0 + sum a cos + b sin, y(t) = C0 + sum c cos + d sin. */
  coefficients: Float64Array;
  /** Contour length (the period T), in pixels. */
  perimeter: number;
}

/**
 * Kuhl-Giardina coefficients of a closed polygon (interleaved vertices, implicitly closed) up to `order`.
 * The series is parametrized by arc length t in [0, T).
 */
export function ellipticFourier(contour: Float64Array, order: number): EllipticFourierSeries {
  if (!Number.isInteger(order) || order < 1)
    throw new RangeError(`order must be an integer >= 1, got ${order}`);
  const k = contour.length / 2;
  if (k < 2 || !Number.isInteger(k)) throw new RangeError(`a contour needs at least 2 vertices, got ${k}`);
  const dx = new Float64Array(k);
  const dy = new Float64Array(k);
  const dt = new Float64Array(k);
  const t = new Float64Array(k + 1);
  let a0 = 0;
  let c0 = 0;
  for (let i = 0; i < k; i++) {
    const j = (i + 1) % k;
    dx[i] = contour[2 * j] - contour[2 * i];
    dy[i] = contour[2 * j + 1] - contour[2 * i + 1];
    dt[i] = Math.hypot(dx[i], dy[i]);
    t[i + 1] = t[i] + dt[i];
    // DC terms: the arc-length mean of the piecewise-linear contour.
    a0 += (dt[i] * (contour[2 * i] + contour[2 * j])) / 2;
    c0 += (dt[i] * (contour[2 * i + 1] + contour[2 * j + 1])) / 2;
  }
  const T = t[k];
  if (!(T > 0)) throw new RangeError('a contour of length 0 has no Fourier series');
  const coefficients = new Float64Array(4 * order);
  for (let n = 1; n <= order; n++) {
    const w = (2 * n * Math.PI) / T;
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    let cosPrev = 1;
    let sinPrev = 0;
    for (let i = 0; i < k; i++) {
      const cosI = Math.cos(w * t[i + 1]);
      const sinI = Math.sin(w * t[i + 1]);
      if (dt[i] > 0) {
        const ux = dx[i] / dt[i];
        const uy = dy[i] / dt[i];
        a += ux * (cosI - cosPrev);
        b += ux * (sinI - sinPrev);
        c += uy * (cosI - cosPrev);
        d += uy * (sinI - sinPrev);
      }
      cosPrev = cosI;
      sinPrev = sinI;
    }
    const f = T / (2 * n * n * Math.PI * Math.PI);
    coefficients.set([f * a, f * b, f * c, f * d], 4 * (n - 1));
  }
  return { order, a0: a0 / T, c0: c0 / T, coefficients, perimeter: T };
}

/** Samples the series truncated at `order` (0..series.order; 0 is the centre) at `samples` equally spaced t. */
export function reconstructContour(
  series: EllipticFourierSeries,
  order: number,
  samples: number,
): Float64Array {
  if (order > series.order) throw new RangeError(`order ${order} exceeds the series' ${series.order}`);
  const out = new Float64Array(2 * samples);
  const co = series.coefficients;
  for (let s = 0; s < samples; s++) {
    const theta = (2 * Math.PI * s) / samples;
    let x = series.a0;
    let y = series.c0;
    for (let n = 1; n <= order; n++) {
      const cs = Math.cos(n * theta);
      const sn = Math.sin(n * theta);
      const o = 4 * (n - 1);
      x += co[o] * cs + co[o + 1] * sn;
      y += co[o + 2] * cs + co[o + 3] * sn;
    }
    out[2 * s] = x;
    out[2 * s + 1] = y;
  }
  return out;
}

/**
 * Adds harmonic n of a series to sampled points in place (`poly` as from `reconstructContour` at order n - 1,
 * same sample count), so that orders can be reconstructed one after another in O(samples) each.
 */
export function addHarmonic(series: EllipticFourierSeries, n: number, poly: Float64Array): void {
  if (n < 1 || n > series.order) throw new RangeError(`harmonic ${n} is outside 1..${series.order}`);
  const samples = poly.length / 2;
  const o = 4 * (n - 1);
  const [a, b, c, d] = series.coefficients.subarray(o, o + 4);
  // cos/sin of n * theta_s by rotating with a fixed step instead of calling trig functions per sample.
  const step = (2 * Math.PI * n) / samples;
  const cs = Math.cos(step);
  const sn = Math.sin(step);
  let co = 1;
  let si = 0;
  for (let s = 0; s < samples; s++) {
    if ((s & 63) === 0) {
      // Re-anchor every 64 samples so rounding errors of the rotation cannot accumulate.
      co = Math.cos(step * s);
      si = Math.sin(step * s);
    }
    poly[2 * s] += a * co + b * si;
    poly[2 * s + 1] += c * co + d * si;
    const nc = co * cs - si * sn;
    si = si * cs + co * sn;
    co = nc;
  }
}

/**
 * Rasterizes a closed polygon (interleaved vertices) into a width x height mask whose pixel (x, y) covers
 * [ox + x, ox + x + 1) x [oy + y, oy + y + 1): a pixel is inside when its centre is (even-odd rule).
 */
export function rasterizePolygon(
  polygon: Float64Array,
  width: number,
  height: number,
  ox = 0,
  oy = 0,
  out?: Uint8Array,
): Uint8Array {
  const mask = out ?? new Uint8Array(width * height);
  mask.fill(0, 0, width * height);
  const k = polygon.length / 2;
  // Bucket each edge's crossings by row: the edge from y1 to y2 crosses the centre line yc of row r when
  // yc is in [min(y1, y2), max(y1, y2)), the half-open rule that counts shared vertices once.
  const rowOf = (v: number): number => Math.ceil(v - oy - 0.5);
  const counts = new Int32Array(height + 1);
  for (let i = 0; i < k; i++) {
    const j = i + 1 === k ? 0 : i + 1;
    const y1 = polygon[2 * i + 1];
    const y2 = polygon[2 * j + 1];
    if (y1 === y2) continue;
    const r0 = Math.max(0, rowOf(Math.min(y1, y2)));
    const r1 = Math.min(height, rowOf(Math.max(y1, y2)));
    for (let r = r0; r < r1; r++) counts[r + 1]++;
  }
  for (let r = 0; r < height; r++) counts[r + 1] += counts[r];
  const xs = new Float64Array(counts[height]);
  const fillAt = counts.slice(0, height);
  for (let i = 0; i < k; i++) {
    const j = i + 1 === k ? 0 : i + 1;
    const x1 = polygon[2 * i];
    const y1 = polygon[2 * i + 1];
    const y2 = polygon[2 * j + 1];
    if (y1 === y2) continue;
    const slope = (polygon[2 * j] - x1) / (y2 - y1);
    const r0 = Math.max(0, rowOf(Math.min(y1, y2)));
    const r1 = Math.min(height, rowOf(Math.max(y1, y2)));
    for (let r = r0; r < r1; r++) xs[fillAt[r]++] = x1 + (oy + r + 0.5 - y1) * slope;
  }
  for (let y = 0; y < height; y++) {
    const a = counts[y];
    const b = counts[y + 1];
    if (b - a < 2) continue;
    const row = xs.subarray(a, b).sort();
    for (let e = 0; e + 1 < row.length; e += 2) {
      // Pixel centres ox + x + 0.5 within [row[e], row[e+1]).
      const from = Math.max(0, Math.ceil(row[e] - ox - 0.5));
      const to = Math.min(width, Math.ceil(row[e + 1] - ox - 0.5));
      for (let x = from; x < to; x++) mask[y * width + x] = 1;
    }
  }
  return mask;
}
