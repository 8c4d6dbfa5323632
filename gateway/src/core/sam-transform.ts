/**
 * SAM's image preprocessing and prompt coordinate mapping, as the official predictor does it
 * (`segment_anything/utils/transforms.py` ResizeLongestSide, `predictor.py` set_image, `modeling/sam.py`
 * preprocess), plus the MedSAM variant. Pure: no I/O.
 *
 * What is matched: the official code resizes a uint8 HxWx3 image with PIL's bilinear filter (which is a
 * triangle filter whose support widens when downsampling, i.e. antialiased), rounds to uint8, then
 * normalizes with the ImageNet mean/std on the 0-255 scale and zero-pads bottom/right. {@link resizeBilinear}
 * implements PIL's separable resampling (horizontal pass, then vertical) with exact weights; for 8-bit input
 * each pass rounds and clips to 0..255 as PIL does, so results equal PIL's to within 1 grey level (PIL uses
 * 22-bit fixed-point weights). 16-bit and float rasters are resampled the same way without rounding; they are
 * expected on the 0-255 scale already (windowing belongs to the imaging layer).
 */
import type { Raster, RasterData } from './raster.ts';

/** ImageNet mean on the 0-255 scale (R, G, B), as SAM's `pixel_mean`. */
export const SAM_PIXEL_MEAN: readonly [number, number, number] = [123.675, 116.28, 103.53];
/** ImageNet standard deviation on the 0-255 scale (R, G, B), as SAM's `pixel_std`. */
export const SAM_PIXEL_STD: readonly [number, number, number] = [58.395, 57.12, 57.375];
/** SAM's encoder input side (pixels). */
export const SAM_INPUT_SIZE = 1024;

/** A model input tensor in CHW order: `data[(c * size + y) * size + x]`, dims `[3, size, size]`. */
export interface SamInputTensor {
  data: Float32Array;
  dims: [3, number, number];
  /** Size of the image inside the padded square before padding: [height, width] (pixels). */
  resizedSize: [number, number];
}

/** A typed error for bad transform arguments. */
export class SamTransformError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SamTransformError';
  }
}

function checkSize(h: number, w: number, what: string): void {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new SamTransformError(`${what}: expected positive integer height and width, got ${h}x${w}`);
  }
}

/**
 * Size after resizing so the longest side equals `target` (ResizeLongestSide.get_preprocess_shape):
 * `s = target / max(h, w)`, `newH = int(h * s + 0.5)`. Returns [newH, newW] in pixels.
 */
export function longestSideSize(h: number, w: number, target = SAM_INPUT_SIZE): [number, number] {
  checkSize(h, w, 'longestSideSize');
  const s = target / Math.max(h, w);
  return [Math.floor(h * s + 0.5), Math.floor(w * s + 0.5)];
}

interface AxisWeights {
  start: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  stride: number;
}

// PIL's precompute_coeffs for the bilinear (triangle) filter: support 1 scaled by the downsampling factor.
function axisWeights(inSize: number, outSize: number): AxisWeights {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * stride);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const xmin = Math.max(Math.floor(center - support + 0.5), 0);
    const xmax = Math.min(Math.floor(center + support + 0.5), inSize);
    let total = 0;
    const n = xmax - xmin;
    for (let k = 0; k < n; k++) {
      const t = Math.abs((k + xmin - center + 0.5) / filterScale);
      const wgt = t < 1 ? 1 - t : 0;
      weights[i * stride + k] = wgt;
      total += wgt;
    }
    for (let k = 0; k < n; k++) weights[i * stride + k] = total === 0 ? 0 : weights[i * stride + k] / total;
    start[i] = xmin;
    count[i] = n;
  }
  return { start, count, weights, stride };
}

function outputLike(data: RasterData, length: number): RasterData {
  if (data instanceof Uint8Array) return new Uint8Array(length);
  if (data instanceof Uint16Array) return new Uint16Array(length);
  if (data instanceof Int16Array) return new Int16Array(length);
  return new Float32Array(length);
}

// Integer rasters are rounded and clipped to their range after each pass, as PIL does for 8-bit images.
function storeFor(data: RasterData): (v: number) => number {
  if (data instanceof Uint8Array) return (v) => Math.min(255, Math.max(0, Math.round(v)));
  if (data instanceof Uint16Array) return (v) => Math.min(65535, Math.max(0, Math.round(v)));
  if (data instanceof Int16Array) return (v) => Math.min(32767, Math.max(-32768, Math.round(v)));
  return (v) => v;
}

/**
 * Resizes a raster to `newH` x `newW` with PIL's bilinear resampling (antialiased when downsampling),
 * horizontal pass first; keeps the sample type and channel count.
 */
