/**
 * Seeded prompt perturbations for the paper's robustness study (DESIGN.md "Randomness"): the centre point
 * moved, and the box moved or enlarged, by a random amount in a band of 0-10, 10-20 or 20-30 pixels.
 * - Point shift: direction uniform in [0, 2 pi), distance uniform in [lo, hi); the new position is rounded to
 *   the nearest pixel and clamped to the image.
 * - Box enlargement: each of the four edges moves outward by its own amount, uniform in [lo, hi), rounded and
 *   clamped to the image.
 * - Box shift: the whole box translates by one vector drawn as for a point; each corner is then clamped.
 * Draws happen in a fixed order (point: angle then distance; box: left, top, right, bottom), so a seed
 * reproduces the same prompts.
 */
import type { ObjectPrompt, Box } from './prompts.ts';
import type { Rng } from './random.ts';
import type { PromptPoint } from './segmenter.ts';

/** A perturbation band [lo, hi) in pixels. */
export type JitterBand = readonly [number, number];

/** The paper's three bands. */
export const JITTER_BANDS: Readonly<Record<'0-10' | '10-20' | '20-30', JitterBand>> = Object.freeze({
  '0-10': [0, 10],
  '10-20': [10, 20],
  '20-30': [20, 30],
});

/** How a box is perturbed. */
export type BoxJitter = 'enlarge' | 'shift';

/** Parses "lo-hi" (pixels, 0 <= lo <= hi), e.g. "10-20"; throws RangeError with the expected form. */
export function parseJitterBand(text: string): JitterBand {
  const m = /^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$/.exec(text);
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2]) : NaN;
  if (!m || !(lo <= hi)) {
    throw new RangeError(
      `jitter band must look like "lo-hi" in pixels with lo <= hi (e.g. "10-20"), got "${text}"`,
    );
  }
  return [lo, hi];
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** A random displacement vector with length uniform in the band and a uniform direction. */
function displacement(band: JitterBand, rng: Rng): [number, number] {
  const angle = rng.uniform(0, 2 * Math.PI);
  const r = rng.uniform(band[0], band[1]);
  return [r * Math.cos(angle), r * Math.sin(angle)];
}

/** Moves a point by a random vector in the band, rounded and clamped to a width x height image. */
export function shiftPoint<P extends { x: number; y: number }>(
  p: P,
  band: JitterBand,
  rng: Rng,
  width: number,
  height: number,
): P {
  const [dx, dy] = displacement(band, rng);
  return {
    ...p,
    x: clamp(Math.round(p.x + dx), 0, width - 1),
    y: clamp(Math.round(p.y + dy), 0, height - 1),
  };
}

/** Moves each box edge outward by its own amount in the band, rounded and clamped to the image. */
export function enlargeBox(box: Box, band: JitterBand, rng: Rng, width: number, height: number): Box {
  const l = rng.uniform(band[0], band[1]);
  const t = rng.uniform(band[0], band[1]);
  const r = rng.uniform(band[0], band[1]);
  const b = rng.uniform(band[0], band[1]);
  return [
    clamp(Math.round(box[0] - l), 0, width - 1),
    clamp(Math.round(box[1] - t), 0, height - 1),
    clamp(Math.round(box[2] + r), 0, width - 1),
    clamp(Math.round(box[3] + b), 0, height - 1),
  ];
}

/** Translates a box by one random vector in the band; corners rounded and clamped to the image. */
export function shiftBox(box: Box, band: JitterBand, rng: Rng, width: number, height: number): Box {
  const [dx, dy] = displacement(band, rng);
  return [
    clamp(Math.round(box[0] + dx), 0, width - 1),
    clamp(Math.round(box[1] + dy), 0, height - 1),
    clamp(Math.round(box[2] + dx), 0, width - 1),
    clamp(Math.round(box[3] + dy), 0, height - 1),
  ];
}

/** Options of `jitterPrompt`. */
export interface JitterOptions {
  band: JitterBand;
  rng: Rng;
  width: number;
  height: number;
  /** How the box is perturbed; default `enlarge`. */
  box?: BoxJitter;
}

/**
 * Perturbs a prompt: the first point (the centre point of S2/S6, the centroid of S3/S4) is shifted; other
 * points stay, as the paper perturbs the centre point; the box is enlarged or shifted. Point draws come
 * before box draws.
 */
export function jitterPrompt(prompt: ObjectPrompt, options: JitterOptions): ObjectPrompt {
  const { band, rng, width, height } = options;
  const points: PromptPoint[] = prompt.points.map((p, i) =>
    i === 0 ? shiftPoint(p, band, rng, width, height) : { ...p },
  );
  if (!prompt.box) return { points };
  const mode = options.box ?? 'enlarge';
  const box =
    mode === 'enlarge'
      ? enlargeBox(prompt.box, band, rng, width, height)
      : shiftBox(prompt.box, band, rng, width, height);
  return { points, box };
}
