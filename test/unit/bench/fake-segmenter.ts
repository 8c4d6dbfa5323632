/**
 * A deterministic fake Segmenter for benchmark tests: it "segments" by region growing from the prompt's seed
 * (first positive point, else the box centre) over pixels of similar intensity (4-connected, inside the box
 * when there is one), and returns four candidates: 0 the region, 1 the region, 2 the region dilated by one
 * pixel (4-connected cross), 3 the region eroded by one pixel. Predicted IoUs are fixed (0.85, 0.9, 0.95,
 * 0.8), so the deployable choice (dilated) differs from the oracle (exact) and metrics are hand-computable.
 */
import type { BinaryMask } from '../../../gateway/src/core/mask.ts';
import type { Raster } from '../../../gateway/src/core/raster.ts';
import type {
  DecodeOptions,
  EmbeddingHandle,
  MaskCandidate,
  PromptSet,
  Segmenter,
} from '../../../gateway/src/core/segmenter.ts';

/** Options of the fake. */
export interface FakeSegmenterOptions {
  /** Delay of every decode call (ms), to make jobs slow enough to kill. */
  decodeDelayMs?: number;
  /**
   * Delay per prompt set of a decode call (ms): a job's duration then grows with its samples even though the
   * runner decodes every object of an image in one call.
   */
  promptDelayMs?: number;
  /** Intensity tolerance of region growing. */
  tolerance?: number;
}

/** Calls the fake received, for assertions. */
export interface FakeCalls {
  encode: number;
  decode: number;
  promptSets: number;
}

const PREDICTED_IOU = [0.85, 0.9, 0.95, 0.8];

/** Creates the fake Segmenter described in the module doc. */
export function createFakeSegmenter(options: FakeSegmenterOptions = {}): Segmenter & { calls: FakeCalls } {
  const images = new Map<string, { grey: Float32Array; width: number; height: number }>();
  const calls: FakeCalls = { encode: 0, decode: 0, promptSets: 0 };
  const tolerance = options.tolerance ?? 30;
  let next = 0;
  return {
    calls,
    async encode(image: Raster, model: string): Promise<EmbeddingHandle> {
      calls.encode++;
      const n = image.width * image.height;
      const grey = new Float32Array(n);
      for (let i = 0; i < n; i++) grey[i] = image.data[i * image.channels];
      const id = `fake-${next++}`;
      images.set(id, { grey, width: image.width, height: image.height });
      return { id, model, modelVersion: '1', width: image.width, height: image.height, cached: false };
    },
    async decode(embeddingId: string, prompts: PromptSet[], opts: DecodeOptions): Promise<MaskCandidate[][]> {
      calls.decode++;
      calls.promptSets += prompts.length;
      const delay = (options.decodeDelayMs ?? 0) + (options.promptDelayMs ?? 0) * prompts.length;
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      const img = images.get(embeddingId);
      if (!img) throw new Error(`unknown embedding ${embeddingId}`);
      return prompts.map((p) => {
        const region = grow(img, p, tolerance);
        const masks = [region, region, dilate(region), erode(region)];
        const all = masks.map((mask, index) => ({
          mask,
          predictedIou: PREDICTED_IOU[index],
          stabilityScore: 0.97,
          lowRes: { size: 4, data: new Float32Array(16) },
          index,
        }));
        return opts.multimask ? all : all.slice(0, 1);
      });
    },
  };
}

function grow(
  img: { grey: Float32Array; width: number; height: number },
  p: PromptSet,
  tolerance: number,
): BinaryMask {
  const { width: w, height: h, grey } = img;
  const out = new Uint8Array(w * h);
  const pos = p.points.find((q) => q.label === 1);
  const seed = pos
    ? [Math.round(pos.x), Math.round(pos.y)]
    : p.box
      ? [Math.round((p.box[0] + p.box[2]) / 2), Math.round((p.box[1] + p.box[3]) / 2)]
      : null;
  if (seed === null) return { width: w, height: h, data: out };
  const [x0, y0, x1, y1] = p.box ?? [0, 0, w - 1, h - 1];
  const sx = Math.min(w - 1, Math.max(0, seed[0]));
  const sy = Math.min(h - 1, Math.max(0, seed[1]));
  const ref = grey[sy * w + sx];
  const stack = [sy * w + sx];
  out[sy * w + sx] = 1;
  while (stack.length > 0) {
    const i = stack.pop()!;
    const x = i % w;
    const y = (i - x) / w;
    for (const [nx, ny] of [
      [x + 1, y],
      [x - 1, y],
      [x, y + 1],
      [x, y - 1],
    ]) {
      if (nx < x0 || ny < y0 || nx > x1 || ny > y1 || nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
      const j = ny * w + nx;
      if (out[j] || Math.abs(grey[j] - ref) > tolerance) continue;
      out[j] = 1;
      stack.push(j);
    }
  }
  return { width: w, height: h, data: out };
}

/** Dilation by the 4-connected cross. */
export function dilate(m: BinaryMask): BinaryMask {
  const { width: w, height: h, data } = m;
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      out[i] =
        data[i] ||
        (x > 0 && data[i - 1]) ||
        (x < w - 1 && data[i + 1]) ||
        (y > 0 && data[i - w]) ||
        (y < h - 1 && data[i + w])
          ? 1
          : 0;
    }
  }
  return { width: w, height: h, data: out };
}

/** Erosion by the 4-connected cross (outside the image counts as background). */
export function erode(m: BinaryMask): BinaryMask {
  const { width: w, height: h, data } = m;
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      out[i] =
        data[i] &&
        x > 0 &&
        data[i - 1] &&
        x < w - 1 &&
        data[i + 1] &&
        y > 0 &&
        data[i - w] &&
        y < h - 1 &&
        data[i + w]
          ? 1
          : 0;
    }
  }
  return { width: w, height: h, data: out };
}
