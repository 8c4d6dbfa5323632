/**
 * Segmentation metrics of the benchmark protocol (DESIGN.md "Benchmark protocol", Metrics): Dice, IoU,
 * Hausdorff distance, HD95, ASD (directed, prediction to ground truth, as the paper), ASSD (symmetric) and
 * normalized surface Dice (NSD) at a tolerance. Borders are `mask XOR erode(mask)` (4-connected cross,
 * outside the image is background); surface distances are Euclidean between border pixels, in pixels or in
 * spacing units (sy, sx). Everything distance-related runs on the crop of the union of both bounding boxes,
 * which is exact: all border pixels of both masks lie inside it.
 */
import { borderOfCrop } from './border.ts';
import { squaredDistancesAt } from './distance-transform.ts';
import type { BinaryMask } from './mask.ts';
import { percentileOfSorted } from './stats.ts';

/** Invalid metric input: masks of different sizes, bad spacing or tolerance. */
export class MetricsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricsError';
  }
}

/**
 * How empty masks are scored.
 * - `paper` (the released code): Dice, IoU and NSD are 0 when either or both masks are empty; HD, HD95, ASD
 *   and ASSD are 0 when either is empty (both empty included).
 * - `nan`: values that are undefined become NaN. Both empty: Dice, IoU, NSD and all distances NaN. Exactly one
 *   empty: Dice, IoU and NSD are 0 (their formulas are defined: nothing of the other mask is matched) and all
 *   distances NaN (there is no border to measure to).
 */
export type EmptyConvention = 'paper' | 'nan';

/** Options of `computeMetrics`. */
export interface MetricOptions {
  /** Physical size of one pixel step [sy, sx] (rows, columns), e.g. millimetres; default [1, 1] (pixels). */
  spacing?: readonly [number, number];
  /** NSD tolerance tau in the units of `spacing` (inclusive); default 2. */
  nsdTolerance?: number;
  /** Empty-mask convention; default `paper`. */
  convention?: EmptyConvention;
}

/** Every metric of one prediction against one ground truth (fractions, not x100; distances in spacing units). */
export interface SegmentationMetrics {
  dice: number;
  iou: number;
  /** Hausdorff distance: the larger of the two directed maxima. */
  hausdorff: number;
  /** 95th percentile (linear interpolation) of the directed distances of both directions pooled. */
  hd95: number;
  /** Average surface distance, directed: mean distance of prediction border pixels to the ground-truth border. */
  asd: number;
  /** Average symmetric surface distance: mean of both directions' distances pooled. */
  assd: number;
  /** Normalized surface Dice: share of border pixels of both masks within tau (inclusive) of the other border. */
  nsd: number;
  predArea: number;
  gtArea: number;
  intersection: number;
  predBorderPixels: number;
  gtBorderPixels: number;
}

/** Directed border-to-border distances of both masks (spacing units), in border-pixel row-major order. */
export interface SurfaceDistances {
  /** For each prediction border pixel, the distance to the nearest ground-truth border pixel. */
  predToGt: Float64Array;
  /** For each ground-truth border pixel, the distance to the nearest prediction border pixel. */
  gtToPred: Float64Array;
}

/** Dice coefficient, IoU, areas and intersection of two masks of one size (empty cases follow `convention`). */
export function overlapMetrics(
  pred: BinaryMask,
  gt: BinaryMask,
  convention: EmptyConvention = 'paper',
): { dice: number; iou: number; predArea: number; gtArea: number; intersection: number } {
  checkPair(pred, gt);
  const a = pred.data;
  const b = gt.data;
  let pa = 0;
  let ga = 0;
  let inter = 0;
  for (let i = 0; i < a.length; i++) {
    const p = a[i] !== 0 ? 1 : 0;
    const g = b[i] !== 0 ? 1 : 0;
    pa += p;
    ga += g;
    inter += p & g;
  }
  return { ...overlapFromCounts(pa, ga, inter, convention), predArea: pa, gtArea: ga, intersection: inter };
}

function overlapFromCounts(
  pa: number,
  ga: number,
  inter: number,
  convention: EmptyConvention,
): { dice: number; iou: number } {
  if (pa === 0 && ga === 0) {
    return convention === 'nan' ? { dice: NaN, iou: NaN } : { dice: 0, iou: 0 };
  }
  return { dice: (2 * inter) / (pa + ga), iou: inter / (pa + ga - inter) };
}

/** Dice coefficient of two masks (paper convention: 0 when both are empty). */
export function dice(pred: BinaryMask, gt: BinaryMask): number {
  return overlapMetrics(pred, gt).dice;
}

/**
 * Directed surface distances between the borders of two non-empty masks; null when either is empty.
 * Computed on the union of both bounding boxes.
 */