export function resizeBilinear(raster: Raster, newH: number, newW: number): Raster {
  checkSize(newH, newW, 'resizeBilinear target');
  checkRaster(raster);
  const { width, height, channels, data } = raster;
  const store = storeFor(data);
  let src: RasterData = data;
  let curW = width;
  if (newW !== width) {
    const ax = axisWeights(width, newW);
    const out = outputLike(data, newW * height * channels);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < newW; x++) {
        const s0 = ax.start[x];
        const n = ax.count[x];
        for (let c = 0; c < channels; c++) {
          let acc = 0;
          for (let k = 0; k < n; k++)
            acc += ax.weights[x * ax.stride + k] * src[(y * width + s0 + k) * channels + c];
          out[(y * newW + x) * channels + c] = store(acc);
        }
      }
    }
    src = out;
    curW = newW;
  }
  if (newH !== height) {
    const ay = axisWeights(height, newH);
    const out = outputLike(data, newW * newH * channels);
    for (let y = 0; y < newH; y++) {
      const s0 = ay.start[y];
      const n = ay.count[y];
      for (let x = 0; x < curW; x++) {
        for (let c = 0; c < channels; c++) {
          let acc = 0;
          for (let k = 0; k < n; k++)
            acc += ay.weights[y * ay.stride + k] * src[((s0 + k) * curW + x) * channels + c];
          out[(y * curW + x) * channels + c] = store(acc);
        }
      }
    }
    src = out;
  }
  if (src === data) src = data.slice();
  return { width: newW, height: newH, channels, data: src };
}

function checkRaster(raster: Raster): void {
  checkSize(raster.height, raster.width, 'raster');
  if (raster.channels !== 1 && raster.channels !== 3) {
    throw new SamTransformError(`raster: expected 1 or 3 channels, got ${String(raster.channels)}`);
  }
  const expected = raster.width * raster.height * raster.channels;
  if (raster.data.length !== expected) {
    throw new SamTransformError(
      `raster: data length (${raster.data.length}) does not match ${raster.width}x${raster.height}x${raster.channels} (${expected})`,
    );
  }
}

/** Per-channel (R, G, B) normalization on the 0-255 scale: `(x - mean) / std`. */
export interface PixelNormalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/**
 * SAM's official preprocessing: resize the longest side to `target` (PIL bilinear), normalize with `norm`
 * (default the ImageNet mean/std on the 0-255 scale, SAM's `pixel_mean` and `pixel_std`), replicate grey to
 * 3 channels, zero-pad bottom/right to `[3, target, target]` (CHW float32).
 */
export function preprocessSam(
  raster: Raster,
  target = SAM_INPUT_SIZE,
  norm: PixelNormalization = { mean: SAM_PIXEL_MEAN, std: SAM_PIXEL_STD },
): SamInputTensor {
  checkRaster(raster);
  const [newH, newW] = longestSideSize(raster.height, raster.width, target);
  const resized = resizeBilinear(raster, newH, newW);
  const out = new Float32Array(3 * target * target);
  const plane = target * target;
  const ch = resized.channels;
  const src = resized.data;
  for (let c = 0; c < 3; c++) {
    const mean = norm.mean[c];
    const std = norm.std[c];
    const offset = ch === 3 ? c : 0;
    for (let y = 0; y < newH; y++) {
      const rowOut = c * plane + y * target;
      const rowIn = y * newW;
      for (let x = 0; x < newW; x++) out[rowOut + x] = (src[(rowIn + x) * ch + offset] - mean) / std;
    }
  }
  return { data: out, dims: [3, target, target], resizedSize: [newH, newW] };
}

/**
 * MedSAM's preprocessing: stretch to `target` x `target` (bilinear as {@link resizeBilinear}; MedSAM's
 * script uses a cubic skimage resize), min-max scale to [0, 1] over the resized image, grey to 3 channels;
 * no ImageNet normalization, no padding.
 */
export function preprocessMedSam(raster: Raster, target = SAM_INPUT_SIZE): SamInputTensor {
  checkRaster(raster);
  const resized = resizeBilinear(raster, target, target);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of resized.data) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  // MedSAM clips the range at 1e-8 so a constant image maps to zeros instead of NaN.
  const range = Math.max(hi - lo, 1e-8);
  const plane = target * target;
  const out = new Float32Array(3 * plane);
  const ch = resized.channels;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = (resized.data[i * ch + (ch === 3 ? c : 0)] - lo) / range;
  }
  return { data: out, dims: [3, target, target], resizedSize: [target, target] };
}

/**
 * Maps a point (x, y) in original pixel coordinates of an h x w image into the model's resized frame, as
 * ResizeLongestSide.apply_coords: `x * newW / w`, `y * newH / h`.
 */
export function mapPointToModel(
  x: number,
  y: number,
  h: number,
  w: number,
  target = SAM_INPUT_SIZE,
): [number, number] {
  const [newH, newW] = longestSideSize(h, w, target);
  return [x * (newW / w), y * (newH / h)];
}

/** Maps a box [x0, y0, x1, y1] (original pixels) into the model frame, corner by corner (apply_boxes). */
export function mapBoxToModel(
  box: readonly [number, number, number, number],
  h: number,
  w: number,
  target = SAM_INPUT_SIZE,
): [number, number, number, number] {
  const [x0, y0] = mapPointToModel(box[0], box[1], h, w, target);
  const [x1, y1] = mapPointToModel(box[2], box[3], h, w, target);
  return [x0, y0, x1, y1];
}

/** Maps a point for the MedSAM profile (image stretched to target x target): `x * target / w`, `y * target / h`. */
export function mapPointStretched(
  x: number,
  y: number,
  h: number,
  w: number,
  target = SAM_INPUT_SIZE,
): [number, number] {
  checkSize(h, w, 'mapPointStretched');
  return [(x * target) / w, (y * target) / h];
}
