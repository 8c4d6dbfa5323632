/**
 * Object factors of the paper's analysis (DESIGN.md "Benchmark protocol", Factors): size, aspect ratio,
 * intensity difference and boundary complexity. Modality is a dataset attribute and not computed here.
 * - size: object pixel count;
 * - aspect ratio: short side / long side of the tight box, sides counted in pixels (x1 - x0 + 1), so a single
 *   pixel has ratio 1;
 * - intensity difference: |mean inside the object - mean of the other pixels of its box enlarged by 0.1 of
 *   its width (height) on the left and right (top and bottom)|, the enlarged box rounded outward and clipped
 *   to the image; RGB samples are averaged per pixel;
 * - boundary complexity: the outer contour of the largest 4-connected component is expanded in elliptic
 *   Fourier descriptors; for orders 1, 2, ... the reconstructed contour is rasterized and compared (Dice)
 *   with the whole object; the first order whose Dice exceeds 0.97, or gains less than 0.001 over the
 *   previous order, is kept, and complexity = order + 2 * 100 * (1 - Dice at that order).
 */
import { largestComponent } from './connected-components.ts';
import {
  addHarmonic,
  ellipticFourier,
  rasterizePolygon,
  reconstructContour,
  traceOuterContour,
} from './elliptic-fourier.ts';
import { pixelBounds, type BinaryMask, type PixelBox } from './mask.ts';
import type { Raster } from './raster.ts';

/** Invalid factor input (empty object, image and mask of different sizes). */
export class FactorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FactorError';
  }
}

function requireObject(mask: BinaryMask): { box: PixelBox; area: number } {
  if (mask.data.length !== mask.width * mask.height) {
    throw new FactorError(`mask data has ${mask.data.length} values, expected ${mask.width}x${mask.height}`);
  }
  const b = pixelBounds(mask);
  if (!b) throw new FactorError('the object mask is empty');
  return { box: b.box, area: b.count };
}

/** Object size in pixels. */
export function objectSize(mask: BinaryMask): number {
  return requireObject(mask).area;
}

/** Short side / long side of the tight box (sides in pixels, inclusive), in (0, 1]. */
export function aspectRatio(mask: BinaryMask): number {
  const [x0, y0, x1, y1] = requireObject(mask).box;
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  return Math.min(w, h) / Math.max(w, h);
}

/** Mean intensities inside the object and in the rest of its enlarged box, and their absolute difference. */
export interface IntensityContrast {
  inside: number;
  outside: number;
  /** |inside - outside|; NaN when the enlarged box has no pixel outside the object. */
  difference: number;
}

/** Intensity contrast of an object against its surroundings (enlarged box, `enlarge` of its size per side). */
export function intensityDifference(image: Raster, mask: BinaryMask, enlarge = 0.1): IntensityContrast {
  if (image.width !== mask.width || image.height !== mask.height) {
    throw new FactorError(
      `image is ${image.width}x${image.height} but the mask is ${mask.width}x${mask.height} (width x height)`,
    );
  }
  if (!(enlarge >= 0)) throw new FactorError(`enlarge must be >= 0, got ${enlarge}`);
  const [x0, y0, x1, y1] = requireObject(mask).box;
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  const ex0 = Math.max(0, Math.floor(x0 - enlarge * w));
  const ey0 = Math.max(0, Math.floor(y0 - enlarge * h));
  const ex1 = Math.min(mask.width - 1, Math.ceil(x1 + enlarge * w));
  const ey1 = Math.min(mask.height - 1, Math.ceil(y1 + enlarge * h));
  const c = image.channels;
  const px = image.data;
  let sumIn = 0;
  let nIn = 0;
  let sumOut = 0;
  let nOut = 0;
  for (let y = ey0; y <= ey1; y++) {
    for (let x = ex0; x <= ex1; x++) {
      const i = y * mask.width + x;
      const v = c === 1 ? px[i] : (px[3 * i] + px[3 * i + 1] + px[3 * i + 2]) / 3;
      if (mask.data[i] !== 0) {
        sumIn += v;
        nIn++;
      } else {
        sumOut += v;
        nOut++;
      }
    }
  }
  const inside = sumIn / nIn;
  const outside = nOut > 0 ? sumOut / nOut : NaN;
  return { inside, outside, difference: Math.abs(inside - outside) };
}

/** Options of `boundaryComplexity`. */
export interface ComplexityOptions {
  /** Highest order tried; default 50. */
  maxOrder?: number;
  /** Stop when Dice exceeds this; default 0.97. */
  targetDice?: number;
  /** Stop when one more order gains less than this Dice; default 0.001. */
  minGain?: number;
}

