/**
 * The benchmark's view of two core protocol pieces, adapted to the shapes the runner stores: seeded prompt
 * perturbation (core/prompt-random) and per-object factors (core/factors).
 */
import { computeFactors } from '../core/factors.ts';
import type { BinaryMask } from '../core/mask.ts';
import { JITTER_BANDS, jitterPrompt } from '../core/prompt-random.ts';
import type { ObjectPrompt } from '../core/prompts.ts';
import { createRng } from '../core/random.ts';
import type { Raster } from '../core/raster.ts';
import type { FactorValues, Randomness } from './types.ts';

/**
 * Perturbs a prompt for a randomness level with a generator seeded from `seedKey` (job seed, dataset, object
 * and strategy), so an object's perturbation does not depend on the order, sharding or resumption of a job.
 */
export function perturbPrompt(
  prompt: ObjectPrompt,
  randomness: Exclude<Randomness, 'none'>,
  seedKey: string,
  image: Pick<Raster, 'width' | 'height'>,
): ObjectPrompt {
  return jitterPrompt(prompt, {
    band: JITTER_BANDS[randomness],
    rng: createRng(fnv1a32(seedKey)),
    width: image.width,
    height: image.height,
  });
}

/** 32-bit FNV-1a hash of a string's UTF-16 code units: a stable seed from a text key. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The paper's factors of one object (core/factors): size in pixels, aspect ratio (short/long box side),
 * intensity difference inside vs. the rest of the box enlarged by 0.1, and boundary complexity. The modality
 * factor is categorical and travels with the sample instead. Intensity is NaN when the enlarged box holds
 * no background pixel; throws FactorError for an empty object.
 */
export function computeObjectFactors(image: Raster, mask: BinaryMask): FactorValues {
  const f = computeFactors(mask, image);
  return {
    size: f.size,
    aspectRatio: f.aspectRatio,
    intensityDifference: f.intensity?.difference ?? Number.NaN,
    boundaryComplexity: f.boundary.complexity,
  };
}
