/**
 * The gallery of a benchmark job (issue 14): for each model x strategy x target, the best, the median and the
 * worst sample by the deployable Dice, re-created on demand. The store keeps prompts and candidate indices but
 * no masks, so a case is rebuilt by loading its image and ground truth through the dataset loader and decoding
 * the stored prompt again with the job's model; the thumbnail draws the image, the ground-truth contour, the
 * predicted mask and the prompt (points with their labels, the box).
 */
import type { BinaryMask } from '../core/mask.ts';
import type { Raster } from '../core/raster.ts';
import type { PromptPoint, PromptSet, Segmenter } from '../core/segmenter.ts';
import { encodePng } from '../imaging/encode-png.ts';
import { toGrey8 } from '../imaging/windowing.ts';
import { multimaskCandidates } from './candidates.ts';
import type { Dataset, LoadedImage } from './datasets/dataset.ts';
import { BenchmarkError } from './runner.ts';
import { STRATEGIES, type SampleRecord } from './types.ts';

/** The rank of a gallery case within its model x strategy x target. */
export type GalleryRank = 'best' | 'median' | 'worst';

/** One selected sample and the ranks it holds (a group of one or two samples gives a sample several ranks). */
export interface GalleryPick {
  model: string;
  strategy: string;
  target: string;
  ranks: GalleryRank[];
  sample: SampleRecord;
  /** The deployable Dice of the sample, a fraction 0..1. */
  dice: number;
  /** Samples of the group with a Dice (the ranks are among these). */
  groupSize: number;
  /** Samples of the group that failed or have no Dice (never picked). */
  groupFailed: number;
}

/** Strategies whose stored prompt is one point/box prompt the segment view can replay (S2-S6). */
export const GALLERY_STRATEGIES: readonly string[] = STRATEGIES.filter((s) => s !== 'S1');

/** Most cases one gallery request rebuilds (each is an image load and a decode). */
export const MAX_GALLERY_CASES = 60;

/** Thumbnail edge bounds in pixels. */
export const THUMBNAIL_SIZE = { min: 32, max: 512, default: 160 } as const;

/** A gallery request that cannot be served as asked (bad filter, limit or size; a prompt that cannot be replayed). */
export class GalleryError extends BenchmarkError {
  constructor(message: string) {
    super(message);
    this.name = 'GalleryError';
  }
}

/** The deployable Dice of a sample (fraction), or null when it failed or has none. */
export function deployableDice(s: SampleRecord): number | null {
  if (s.status !== 'ok' || s.deployable === null) return null;
  const d = s.deployable.metrics.dice;
  return typeof d === 'number' && Number.isFinite(d) ? d : null;
}

/**
 * Picks the best, the median and the worst sample of every model x strategy x target among `samples`, by the
 * deployable Dice. Failed samples and samples without a Dice are left out (and counted). Ties go to the
 * smaller object id, then the smaller variant, so the choice is the same on every run. The median of an even
 * count is the lower middle one. Only prompt strategies (S2-S6) are considered. Groups come out in model,
 * strategy, target order; within a group best, median, worst (a sample holding several ranks appears once).
 */