/** The boundary complexity of an object and how it was reached. */
export interface BoundaryComplexity {
  /** order + 2 * 100 * (1 - dice). */
  complexity: number;
  /** The elliptic Fourier order where the search stopped. */
  order: number;
  /** Dice of the reconstruction at that order against the object. */
  dice: number;
  /** Dice at orders 1..order. */
  diceByOrder: number[];
}

/** Boundary complexity by elliptic Fourier reconstruction (see the module comment). */
export function boundaryComplexity(mask: BinaryMask, options: ComplexityOptions = {}): BoundaryComplexity {
  const maxOrder = options.maxOrder ?? 50;
  const target = options.targetDice ?? 0.97;
  const minGain = options.minGain ?? 0.001;
  if (!Number.isInteger(maxOrder) || maxOrder < 1) {
    throw new FactorError(`maxOrder must be an integer >= 1, got ${maxOrder}`);
  }
  const { box, area } = requireObject(mask);
  // Work on the object's bounding box only: labelling, tracing and Dice never need the rest of the image.
  const bw = box[2] - box[0] + 1;
  const bh = box[3] - box[1] + 1;
  const crop = new Uint8Array(bw * bh);
  for (let y = 0; y < bh; y++) {
    const src = (box[1] + y) * mask.width + box[0];
    for (let x = 0; x < bw; x++) crop[y * bw + x] = mask.data[src + x] === 0 ? 0 : 1;
  }
  const objectCrop: BinaryMask = { width: bw, height: bh, data: crop };
  const component = largestComponent(objectCrop, 4) as BinaryMask;
  const contour = traceOuterContour(component) as Float64Array;
  // Most objects stop within a few orders: compute 12 first and the rest only when needed.
  let series = ellipticFourier(contour, Math.min(maxOrder, 12));
  const samples = Math.max(64, Math.min(4096, Math.ceil(2 * series.perimeter)));
  const poly = reconstructContour(series, 0, samples);
  const diceByOrder: number[] = [];
  let buffer = new Uint8Array(0);
  for (let order = 1; order <= maxOrder; order++) {
    if (order > series.order) series = ellipticFourier(contour, maxOrder);
    addHarmonic(series, order, poly);
    // Rasterize over the union of the crop and the reconstruction's bounds, so no pixel is lost.
    let minX = 0;
    let minY = 0;
    let maxX = bw;
    let maxY = bh;
    for (let i = 0; i < poly.length; i += 2) {
      if (poly[i] < minX) minX = poly[i];
      if (poly[i] > maxX) maxX = poly[i];
      if (poly[i + 1] < minY) minY = poly[i + 1];
      if (poly[i + 1] > maxY) maxY = poly[i + 1];
    }
    const ox = Math.floor(minX);
    const oy = Math.floor(minY);
    const cw = Math.ceil(maxX) - ox + 1;
    const ch = Math.ceil(maxY) - oy + 1;
    if (buffer.length < cw * ch) buffer = new Uint8Array(cw * ch);
    const raster = rasterizePolygon(poly, cw, ch, ox, oy, buffer);
    let drawn = 0;
    let inter = 0;
    for (let y = 0; y < ch; y++) {
      const iy = oy + y;
      const inCropY = iy >= 0 && iy < bh;
      for (let x = 0; x < cw; x++) {
        if (raster[y * cw + x] === 0) continue;
        drawn++;
        const ix = ox + x;
        if (inCropY && ix >= 0 && ix < bw && crop[iy * bw + ix] !== 0) inter++;
      }
    }
    const d = (2 * inter) / (drawn + area);
    diceByOrder.push(d);
    const gain = order > 1 ? d - diceByOrder[order - 2] : Infinity;
    if (d > target || gain < minGain || order === maxOrder) {
      return { complexity: order + 200 * (1 - d), order, dice: d, diceByOrder };
    }
  }
  throw new FactorError('unreachable: the order loop always returns');
}

/** All computed factors of one object. */
export interface ObjectFactors {
  size: number;
  aspectRatio: number;
  /** Absent when no image was given. */
  intensity?: IntensityContrast;
  boundary: BoundaryComplexity;
}

/** Computes every factor of an object; pass the image to get the intensity difference. */
export function computeFactors(
  mask: BinaryMask,
  image?: Raster,
  options: ComplexityOptions = {},
): ObjectFactors {
  const out: ObjectFactors = {
    size: objectSize(mask),
    aspectRatio: aspectRatio(mask),
    boundary: boundaryComplexity(mask, options),
  };
  if (image) out.intensity = intensityDifference(image, mask);
  return out;
}
