/**
 * Prompt simulation for strategies S1-S6 of "Segment Anything Model for Medical Images?" (Huang et al., MedIA
 * 2024), as DESIGN.md "Benchmark protocol" describes the released code. Two modes:
 * - `faithful` reproduces the released code, quirks included (truncated centroid that may fall outside the
 *   object, `fg[::int(n/5)]` giving 5 to 9 positives, a 6th positive labelled 0 in S4, the 5th negative
 *   dropped, failures on objects under 5 pixels or windows with under 5 background pixels);
 * - `corrected` keeps the idea and fixes the quirks: the centroid is moved to the nearest object pixel when
 *   outside, up to 5 positives and up to 5 negatives, labels always match, and it never fails on a non-empty
 *   object.
 * Coordinates are pixels (x right, y down); boxes are [x0, y0, x1, y1], tight and inclusive.
 */
import type { BinaryMask } from './mask.ts';
import type { PromptPoint } from './segmenter.ts';

/** The six prompting strategies of the paper. */
export type Strategy = 'S1' | 'S2' | 'S3' | 'S4' | 'S5' | 'S6';

/** All strategies, in the paper's order. */
export const STRATEGIES: readonly Strategy[] = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6'];

/** How points are derived: as the released code does, or with its quirks fixed. */
export type PromptMode = 'faithful' | 'corrected';

/** A box [x0, y0, x1, y1] in pixels, inclusive. */
export type Box = [number, number, number, number];

/** The prompt for one object: points in pixel coordinates and an optional box. */
export interface ObjectPrompt {
  points: PromptPoint[];
  box?: Box;
}

/** SAM's automatic mask generator settings of strategy S1 (everything mode), as the paper uses them. */
export interface EverythingModeParams {
  /** Points per side of the regular grid (32 x 32 = 1024 prompts). */
  pointsPerSide: number;
  pointsPerBatch: number;
  predIouThresh: number;
  stabilityScoreThresh: number;
  stabilityScoreOffset: number;
  boxNmsThresh: number;
  /** Candidates per grid point (SAM's multimask output). */
  masksPerPoint: number;
}

/** S1 parameters: 32x32 grid, pred_iou_thresh 0.88, stability 0.95 (offset 1.0), box NMS 0.7, batch 64. */
export const EVERYTHING_MODE: Readonly<EverythingModeParams> = Object.freeze({
  pointsPerSide: 32,
  pointsPerBatch: 64,
  predIouThresh: 0.88,
  stabilityScoreThresh: 0.95,
  stabilityScoreOffset: 1.0,
  boxNmsThresh: 0.7,
  masksPerPoint: 3,
});

/** Why a prompt could not be made; `empty` objects fail in both modes, the others only in `faithful` mode. */
export type PromptFailure = 'empty-object' | 'object-under-5-pixels' | 'window-under-5-background-pixels';

/** The outcome of simulating one strategy on one object. */
export type PromptResult =
  | {
      ok: true;
      strategy: Strategy;
      mode: PromptMode;
      prompt: ObjectPrompt;
      everything?: EverythingModeParams;
    }
  | { ok: false; strategy: Strategy; mode: PromptMode; failure: PromptFailure; reason: string };

/** Every intermediate quantity of the point derivation, for inspection and tests. */
export interface PromptGeometry {
  /** Object pixel count (m00). */
  area: number;
  /** The centroid as used (faithful: truncated moments; corrected: moved inside when needed). */
  centroid: { x: number; y: number };
  /** Whether the truncated centroid lies inside the object. */
  centroidInside: boolean;
  /** Tight inclusive box [x0, y0, x1, y1]. */
  box: Box;
  /** `int(n / 5)`; 0 for objects under 5 pixels. */
  step: number;
  /** Positive points in order, the centroid first. */
  positives: Array<{ x: number; y: number }>;
  /** The negative window after clamping and truncation: columns x..x+width-1, rows y..y+height-1. */
  window: { x: number; y: number; width: number; height: number };
  /** Background pixels in the window. */
  windowBackground: number;
  /** `int(nb / 5)`; 0 for windows under 5 background pixels. */
  stepBackground: number;
  /** Negative points in order. */
  negatives: Array<{ x: number; y: number }>;
}