export function selectGallery(samples: readonly SampleRecord[]): GalleryPick[] {
  const groups = new Map<string, { ok: Array<{ s: SampleRecord; dice: number }>; failed: number }>();
  for (const s of samples) {
    if (!GALLERY_STRATEGIES.includes(s.strategy)) continue;
    const key = JSON.stringify([s.model, s.strategy, s.className]);
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { ok: [], failed: 0 }));
    const dice = deployableDice(s);
    if (dice === null) g.failed++;
    else g.ok.push({ s, dice });
  }
  const out: GalleryPick[] = [];
  const keys = [...groups.keys()].sort((a, b) => {
    const [ma, sa, ta] = JSON.parse(a) as string[];
    const [mb, sb, tb] = JSON.parse(b) as string[];
    return cmp(ma, mb) || cmp(sa, sb) || cmp(ta, tb);
  });
  for (const key of keys) {
    const g = groups.get(key)!;
    if (g.ok.length === 0) continue;
    // Descending Dice; equal Dice: ascending object id, then variant.
    const sorted = [...g.ok].sort(
      (a, b) => b.dice - a.dice || cmp(a.s.objectId, b.s.objectId) || a.s.variant - b.s.variant,
    );
    const n = sorted.length;
    // The lower middle of an even count: position n/2 from the best (0-based), i.e. the weaker of the two.
    const at: Array<[GalleryRank, number]> = [
      ['best', 0],
      ['median', Math.floor(n / 2)],
      ['worst', n - 1],
    ];
    const byIndex = new Map<number, GalleryRank[]>();
    for (const [rank, i] of at) byIndex.set(i, [...(byIndex.get(i) ?? []), rank]);
    for (const [i, ranks] of [...byIndex].sort((a, b) => a[0] - b[0])) {
      const { s, dice } = sorted[i];
      out.push({
        model: s.model,
        strategy: s.strategy,
        target: s.className,
        ranks,
        sample: s,
        dice,
        groupSize: n,
        groupFailed: g.failed,
      });
    }
  }
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A stored prompt as a PromptSet, or a GalleryError when it is not a point/box prompt. */
export function storedPromptSet(prompt: unknown): PromptSet {
  const p = prompt as { points?: unknown; box?: unknown } | null;
  if (p === null || typeof p !== 'object' || !Array.isArray(p.points)) {
    throw new GalleryError('the sample has no point/box prompt to replay');
  }
  const points: PromptPoint[] = [];
  for (const q of p.points as Array<{ x?: unknown; y?: unknown; label?: unknown }>) {
    if (typeof q?.x !== 'number' || typeof q.y !== 'number' || (q.label !== 0 && q.label !== 1))
      throw new GalleryError('the sample has a malformed stored prompt');
    points.push({ x: q.x, y: q.y, label: q.label });
  }
  const out: PromptSet = { points };
  if (p.box !== undefined && p.box !== null) {
    const b = p.box;
    if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v)))
      throw new GalleryError('the sample has a malformed stored box');
    out.box = [b[0], b[1], b[2], b[3]] as [number, number, number, number];
  }
  return out;
}

/** A re-created gallery case: the prompt, the masks and the image as the benchmark saw it. */
export interface GalleryCase {
  pick: GalleryPick;
  prompt: PromptSet;
  image: Raster;
  groundTruth: BinaryMask;
  predicted: BinaryMask;
  /** The decoder output index of the predicted mask (the stored deployable choice). */
  candidateIndex: number;
}

/**
 * Rebuilds the cases of `picks` from `dataset` with `segmenter`: each image is loaded once, encoded once per
 * model, and every pick of it decoded with its stored prompt; the stored deployable candidate is kept.
 */
export async function rebuildCases(
  picks: readonly GalleryPick[],
  dataset: Dataset,
  segmenter: Segmenter,
): Promise<GalleryCase[]> {
  if (picks.length > MAX_GALLERY_CASES)
    throw new GalleryError(`at most ${MAX_GALLERY_CASES} gallery cases at once, asked ${picks.length}`);
  const images = new Map<string, Promise<LoadedImage>>();
  const embeddings = new Map<string, Promise<string>>();
  const out: GalleryCase[] = [];
  for (const pick of picks) {
    const s = pick.sample;
    if (!dataset.images.some((i) => i.id === s.imageId))
      throw new GalleryError(`image '${s.imageId}' is no longer in dataset '${dataset.name}'`);
    let loaded = images.get(s.imageId);
    if (loaded === undefined) images.set(s.imageId, (loaded = dataset.loadImage(s.imageId)));
    const img = await loaded;
    const gt = img.objects.find((o) => o.object.id === s.objectId)?.mask;
    if (gt === undefined) throw new GalleryError(`object '${s.objectId}' is no longer in its image`);
    const ekey = `${s.model}|${s.imageId}`;
    let emb = embeddings.get(ekey);
    if (emb === undefined)
      embeddings.set(ekey, (emb = segmenter.encode(img.image, s.model).then((e) => e.id)));
    const prompt = storedPromptSet(s.prompt);
    const [cands] = await segmenter.decode(await emb, [prompt], { multimask: true });
    const index = s.deployable!.candidateIndex;
    const chosen = multimaskCandidates(cands ?? []).find((c) => c.index === index);
    if (chosen === undefined)
      throw new GalleryError(`the decoder returned no candidate ${index} for object '${s.objectId}'`);
    out.push({
      pick,
      prompt,
      image: img.image,
      groundTruth: gt,
      predicted: chosen.mask,
      candidateIndex: index,
    });
  }
  return out;
}

