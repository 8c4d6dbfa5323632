/**
 * SAM's mask post-processing (`Sam.postprocess_masks`, the tail of the official ONNX decoder): low-resolution
 * logits are upscaled bilinearly to the model frame (align_corners=False), cropped to the part the image
 * occupied before padding, and resized bilinearly to the original image size. Bilinear interpolation is
 * separable, so both resizes run as a horizontal then a vertical pass over precomputed tables.
 * Reference: segment_anything/modeling/sam.py `postprocess_masks`; torch `F.interpolate(..., 'bilinear')`.
 */
import { longestSideSize } from './sam-transform.ts';

interface Axis {
  i0: Int32Array;
  i1: Int32Array;
  f: Float32Array;
}

/** Source indices and weights of an align_corners=False bilinear resize from `n` to `on` samples. */
function axis(n: number, on: number): Axis {
  const i0 = new Int32Array(on);
  const i1 = new Int32Array(on);
  const f = new Float32Array(on);
  const scale = n / on;
  for (let o = 0; o < on; o++) {
    const s = Math.max((o + 0.5) * scale - 0.5, 0);
    const a = Math.min(Math.floor(s), n - 1);
    i0[o] = a;
    i1[o] = Math.min(a + 1, n - 1);
    f[o] = s - a;
  }
  return { i0, i1, f };
}

/** The horizontal pass: the first `srcRows` rows of a plane (row stride `stride`) resized to `ow` columns. */
function resizeRows(
  src: Float32Array,
  stride: number,
  colsAxis: Axis,
  srcRows: number,
  ow: number,
): Float32Array {
  const tmp = new Float32Array(srcRows * ow);
  const { i0: c0, i1: c1, f: cf } = colsAxis;
  for (let y = 0; y < srcRows; y++) {
    const base = y * stride;
    const out = y * ow;
    for (let x = 0; x < ow; x++) {
      const a = src[base + c0[x]];
      tmp[out + x] = a + (src[base + c1[x]] - a) * cf[x];
    }
  }
  return tmp;
}

/**
 * Resizes the first `srcRows` rows of a plane with row stride `stride` to `oh x ow` with the given row and
 * column tables. Tables truncated to a prefix compute a top-left crop of the resize without the rest.
 */
function resizeWindow(
  src: Float32Array,
  stride: number,
  rowsAxis: Axis,
  colsAxis: Axis,
  srcRows: number,
  oh: number,
  ow: number,
): Float32Array {
  const tmp = resizeRows(src, stride, colsAxis, srcRows, ow);
  const dst = new Float32Array(oh * ow);
  const { i0: r0, i1: r1, f: rf } = rowsAxis;
  for (let y = 0; y < oh; y++) {
    const top = r0[y] * ow;
    const bottom = r1[y] * ow;
    const fy = rf[y];
    const out = y * ow;
    for (let x = 0; x < ow; x++) {
      const a = tmp[top + x];
      dst[out + x] = a + (tmp[bottom + x] - a) * fy;
    }
  }
  return dst;
}

/** How the model frame relates to the original image: SAM pads after a longest-side resize; MedSAM stretches. */
export type FrameResize = 'longest_side' | 'stretch';

/**
 * Turns one low-res logit plane (`size x size`) into logits at the original `height x width`, exactly as
 * SAM's decoder export does: upscale to `inputSize`, crop to the pre-padding size, resize to the original.
 */
export function postprocessLowRes(
  lowRes: Float32Array,
  size: number,
  height: number,
  width: number,
  inputSize = 1024,
  resize: FrameResize = 'longest_side',
): Float32Array {
  if (lowRes.length !== size * size) {
    throw new RangeError(`low-res logits hold ${lowRes.length} values, expected ${size}x${size}`);
  }
  const [newH, newW] =
    resize === 'stretch' ? [inputSize, inputSize] : longestSideSize(height, width, inputSize);
  // Stage 1: size -> inputSize, keeping only the cropped newH x newW window.
  const up = resizeWindow(
    lowRes,
    size,
    truncate(axis(size, inputSize), newH),
    truncate(axis(size, inputSize), newW),
    size,
    newH,
    newW,
  );
  // Stage 2: newH x newW -> height x width; an image already at the model's size needs no second resize.
  if (newH === height && newW === width) return up;
  return resizeWindow(up, newW, axis(newH, height), axis(newW, width), newH, height, width);
}

function truncate(a: Axis, n: number): Axis {
  return { i0: a.i0.subarray(0, n), i1: a.i1.subarray(0, n), f: a.f.subarray(0, n) };
}

/** A binary mask at the original size and SAM's stability score of its logits. */
export interface PostprocessedMask {
  /** Row-major 0/1, `height x width`. */
  mask: Uint8Array;
  /** IoU of the logits thresholded at `threshold + offset` and `threshold - offset` (0 when both are empty, as core/everything). */
  stabilityScore: number;
}

/**
 * {@link postprocessLowRes} followed by thresholding and SAM's stability score, fused into the last pass so no
 * full-size float plane is written or read again: what the gateway needs for each mask it returns.
 */
export function postprocessToMask(
  lowRes: Float32Array,
  size: number,
  height: number,
  width: number,
  options: { inputSize?: number; resize?: FrameResize; threshold?: number; stabilityOffset?: number } = {},
): PostprocessedMask {
  const inputSize = options.inputSize ?? 1024;
  const threshold = options.threshold ?? 0;
  const offset = options.stabilityOffset ?? 1;
  if (lowRes.length !== size * size) {
    throw new RangeError(`low-res logits hold ${lowRes.length} values, expected ${size}x${size}`);
  }
  const resize = options.resize ?? 'longest_side';
  const [newH, newW] =
    resize === 'stretch' ? [inputSize, inputSize] : longestSideSize(height, width, inputSize);
  const identity = newH === height && newW === width;
  // Everything before the last vertical pass, as postprocessLowRes does it.
  let tmp: Float32Array;
  let rows: Axis;
  if (identity) {
    tmp = resizeRows(lowRes, size, truncate(axis(size, inputSize), newW), size, newW);
    rows = truncate(axis(size, inputSize), newH);
  } else {
    const up = resizeWindow(
      lowRes,
      size,
      truncate(axis(size, inputSize), newH),
      truncate(axis(size, inputSize), newW),
      size,
      newH,
      newW,
    );
    tmp = resizeRows(up, newW, axis(newW, width), newH, width);
    rows = axis(newH, height);
  }
  const mask = new Uint8Array(height * width);
  const hi = threshold + offset;
  const lo = threshold - offset;
  let inter = 0;
  let union = 0;
  const { i0: r0, i1: r1, f: rf } = rows;
  for (let y = 0; y < height; y++) {
    const top = r0[y] * width;
    const bottom = r1[y] * width;
    const fy = rf[y];
    const out = y * width;
    for (let x = 0; x < width; x++) {
      const a = tmp[top + x];
      const v = a + (tmp[bottom + x] - a) * fy;
      if (v > threshold) mask[out + x] = 1;
      if (v > hi) inter++;
      if (v > lo) union++;
    }
  }
  return { mask, stabilityScore: union === 0 ? 0 : inter / union };
}
