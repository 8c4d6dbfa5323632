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
  ellipticFourier,
  rasterizePolygon,
  reconstructContour,
  traceOuterContour,
} from './elliptic-fourier.ts';
import type { BinaryMask } from './mask.ts';
import type { Raster } from './raster.ts';

/** Invalid factor input (empty object, image and mask of different sizes). */
export class FactorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FactorError';
  }
}

/** Tight inclusive box [x0, y0, x1, y1] and pixel count of a mask, or null when empty. */
function boundsAndArea(mask: BinaryMask): { box: [number, number, number, number]; area: number } | null {
  const { width: W, height: H, data } = mask;
  let x0 = W;
  let y0 = -1;
  let x1 = -1;
  let y1 = -1;
  let area = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0, i = y * W; x < W; x++, i++) {
      if (data[i] === 0) continue;
      area++;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y0 < 0) y0 = y;
      y1 = y;
    }
  }
  return area === 0 ? null : { box: [x0, y0, x1, y1], area };
}

function requireObject(mask: BinaryMask): { box: [number, number, number, number]; area: number } {
  if (mask.data.length !== mask.width * mask.height) {
    throw new FactorError(`mask data has ${mask.data.length} values, expected ${mask.width}x${mask.height}`);
  }
  const b = boundsAndArea(mask);
  if (!b) throw new FactorError('the object mask is empty');
  return b;
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
  const component = largestComponent(mask, 4) as BinaryMask;
  const contour = traceOuterContour(component) as Float64Array;
  const series = ellipticFourier(contour, maxOrder);
  const samples = Math.max(64, Math.min(4096, Math.ceil(2 * series.perimeter)));
  const diceByOrder: number[] = [];
  let buffer = new Uint8Array(0);
  for (let order = 1; order <= maxOrder; order++) {
    const poly = reconstructContour(series, order, samples);
    // Rasterize over the union of the object's box and the reconstruction's bounds, so no pixel is lost.
    let minX = box[0];
    let minY = box[1];
    let maxX = box[2] + 1;
    let maxY = box[3] + 1;
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
      const inImageY = iy >= 0 && iy < mask.height;
      for (let x = 0; x < cw; x++) {
        if (raster[y * cw + x] === 0) continue;
        drawn++;
        const ix = ox + x;
        if (inImageY && ix >= 0 && ix < mask.width && mask.data[iy * mask.width + ix] !== 0) inter++;
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