/** RGB colours of the thumbnail's marks. */
const COLOURS = {
  mask: [255, 160, 0],
  contour: [0, 230, 80],
  positive: [40, 120, 255],
  negative: [255, 40, 40],
  box: [255, 255, 0],
} as const;

/** Throws GalleryError unless `size` is an integer thumbnail edge within {@link THUMBNAIL_SIZE}. */
export function checkThumbnailSize(size: number): void {
  if (!Number.isInteger(size) || size < THUMBNAIL_SIZE.min || size > THUMBNAIL_SIZE.max)
    throw new GalleryError(
      `thumbnail size must be an integer ${THUMBNAIL_SIZE.min}..${THUMBNAIL_SIZE.max}, got ${size}`,
    );
}

/**
 * A thumbnail of a case as PNG bytes: the image in grey scaled so its longer edge is `size` pixels (never
 * enlarged), the predicted mask blended in orange, the ground-truth contour in green, positive points blue,
 * negative points red (each ringed in white), the box yellow.
 */
export function renderThumbnail(c: GalleryCase, size: number = THUMBNAIL_SIZE.default): Uint8Array {
  checkThumbnailSize(size);
  const { width: W, height: H } = c.image;
  const scale = Math.min(1, size / Math.max(W, H));
  const w = Math.max(1, Math.round(W * scale));
  const h = Math.max(1, Math.round(H * scale));
  const grey = toGrey8(c.image).data as Uint8Array;
  const rgb = new Uint8Array(w * h * 3);
  const src = (x: number, y: number): number =>
    Math.min(H - 1, Math.floor((y + 0.5) / scale)) * W + Math.min(W - 1, Math.floor((x + 0.5) / scale));
  const gtAt = (x: number, y: number): boolean =>
    x >= 0 && y >= 0 && x < w && y < h && c.groundTruth.data[src(x, y)] !== 0;
  const set = (x: number, y: number, col: readonly number[]): void => {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    rgb.set(col, (y * w + x) * 3);
  };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = src(x, y);
      const g = grey[i];
      const o = (y * w + x) * 3;
      if (c.predicted.data[i] !== 0) {
        for (let k = 0; k < 3; k++) rgb[o + k] = Math.round(g * 0.5 + COLOURS.mask[k] * 0.5);
      } else rgb.fill(g, o, o + 3);
    }
  }
  // The contour: ground-truth pixels with a 4-neighbour outside (at thumbnail resolution).
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (gtAt(x, y) && (!gtAt(x - 1, y) || !gtAt(x + 1, y) || !gtAt(x, y - 1) || !gtAt(x, y + 1)))
        set(x, y, COLOURS.contour);
  if (c.prompt.box) {
    const [x0, y0, x1, y1] = c.prompt.box.map((v) => v * scale);
    for (let x = x0; x <= x1; x++) {
      set(x, y0, COLOURS.box);
      set(x, y1, COLOURS.box);
    }
    for (let y = y0; y <= y1; y++) {
      set(x0, y, COLOURS.box);
      set(x1, y, COLOURS.box);
    }
  }
  const r = Math.max(2, Math.round(Math.max(w, h) / 60));
  for (const p of c.prompt.points) {
    const cx = p.x * scale;
    const cy = p.y * scale;
    for (let dy = -r - 1; dy <= r + 1; dy++)
      for (let dx = -r - 1; dx <= r + 1; dx++) {
        const d2 = dx * dx + dy * dy;
        if (d2 <= r * r) set(cx + dx, cy + dy, p.label === 1 ? COLOURS.positive : COLOURS.negative);
        else if (d2 <= (r + 1) * (r + 1)) set(cx + dx, cy + dy, [255, 255, 255]);
      }
  }
  return encodePng({ width: w, height: h, channels: 3, data: rgb });
}

/**
 * The case's image as PNG bytes for the segment view: 8- and 16-bit grey or RGB as stored (the gateway
 * decodes the same pixels again); signed or float images as their 8-bit min-max rendering.
 */
export function caseImagePng(c: GalleryCase): Uint8Array {
  const d = c.image.data;
  const plain = d instanceof Uint8Array || (d instanceof Uint16Array && c.image.channels === 1);
  return encodePng(plain ? c.image : toGrey8(c.image));
}
