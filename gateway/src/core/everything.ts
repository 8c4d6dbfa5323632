/**
 * SAM's "everything" (automatic mask generation) post-processing as pure functions: the point grid, the
 * stability score, mask bounding boxes, box non-maximum suppression and the filter chain of
 * `SamAutomaticMaskGenerator` with one crop (the paper's strategy S1: 32x32 grid, pred_iou_thresh 0.88,
 * stability_score_thresh 0.95 with offset 1.0, box_nms_thresh 0.7, 64 points per batch, 3 masks per point).
 */
import { maskBounds, type BinaryMask } from './mask.ts';
import { EVERYTHING_MODE } from './prompts.ts';
import { decodeRle, encodeRle, type CocoRle } from './rle.ts';

/** S1's automatic-mask-generator settings (the same object as core/prompts' `EVERYTHING_MODE`). */
export const EVERYTHING_DEFAULTS = EVERYTHING_MODE;

/** Options of {@link filterEverythingMasks}; every field defaults to S1's `EVERYTHING_MODE` (core/prompts). */
export interface EverythingFilterOptions {
  predIouThresh?: number;
  stabilityScoreThresh?: number;
  boxNmsThresh?: number;
}

/** One mask produced for one grid point, with the decoder's scores. */
export interface EverythingCandidate {
  mask: BinaryMask;
  predictedIou: number;
  stabilityScore: number;
}

/**
 * The grid of SAM's automatic mask generator in image pixels: `n` points per side at
 * `(i + 0.5) / n` of the width and height, row by row (x varies fastest), as `build_point_grid` scaled by
 * the image size.
 */
export function gridPoints(pointsPerSide: number, width: number, height: number): Array<[number, number]> {
  if (!Number.isInteger(pointsPerSide) || pointsPerSide < 1) {
    throw new RangeError(`pointsPerSide must be an integer >= 1, got ${pointsPerSide}`);
  }
  if (!(width > 0) || !(height > 0)) {
    throw new RangeError(`image size must be positive, got ${width}x${height}`);
  }
  const out: Array<[number, number]> = [];
  const offset = 1 / (2 * pointsPerSide);
  const step = pointsPerSide > 1 ? (1 - 2 * offset) / (pointsPerSide - 1) : 0;
  for (let j = 0; j < pointsPerSide; j++) {
    const fy = offset + j * step;
    for (let i = 0; i < pointsPerSide; i++) {
      const fx = offset + i * step;
      out.push([fx * width, fy * height]);
    }
  }
  return out;
}

/**
 * SAM's stability score of mask logits: the IoU between the mask thresholded at `threshold + offset` and at
 * `threshold - offset` (`calculate_stability_score`). An empty low-threshold mask gives 0/0 in SAM (NaN,
 * which fails every threshold); it is returned as 0 here so it fails the same way.
 */
export function stabilityScore(logits: ArrayLike<number>, threshold = 0, offset = 1.0): number {
  let inter = 0;
  let union = 0;
  const hi = threshold + offset;
  const lo = threshold - offset;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (v > hi) inter++;
    if (v > lo) union++;
  }
  return union === 0 ? 0 : inter / union;
}

/** IoU of two `[x0, y0, x1, y1]` boxes with torchvision's area convention `(x1 - x0) * (y1 - y0)`. */
export function boxIou(a: readonly number[], b: readonly number[]): number {
  const areaA = Math.max(0, a[2] - a[0]) * Math.max(0, a[3] - a[1]);
  const areaB = Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  const union = areaA + areaB - inter;
  return union <= 0 ? 0 : inter / union;
}

/**
 * Greedy box non-maximum suppression (torchvision `nms`): visits boxes by decreasing score (ties keep the
 * earlier index first) and drops any box whose IoU with a kept box exceeds `iouThresh`. Returns kept indices
 * in visiting order.
 */
export function boxNms(
  boxes: ReadonlyArray<readonly number[]>,
  scores: readonly number[],
  iouThresh: number,
): number[] {
  if (boxes.length !== scores.length) {
    throw new RangeError(`boxNms: ${boxes.length} boxes but ${scores.length} scores`);
  }
  const order = boxes.map((_, i) => i).sort((i, j) => scores[j] - scores[i] || i - j);
  const kept: number[] = [];
  for (const i of order) {
    if (kept.every((k) => boxIou(boxes[k], boxes[i]) <= iouThresh)) kept.push(i);
  }
  return kept;
}