/** A mask whose data does not match its size. */
export class PromptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PromptError';
  }
}

/**
 * Derives centroid, box, window, positives and negatives of an object (mask nonzero = object), or null for
 * an empty mask. In `faithful` mode positives are `[centroid] + fg[::step][1:]` and negatives `bg[::step_bg]`
 * (empty when the step is 0); in `corrected` mode up to 5 of each.
 */
export function promptGeometry(mask: BinaryMask, mode: PromptMode): PromptGeometry | null {
  const { width: W, height: H, data } = mask;
  if (data.length !== W * H) {
    throw new PromptError(`mask data has ${data.length} values, expected ${W}x${H} = ${W * H}`);
  }
  let n = 0;
  let m10 = 0;
  let m01 = 0;
  let x0 = W;
  let y0 = H;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < H; y++) {
    const row = y * W;
    for (let x = 0; x < W; x++) {
      if (data[row + x] === 0) continue;
      n++;
      m10 += x;
      m01 += y;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      y1 = y;
    }
  }
  if (n === 0) return null;
  // Image moments of the 0/1 mask, truncated like Python's int().
  const cx = Math.trunc(m10 / n);
  const cy = Math.trunc(m01 / n);
  const inside = data[cy * W + cx] !== 0;
  const centroid = mode === 'corrected' && !inside ? nearestInside(mask, cx, cy) : { x: cx, y: cy };

  const step = Math.trunc(n / 5);
  const positives: Array<{ x: number; y: number }> = [centroid];
  if (mode === 'faithful') {
    if (step > 0) {
      const picks = new Set<number>();
      for (let k = step; k < n; k += step) picks.add(k);
      positives.push(...pixelsAtIndices(mask, picks, 0, 0, W, H, true));
    }
  } else {
    const s = Math.max(1, step);
    const picks = new Set<number>();
    for (let k = 1; k <= 4 && k * s < n; k++) picks.add(k * s);
    positives.push(...pixelsAtIndices(mask, picks, 0, 0, W, H, true));
  }

  // The negative window, with the released code's float arithmetic, clamping and separate truncations.
  const w = x1 - x0;
  const h = y1 - y0;
  let X1 = x0 - w / 2;
  let Y1 = y0 - h / 2;
  let X2 = X1 + 2 * w;
  let Y2 = Y1 + 2 * h;
  if (X1 < 0) X1 = 0;
  if (Y1 < 0) Y1 = 0;
  if (X2 >= W) X2 = W;
  if (Y2 >= H) Y2 = H;
  const wx = Math.trunc(X1);
  const wy = Math.trunc(Y1);
  const ww = Math.max(0, Math.min(Math.trunc(X2 - X1), W - wx));
  const wh = Math.max(0, Math.min(Math.trunc(Y2 - Y1), H - wy));
  let nb = 0;
  for (let y = wy; y < wy + wh; y++) {
    for (let x = wx; x < wx + ww; x++) if (data[y * W + x] === 0) nb++;
  }
  const stepBg = Math.trunc(nb / 5);
  const negPicks = new Set<number>();
  if (mode === 'faithful') {
    if (stepBg > 0) for (let k = 0; k < nb; k += stepBg) negPicks.add(k);
  } else if (nb > 0) {
    const s = Math.max(1, stepBg);
    for (let k = 0; k < 5 && k * s < nb; k++) negPicks.add(k * s);
  }
  const negatives = pixelsAtIndices(mask, negPicks, wx, wy, ww, wh, false);
  return {
    area: n,
    centroid,
    centroidInside: inside,
    box: [x0, y0, x1, y1],
    step,
    positives,
    window: { x: wx, y: wy, width: ww, height: wh },
    windowBackground: nb,
    stepBackground: stepBg,
    negatives,
  };
}

/**
 * The pixels (x, y) whose rank among the inside (or outside) pixels of a window, counted in row-major order,
 * is in `ranks`; returned in rank order.
 */