export function surfaceDistances(
  pred: BinaryMask,
  gt: BinaryMask,
  spacing: readonly [number, number] = [1, 1],
): SurfaceDistances | null {
  checkPair(pred, gt);
  checkSpacing(spacing);
  const scan = scanPair(pred, gt);
  const bp = scan.predBounds;
  const bg = scan.gtBounds;
  if (!bp || !bg) return null;
  return distancesInCrop(pred, gt, bp, bg, spacing);
}

function distancesInCrop(
  pred: BinaryMask,
  gt: BinaryMask,
  bp: [number, number, number, number],
  bg: [number, number, number, number],
  spacing: readonly [number, number],
): SurfaceDistances {
  const { width, height } = pred;
  const x0 = Math.min(bp[0], bg[0]);
  const y0 = Math.min(bp[1], bg[1]);
  const cw = Math.max(bp[2], bg[2]) - x0 + 1;
  const ch = Math.max(bp[3], bg[3]) - y0 + 1;
  const n = cw * ch;
  const work = workBuffers(n);
  // Views of exactly n elements: the scratch buffers may be larger.
  const borderP = work.borderP.subarray(0, n);
  const borderG = work.borderG.subarray(0, n);
  const np = borderOfCrop(pred.data, width, height, x0, y0, cw, ch, borderP);
  const ng = borderOfCrop(gt.data, width, height, x0, y0, cw, ch, borderG);
  const predToGt = new Float64Array(np);
  const gtToPred = new Float64Array(ng);
  const d = squaredDistancesAt(borderG, borderP, cw, ch, spacing, work.dist.subarray(0, n));
  let k = 0;
  for (let i = 0; i < n; i++) if (borderP[i] !== 0) predToGt[k++] = Math.sqrt(d[i]);
  squaredDistancesAt(borderP, borderG, cw, ch, spacing, d);
  k = 0;
  for (let i = 0; i < n; i++) if (borderG[i] !== 0) gtToPred[k++] = Math.sqrt(d[i]);
  return { predToGt, gtToPred };
}

type Box = [number, number, number, number];

/** Areas, intersection and inclusive bounds of both masks in one pass over the image. */
function scanPair(
  pred: BinaryMask,
  gt: BinaryMask,
): { predArea: number; gtArea: number; intersection: number; predBounds: Box | null; gtBounds: Box | null } {
  const { width } = pred;
  const a = pred.data;
  const b = gt.data;
  const n = a.length;
  const st = { pa: 0, ga: 0, inter: 0 };
  const pb: Box = [width, Infinity, -1, -1];
  const gb: Box = [width, Infinity, -1, -1];
  const visit = (i: number): void => {
    const p = a[i];
    const g = b[i];
    if ((p | g) === 0) return;
    const y = (i / width) | 0;
    const x = i - y * width;
    if (p !== 0) {
      st.pa++;
      if (g !== 0) st.inter++;
      if (x < pb[0]) pb[0] = x;
      if (x > pb[2]) pb[2] = x;
      if (y < pb[1]) pb[1] = y;
      if (y > pb[3]) pb[3] = y;
    }
    if (g !== 0) {
      st.ga++;
      if (x < gb[0]) gb[0] = x;
      if (x > gb[2]) gb[2] = x;
      if (y < gb[1]) gb[1] = y;
      if (y > gb[3]) gb[3] = y;
    }
  };
  let i = 0;
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    // Masks are mostly background: test four pixels of both masks per 32-bit word and skip empty words.
    const words = n >> 2;
    const wa = new Uint32Array(a.buffer, a.byteOffset, words);
    const wb = new Uint32Array(b.buffer, b.byteOffset, words);
    for (let k = 0; k < words; k++) {
      if ((wa[k] | wb[k]) === 0) continue;
      const base = k << 2;
      visit(base);
      visit(base + 1);
      visit(base + 2);
      visit(base + 3);
    }
    i = words << 2;
  }
  for (; i < n; i++) visit(i);
  return {
    predArea: st.pa,
    gtArea: st.ga,
    intersection: st.inter,
    predBounds: pb[3] < 0 ? null : pb,
    gtBounds: gb[3] < 0 ? null : gb,
  };
}

/** Scratch memory reused across calls: benchmarks call this once per object, thousands of times. */
let work = { borderP: new Uint8Array(0), borderG: new Uint8Array(0), dist: new Float64Array(0) };
function workBuffers(n: number): typeof work {
  if (work.dist.length < n) {
    work = { borderP: new Uint8Array(n), borderG: new Uint8Array(n), dist: new Float64Array(n) };
  }
  return work;
}

/**
 * HD95 alone: the 95th percentile (linear interpolation) of both directions' border distances pooled, in
 * spacing units; null when either mask is empty (use computeMetrics for the empty-mask conventions).
 */
