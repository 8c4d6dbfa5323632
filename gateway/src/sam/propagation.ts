/**
 * 3-D propagation of a SAM mask through a volume, as MedSAM segments volumes slice by slice: segment the
 * key slice with the user's prompt, then walk outward in both directions, prompting each next slice with the
 * box of the previous slice's mask (enlarged by a margin), until the mask vanishes (area below a minimum),
 * the volume ends, or the slice limit is reached. Both directions advance together so their decoder calls
 * can share a batch. Works over any Segmenter (the SAM session, or a fake in tests).
 */
import { maskArea, maskBounds, type BinaryMask } from '../core/mask.ts';
import type { Raster } from '../core/raster.ts';
import type { PromptPoint, Segmenter } from '../core/segmenter.ts';

/** Where the slices come from: `depth` slices, each a raster SAM accepts (8-bit grey). */
export interface SliceSource {
  depth: number;
  slice(index: number): Raster | Promise<Raster>;
}

/** The prompt on the key slice: a box [x0, y0, x1, y1] and/or points, in the slice's pixels. */
export interface KeyPrompt {
  box?: [number, number, number, number];
  points: PromptPoint[];
}

/** Why one direction stopped. */
export type StopReason = 'vanished' | 'volume-end' | 'limit' | 'cancelled';

/** One segmented slice. */
export interface PropagatedSlice {
  /** Slice index in the volume. */
  index: number;
  mask: BinaryMask;
  /** Pixels in the mask. */
  area: number;
  /** The decoder's IoU estimate. */
  predictedIou: number;
  /** The box prompt this slice was given (the key slice: the user's, if any). */
  box?: [number, number, number, number];
}

/** A progress event after each slice. */
export interface PropagationProgress {
  /** Slices segmented so far (key slice included). */
  done: number;
  /** Upper bound of slices that will be segmented: min(maxSlices, depth). */
  planned: number;
  slice: PropagatedSlice;
}

/** Options of propagate. */
export interface PropagationOptions {
  model: string;
  keySlice: number;
  prompt: KeyPrompt;
  /** Most slices segmented, the key slice included. */
  maxSlices: number;
  /** A slice whose mask has fewer pixels ends its direction (and is not kept). */
  minArea: number;
  /** Pixels added on each side of the previous mask's tight box. */
  boxMargin: number;
  /** Logit threshold of the binary masks (SAM: 0). */
  maskThreshold?: number;
  /** Checked before each slice; when aborted, propagation stops and reports 'cancelled'. */
  signal?: AbortSignal;
  onProgress?: (event: PropagationProgress) => void;
}

/** The propagated masks in slice order and why each direction stopped. */
export interface PropagationResult {
  slices: PropagatedSlice[];
  keySlice: number;
  stoppedUp: StopReason;
  stoppedDown: StopReason;
  cancelled: boolean;
}

/** Pixels set in a mask and its tight inclusive box [x0, y0, x1, y1] (undefined when empty). */
export function maskBox(mask: BinaryMask): { area: number; box?: [number, number, number, number] } {
  const box = maskBounds(mask);
  return box ? { area: maskArea(mask), box } : { area: 0 };
}

/**
 * The box prompt for the next slice: the previous mask's tight box, its far edges moved to the pixel
 * boundary (+1, SAM's boxes are corner coordinates), enlarged by `margin` and clamped to the image.
 */
export function nextBox(
  box: [number, number, number, number],
  margin: number,
  width: number,
  height: number,
): [number, number, number, number] {
  return [
    Math.max(0, box[0] - margin),
    Math.max(0, box[1] - margin),
    Math.min(width, box[2] + 1 + margin),
    Math.min(height, box[3] + 1 + margin),
  ];
}

/** Thrown (and caught inside) when the signal aborts between slices. */
class Cancelled extends Error {}

