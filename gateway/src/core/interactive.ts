/**
 * Interactive segmentation simulation (DESIGN.md "Benchmark protocol", Interactive): after the first
 * prompt, each next click goes to the interior point of the largest error region, positive on a missed
 * region (false negative), negative on a false one (false positive), and the previous low-res logits are fed
 * back. Conventions chosen here:
 * - error regions are 4-connected components of FN = gt & !pred and FP = pred & !gt; the largest by pixel
 *   count wins (ties: FN before FP, then the first in row-major order);
 * - the click is the maximum of the region's Euclidean distance transform where every pixel outside the
 *   region, and the image boundary, counts as border (as RITM pads the error mask); ties: first in row-major;
 * - the initial prompt counts as interaction 1, each click as one more; `maxInteractions` bounds the total;
 * - NoC@t is the first interaction count whose Dice reaches t (>=), or `maxInteractions` when never reached
 *   (RITM's convention);
 * - the area under the Dice-per-interaction curve is the trapezoid rule over unit steps divided by
 *   (length - 1), so a constant curve c scores c (a single point scores its value).
 */
import { labelComponents } from './connected-components.ts';
import { squaredDistanceTransform } from './distance-transform.ts';
import { pixelBounds, type BinaryMask } from './mask.ts';
import type { Box, ObjectPrompt } from './prompts.ts';
import type { PromptPoint } from './segmenter.ts';

/** The next simulated click. */
export interface Click {
  x: number;
  y: number;
  /** 1: the region was missed (false negative); 0: the region is a false positive. */
  label: 0 | 1;
  /** Pixel count of the chosen error region. */
  regionSize: number;
  /** Distance (pixels) from the click to the nearest pixel outside the region. */
  depth: number;
}

/** Where the next click goes for a prediction against a ground truth, or null when they agree exactly. */
export function nextClick(pred: BinaryMask, gt: BinaryMask): Click | null {
  if (pred.width !== gt.width || pred.height !== gt.height) {
    throw new RangeError(
      `prediction is ${pred.width}x${pred.height} but ground truth is ${gt.width}x${gt.height}`,
    );
  }
  // Everything below works on the bounding box of the disagreement, which holds every error region.
  const diff = pixelBounds(pred, gt)?.box;
  if (diff === undefined) return null;
  const [bx, by] = diff;
  const w = diff[2] - bx + 1;
  const h = diff[3] - by + 1;
  const n = w * h;
  const fn = new Uint8Array(n);
  const fp = new Uint8Array(n);
  for (let y = 0; y < h; y++) {
    const src = (by + y) * gt.width + bx;
    for (let x = 0; x < w; x++) {
      const p = pred.data[src + x] !== 0;
      const g = gt.data[src + x] !== 0;
      if (g && !p) fn[y * w + x] = 1;
      else if (p && !g) fp[y * w + x] = 1;
    }
  }
  let bestLabels: Int32Array | null = null;
  let bestLabel = 0;
  let bestSize = 0;
  let bestPositive = true;
  for (const [mask, positive] of [
    [fn, true],
    [fp, false],
  ] as const) {
    const cc = labelComponents({ width: w, height: h, data: mask }, 4);
    for (let k = 0; k < cc.count; k++) {
      if (cc.sizes[k] > bestSize) {
        bestSize = cc.sizes[k];
        bestLabel = k + 1;
        bestLabels = cc.labels;
        bestPositive = positive;
      }
    }
  }
  if (bestLabels === null) return null;
  // The region's bounding box plus a one-pixel frame: the frame holds the nearest outside pixel of every
  // region pixel (or stands for the image boundary), so the transform on this crop is exact.
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  for (let i = 0; i < n; i++) {
    if (bestLabels[i] !== bestLabel) continue;
    const y = (i / w) | 0;
    const x = i - y * w;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  const cw = x1 - x0 + 3;
  const ch = y1 - y0 + 3;
  const outside = new Uint8Array(cw * ch).fill(1);
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (bestLabels[y * w + x] === bestLabel) outside[(y - y0 + 1) * cw + (x - x0 + 1)] = 0;
    }
  }
  const d = squaredDistanceTransform(outside, cw, ch);
  let best = -1;
  let bi = 0;
  for (let i = 0; i < d.length; i++) {
    if (d[i] > best) {
      best = d[i];
      bi = i;
    }
  }
  const cy = (bi / cw) | 0;
  const cx = bi - cy * cw;
  return {
    x: cx - 1 + x0 + bx,
    y: cy - 1 + y0 + by,
    label: bestPositive ? 1 : 0,
    regionSize: bestSize,
    depth: Math.sqrt(best),
  };
}

/** Dice of two masks of one size; 1 when both are empty (nothing to find, nothing found). */
function diceOf(pred: BinaryMask, gt: BinaryMask): number {
  let pa = 0;
  let ga = 0;
  let inter = 0;
  for (let i = 0; i < gt.data.length; i++) {
    const p = pred.data[i] !== 0 ? 1 : 0;
    const g = gt.data[i] !== 0 ? 1 : 0;
    pa += p;
    ga += g;
    inter += p & g;
  }
  return pa + ga === 0 ? 1 : (2 * inter) / (pa + ga);
}