export function hausdorff95(
  pred: BinaryMask,
  gt: BinaryMask,
  spacing: readonly [number, number] = [1, 1],
): number | null {
  const d = surfaceDistances(pred, gt, spacing);
  if (!d) return null;
  const pooled = new Float64Array(d.predToGt.length + d.gtToPred.length);
  pooled.set(d.predToGt, 0);
  pooled.set(d.gtToPred, d.predToGt.length);
  return percentileOfSorted(pooled.sort(), 95);
}

/** Computes every metric of the protocol for one prediction against one ground truth. */
export function computeMetrics(
  pred: BinaryMask,
  gt: BinaryMask,
  options: MetricOptions = {},
): SegmentationMetrics {
  const spacing = options.spacing ?? [1, 1];
  const tau = options.nsdTolerance ?? 2;
  const convention = options.convention ?? 'paper';
  checkSpacing(spacing);
  if (!(Number.isFinite(tau) && tau >= 0)) {
    throw new MetricsError(`NSD tolerance must be a finite number >= 0, got ${tau}`);
  }
  if (convention !== 'paper' && convention !== 'nan') {
    throw new MetricsError(`convention must be 'paper' or 'nan', got ${String(convention)}`);
  }
  checkPair(pred, gt);
  const scan = scanPair(pred, gt);
  const ov = overlapFromCounts(scan.predArea, scan.gtArea, scan.intersection, convention);
  const base = {
    dice: ov.dice,
    iou: ov.iou,
    predArea: scan.predArea,
    gtArea: scan.gtArea,
    intersection: scan.intersection,
  };
  if (scan.predBounds === null || scan.gtBounds === null) {
    const bothEmpty = scan.predBounds === null && scan.gtBounds === null;
    const dist = convention === 'paper' ? 0 : NaN;
    const nsd = convention === 'nan' && bothEmpty ? NaN : 0;
    return {
      ...base,
      hausdorff: dist,
      hd95: dist,
      asd: dist,
      assd: dist,
      nsd,
      predBorderPixels: scan.predBounds === null ? 0 : countBorder(pred, scan.predBounds),
      gtBorderPixels: scan.gtBounds === null ? 0 : countBorder(gt, scan.gtBounds),
    };
  }
  const { predToGt, gtToPred } = distancesInCrop(pred, gt, scan.predBounds, scan.gtBounds, spacing);
  const np = predToGt.length;
  const ng = gtToPred.length;
  const pooled = new Float64Array(np + ng);
  pooled.set(predToGt, 0);
  pooled.set(gtToPred, np);
  let sumP = 0;
  let within = 0;
  for (let i = 0; i < np; i++) {
    sumP += predToGt[i];
    if (predToGt[i] <= tau) within++;
  }
  let sumG = 0;
  for (let i = 0; i < ng; i++) {
    sumG += gtToPred[i];
    if (gtToPred[i] <= tau) within++;
  }
  pooled.sort();
  const total = np + ng;
  const h = ((total - 1) * 95) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, total - 1);
  return {
    ...base,
    hausdorff: pooled[total - 1],
    hd95: pooled[lo] + (h - lo) * (pooled[hi] - pooled[lo]),
    asd: sumP / np,
    assd: (sumP + sumG) / total,
    nsd: within / total,
    predBorderPixels: np,
    gtBorderPixels: ng,
  };
}

function countBorder(mask: BinaryMask, b: [number, number, number, number]): number {
  const cw = b[2] - b[0] + 1;
  const ch = b[3] - b[1] + 1;
  return borderOfCrop(mask.data, mask.width, mask.height, b[0], b[1], cw, ch, workBuffers(cw * ch).borderP);
}

function checkPair(pred: BinaryMask, gt: BinaryMask): void {
  if (pred.width !== gt.width || pred.height !== gt.height) {
    throw new MetricsError(
      `prediction is ${pred.width}x${pred.height} but ground truth is ${gt.width}x${gt.height} (width x height)`,
    );
  }
  for (const [name, m] of [
    ['prediction', pred],
    ['ground truth', gt],
  ] as const) {
    if (m.data.length !== m.width * m.height) {
      throw new MetricsError(`${name} data has ${m.data.length} values, expected ${m.width}x${m.height}`);
    }
  }
}

function checkSpacing(spacing: readonly [number, number]): void {
  if (
    !Array.isArray(spacing) ||
    spacing.length !== 2 ||
    !spacing.every((s) => typeof s === 'number' && Number.isFinite(s) && s > 0)
  ) {
    throw new MetricsError(
      `spacing must be [sy, sx] with two finite numbers > 0, got ${JSON.stringify(spacing)}`,
    );
  }
}