/**
 * SAM's automatic-mask filter chain for one crop covering the whole image: keep masks with predicted IoU
 * above `predIouThresh` and stability above `stabilityScoreThresh` (strict, as SAM's `>`), drop empty masks,
 * then box NMS at `boxNmsThresh` scored by predicted IoU. Returns the kept candidates, best first.
 */
export function filterEverythingMasks<T extends EverythingCandidate>(
  candidates: readonly T[],
  options: EverythingFilterOptions = {},
): T[] {
  const predIouThresh = options.predIouThresh ?? EVERYTHING_MODE.predIouThresh;
  const stabilityThresh = options.stabilityScoreThresh ?? EVERYTHING_MODE.stabilityScoreThresh;
  const nmsThresh = options.boxNmsThresh ?? EVERYTHING_MODE.boxNmsThresh;
  const survivors: T[] = [];
  const boxes: Array<[number, number, number, number]> = [];
  for (const c of candidates) {
    if (!(c.predictedIou > predIouThresh) || !(c.stabilityScore >= stabilityThresh)) continue;
    const box = maskBounds(c.mask);
    if (box === null) continue;
    survivors.push(c);
    boxes.push(box);
  }
  const kept = boxNms(
    boxes,
    survivors.map((c) => c.predictedIou),
    nmsThresh,
  );
  return kept.map((i) => survivors[i]);
}

/** Splits `items` into consecutive batches of at most `size` (SAM's points_per_batch). */
export function batches<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`batch size must be an integer >= 1, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Options of {@link everythingOnGrid}; every field defaults to S1's `EVERYTHING_MODE` (core/prompts). */
export interface EverythingGridOptions extends EverythingFilterOptions {
  pointsPerSide?: number;
  pointsPerBatch?: number;
  /** Stops the run before its next batch (client gone, deadline passed); throws the signal's reason. */
  signal?: AbortSignal;
}

/** A mask {@link everythingOnGrid} kept, with its position among every candidate the grid produced. */
export interface KeptEverythingMask<T extends EverythingCandidate> {
  candidate: T;
  /** 0-based position of the candidate among all candidates of the grid, in decoding order. */
  gridIndex: number;
}

/**
 * SAM's automatic mask generator with one crop over any decoder: prompts the grid of
 * {@link gridPoints} in batches of `pointsPerBatch` single positive points (`decodeBatch` returns the
 * candidate masks of each point, in order), keeps per batch the masks above the predicted-IoU and stability
 * thresholds, then runs {@link filterEverythingMasks}' box NMS over all survivors. Survivors wait as COCO RLE
 * (as SAM keeps them), so memory holds compressed masks only, however large the image. Returns the kept
 * masks best first, the grid size and the number of candidates considered.
 */
export async function everythingOnGrid<T extends EverythingCandidate>(
  decodeBatch: (points: Array<[number, number]>) => Promise<T[][]>,
  width: number,
  height: number,
  options: EverythingGridOptions = {},
): Promise<{ kept: Array<KeptEverythingMask<T>>; pointsEvaluated: number; candidatesConsidered: number }> {
  const predIouThresh = options.predIouThresh ?? EVERYTHING_MODE.predIouThresh;
  const stabilityThresh = options.stabilityScoreThresh ?? EVERYTHING_MODE.stabilityScoreThresh;
  const grid = gridPoints(options.pointsPerSide ?? EVERYTHING_MODE.pointsPerSide, width, height);
  const survivors: Array<{
    rest: Omit<T, 'mask'>;
    rle: CocoRle;
    box: [number, number, number, number];
    gridIndex: number;
  }> = [];
  let considered = 0;
  for (const batch of batches(grid, options.pointsPerBatch ?? EVERYTHING_MODE.pointsPerBatch)) {
    options.signal?.throwIfAborted();
    for (const list of await decodeBatch(batch)) {
      for (const c of list) {
        const gridIndex = considered++;
        if (!(c.predictedIou > predIouThresh) || !(c.stabilityScore >= stabilityThresh)) continue;
        const box = maskBounds(c.mask);
        if (box === null) continue;
        const { mask, ...rest } = c;
        survivors.push({ rest, rle: encodeRle(mask), box, gridIndex });
      }
    }
  }
  const kept = boxNms(
    survivors.map((s) => s.box),
    survivors.map((s) => s.rest.predictedIou),
    options.boxNmsThresh ?? EVERYTHING_MODE.boxNmsThresh,
  );
  return {
    kept: kept.map((k) => {
      const s = survivors[k];
      return { candidate: { ...s.rest, mask: decodeRle(s.rle) } as T, gridIndex: s.gridIndex };
    }),
    pointsEvaluated: grid.length,
    candidatesConsidered: considered,
  };
}