/** Propagates the key slice's mask through the volume; see the module comment. */
export async function propagate(
  segmenter: Segmenter,
  source: SliceSource,
  options: PropagationOptions,
): Promise<PropagationResult> {
  const { keySlice, maxSlices, minArea, boxMargin, signal } = options;
  if (!Number.isInteger(keySlice) || keySlice < 0 || keySlice >= source.depth) {
    throw new RangeError(`key slice ${keySlice} is outside 0..${source.depth - 1}`);
  }
  if (!Number.isInteger(maxSlices) || maxSlices < 1)
    throw new RangeError(`maxSlices must be >= 1, got ${maxSlices}`);
  if (!options.prompt.box && options.prompt.points.length === 0)
    throw new RangeError('the key prompt needs a box or at least one point');
  const planned = Math.min(maxSlices, source.depth);
  const kept: PropagatedSlice[] = [];
  let done = 0;
  const check = (): void => {
    if (signal?.aborted) throw new Cancelled('cancelled');
  };

  const segmentSlice = async (index: number, prompt: KeyPrompt): Promise<PropagatedSlice> => {
    check();
    const raster = await source.slice(index);
    const e = await segmenter.encode(raster, options.model);
    check();
    // A box (alone or with points) is unambiguous: SAM's single-mask output. A lone point is ambiguous:
    // take the best of the multimask outputs by predicted IoU, as SAM's predictor suggests.
    const multimask = !prompt.box && prompt.points.length === 1;
    const [candidates] = await segmenter.decode(
      e.id,
      [{ points: prompt.points, ...(prompt.box ? { box: prompt.box } : {}) }],
      { multimask, maskThreshold: options.maskThreshold ?? 0, select: 'best' },
    );
    const best = [...candidates].sort((a, b) => b.predictedIou - a.predictedIou)[0];
    const { area } = maskBox(best.mask);
    return {
      index,
      mask: best.mask,
      area,
      predictedIou: best.predictedIou,
      ...(prompt.box ? { box: prompt.box } : {}),
    };
  };
  const record = (s: PropagatedSlice): void => {
    done++;
    kept.push(s);
    options.onProgress?.({ done, planned, slice: s });
  };

  let stoppedUp: StopReason;
  let stoppedDown: StopReason;
  try {
    const key = await segmentSlice(keySlice, options.prompt);
    record(key);
    const walkers = [
      { step: 1, prev: key, active: true, stop: 'volume-end' as StopReason },
      { step: -1, prev: key, active: true, stop: 'volume-end' as StopReason },
    ];
    for (const w of walkers) {
      if (key.area < minArea) {
        w.active = false;
        w.stop = 'vanished';
      }
    }
    while (walkers.some((w) => w.active)) {
      const round = walkers.filter((w) => {
        if (!w.active) return false;
        const index = w.prev.index + w.step;
        if (index < 0 || index >= source.depth) {
          w.active = false;
          w.stop = 'volume-end';
          return false;
        }
        return true;
      });
      // Both directions' next slices at once (so their decoder calls can batch), within the limit.
      const room = maxSlices - done;
      for (const w of round.slice(Math.max(0, room))) {
        w.active = false;
        w.stop = 'limit';
      }
      const go = round.slice(0, Math.max(0, room));
      if (go.length === 0) break;
      const results = await Promise.all(
        go.map((w) => {
          const { box } = maskBox(w.prev.mask);
          const prompt: KeyPrompt = {
            points: [],
            box: nextBox(box!, boxMargin, w.prev.mask.width, w.prev.mask.height),
          };
          return segmentSlice(w.prev.index + w.step, prompt);
        }),
      );
      go.forEach((w, i) => {
        const s = results[i];
        if (s.area < minArea) {
          w.active = false;
          w.stop = 'vanished';
          return;
        }
        record(s);
        w.prev = s;
      });
    }
    stoppedUp = walkers[0].stop;
    stoppedDown = walkers[1].stop;
  } catch (err: unknown) {
    if (!(err instanceof Cancelled)) throw err;
    kept.sort((a, b) => a.index - b.index);
    return { slices: kept, keySlice, stoppedUp: 'cancelled', stoppedDown: 'cancelled', cancelled: true };
  }
  kept.sort((a, b) => a.index - b.index);
  return { slices: kept, keySlice, stoppedUp, stoppedDown, cancelled: false };
}