/** Number of interactions to reach `threshold` Dice (e.g. 0.85, 0.9); `maxInteractions` when never reached. */
export function numberOfClicks(
  diceCurve: readonly number[],
  threshold: number,
  maxInteractions?: number,
): number {
  const max = maxInteractions ?? diceCurve.length;
  for (let i = 0; i < diceCurve.length && i < max; i++) if (diceCurve[i] >= threshold) return i + 1;
  return max;
}

/** Area under the Dice-per-interaction curve, normalized to [0, 1] (trapezoids over unit steps / (n - 1)). */
export function diceCurveAuc(diceCurve: readonly number[]): number {
  const n = diceCurve.length;
  if (n === 0) return NaN;
  if (n === 1) return diceCurve[0];
  let s = 0;
  for (let i = 0; i + 1 < n; i++) s += (diceCurve[i] + diceCurve[i + 1]) / 2;
  return s / (n - 1);
}

/** What the model callback returns: the chosen binary mask and the low-res logits to feed back next time. */
export interface InteractivePrediction<L> {
  mask: BinaryMask;
  lowRes: L;
}

/** Runs the model on a prompt, given the previous step's low-res logits (null on the first step). */
export type InteractivePredict<L> = (
  prompt: ObjectPrompt,
  previousLowRes: L | null,
) => Promise<InteractivePrediction<L>>;

/** One session's outcome. */
export interface InteractiveResult {
  /** Dice after each interaction (index 0: the initial prompt), length maxInteractions. */
  dice: number[];
  /** The clicks added after the initial prompt, in order. */
  clicks: Click[];
  /** The last prompt sent. */
  finalPrompt: ObjectPrompt;
  noc85: number;
  noc90: number;
  auc: number;
  finalDice: number;
  /** True when the prediction became exact before the last interaction (the curve is padded with 1). */
  perfectEarly: boolean;
}

/** Options of `runInteractive`. */
export interface InteractiveOptions {
  /** Total interactions including the initial prompt; default 20. */
  maxInteractions?: number;
}

/**
 * Simulates an interactive session: the initial prompt, then clicks added one at a time (all earlier points
 * and the box are kept), each time calling `predict` with the previous low-res logits. Pure apart from the
 * callback. When the prediction is exact, no error region remains: the session stops and the Dice curve is
 * padded with that value.
 */
export async function runInteractive<L>(
  gt: BinaryMask,
  initial: ObjectPrompt,
  predict: InteractivePredict<L>,
  options: InteractiveOptions = {},
): Promise<InteractiveResult> {
  const max = options.maxInteractions ?? 20;
  if (!Number.isInteger(max) || max < 1)
    throw new RangeError(`maxInteractions must be an integer >= 1, got ${max}`);
  const points: PromptPoint[] = initial.points.map((p) => ({ ...p }));
  const box: Box | undefined = initial.box ? [...initial.box] : undefined;
  const promptNow = (): ObjectPrompt =>
    box ? { points: points.slice(), box: [...box] } : { points: points.slice() };
  const dice: number[] = [];
  const clicks: Click[] = [];
  let prompt = promptNow();
  let previous: L | null = null;
  let perfectEarly = false;
  for (let step = 0; step < max; step++) {
    const out = await predict(prompt, previous);
    if (out.mask.width !== gt.width || out.mask.height !== gt.height) {
      throw new RangeError(
        `predict returned a ${out.mask.width}x${out.mask.height} mask for a ${gt.width}x${gt.height} ground truth`,
      );
    }
    previous = out.lowRes;
    dice.push(diceOf(out.mask, gt));
    if (step === max - 1) break;
    const click = nextClick(out.mask, gt);
    if (click === null) {
      perfectEarly = true;
      while (dice.length < max) dice.push(dice[dice.length - 1]);
      break;
    }
    clicks.push(click);
    points.push({ x: click.x, y: click.y, label: click.label });
    prompt = promptNow();
  }
  return {
    dice,
    clicks,
    finalPrompt: prompt,
    noc85: numberOfClicks(dice, 0.85, max),
    noc90: numberOfClicks(dice, 0.9, max),
    auc: diceCurveAuc(dice),
    finalDice: dice[dice.length - 1],
    perfectEarly,
  };
}

/**
 * The CVPR 2025 foundation-model challenge protocol in 2-D: a box first, then `clicks` corrective clicks
 * (default 5), i.e. 1 + clicks interactions.
 */
export function runBoxThenClicks<L>(
  gt: BinaryMask,
  box: Box,
  predict: InteractivePredict<L>,
  clicks = 5,
): Promise<InteractiveResult> {
  return runInteractive(gt, { points: [], box }, predict, { maxInteractions: clicks + 1 });
}