function pixelsAtIndices(
  mask: BinaryMask,
  ranks: Set<number>,
  wx: number,
  wy: number,
  ww: number,
  wh: number,
  inside: boolean,
): Array<{ x: number; y: number }> {
  const out: Array<{ x: number; y: number }> = [];
  if (ranks.size === 0) return out;
  const { width: W, data } = mask;
  let rank = 0;
  for (let y = wy; y < wy + wh; y++) {
    for (let x = wx; x < wx + ww; x++) {
      if ((data[y * W + x] !== 0) !== inside) continue;
      if (ranks.has(rank)) {
        out.push({ x, y });
        if (out.length === ranks.size) return out;
      }
      rank++;
    }
  }
  return out;
}

/** The object pixel nearest to (cx, cy) (squared Euclidean; ties: first in row-major order). */
function nearestInside(mask: BinaryMask, cx: number, cy: number): { x: number; y: number } {
  const { width: W, height: H, data } = mask;
  let best = Infinity;
  let bx = cx;
  let by = cy;
  for (let y = 0; y < H; y++) {
    const dy2 = (y - cy) * (y - cy);
    if (dy2 > best) continue;
    for (let x = 0; x < W; x++) {
      if (data[y * W + x] === 0) continue;
      const d = dy2 + (x - cx) * (x - cx);
      if (d < best) {
        best = d;
        bx = x;
        by = y;
      }
    }
  }
  return { x: bx, y: by };
}

/**
 * Simulates one strategy on one object mask (nonzero = object). S1 needs no per-object prompt and returns
 * the everything-mode parameters with no points. In `faithful` mode S2-S6 fail together when the released
 * code would (it computes all ten points before choosing).
 */
export function simulatePrompt(mask: BinaryMask, strategy: Strategy, mode: PromptMode): PromptResult {
  if (strategy === 'S1')
    return { ok: true, strategy, mode, prompt: { points: [] }, everything: EVERYTHING_MODE };
  const g = promptGeometry(mask, mode);
  if (g === null) {
    return { ok: false, strategy, mode, failure: 'empty-object', reason: 'the object mask has no pixels' };
  }
  if (mode === 'faithful') {
    if (g.step === 0) {
      return {
        ok: false,
        strategy,
        mode,
        failure: 'object-under-5-pixels',
        reason: `the object has ${g.area} pixels; fg[::int(n/5)] has a zero step under 5 pixels`,
      };
    }
    if (g.stepBackground === 0) {
      return {
        ok: false,
        strategy,
        mode,
        failure: 'window-under-5-background-pixels',
        reason: `the negative window has ${g.windowBackground} background pixels; bg[::int(nb/5)] has a zero step under 5`,
      };
    }
  }
  const box = g.box;
  const centre: PromptPoint = { ...g.centroid, label: 1 };
  const prompt = ((): ObjectPrompt => {
    switch (strategy) {
      case 'S2':
        return { points: [centre] };
      case 'S3':
        return { points: g.positives.slice(0, 5).map((p) => ({ ...p, label: 1 as const })) };
      case 'S4':
        return { points: mode === 'faithful' ? faithfulTen(g) : correctedAll(g) };
      case 'S5':
        return { points: [], box };
      case 'S6':
        return { points: [centre], box };
      default: {
        const never: never = strategy;
        throw new PromptError(`unknown strategy ${String(never)}`);
      }
    }
  })();
  return { ok: true, strategy, mode, prompt };
}

/** The released code's ten points: the first 10 of positives + negatives, labelled [1]*5 + [0]*5. */
function faithfulTen(g: PromptGeometry): PromptPoint[] {
  const all = [...g.positives, ...g.negatives].slice(0, 10);
  return all.map((p, i) => ({ x: p.x, y: p.y, label: i < 5 ? 1 : 0 }));
}

function correctedAll(g: PromptGeometry): PromptPoint[] {
  return [
    ...g.positives.map((p) => ({ x: p.x, y: p.y, label: 1 as const })),
    ...g.negatives.map((p) => ({ x: p.x, y: p.y, label: 0 as const })),
  ];
}
