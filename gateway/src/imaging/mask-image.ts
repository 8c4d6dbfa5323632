/**
 * Masks as public datasets ship them: PNG, TIFF, GIF (DRIVE) or lossy JPEG (Kvasir-SEG), read into a
 * binary mask by one rule everywhere (CLI and dataset loaders): pixels equal to a label value, pixels above a
 * threshold, or, with neither, an image that really is binary (0 and one other value). Anything else is a
 * typed {@link MaskFormatError} that says which option to use, never a silent guess.
 */
import type { BinaryMask } from '../core/mask.ts';
import type { Raster } from '../core/raster.ts';
import { decodeGif, isGif } from './decode-gif.ts';
import { decodeImage } from './decode-image.ts';
import { DEFAULT_MAX_PIXELS } from './image-error.ts';
import { sniffImageFormat } from './image-format.ts';

/** A file that is not a mask under the rule asked for; `message` names the option that would read it. */
export class MaskFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MaskFormatError';
  }
}

/** How to turn a raster into a mask: `value` (exact label), `threshold` (grey above it), or neither (binary). */
export interface MaskRule {
  /** Pixels whose value equals this (all channels) are inside. */
  value?: number;
  /** Pixels whose grey value (mean of the channels) is above this are inside; for lossy or greyscale masks. */
  threshold?: number;
}

/** Decodes a mask file's bytes: GIF here, everything else through decodeImage (PNG, JPEG, TIFF, DICOM...). */
export function decodeMaskImage(bytes: Uint8Array, maxPixels = DEFAULT_MAX_PIXELS): Raster {
  return isGif(bytes) ? decodeGif(bytes, maxPixels) : decodeImage(bytes, undefined, { maxPixels });
}

/** Selects a binary mask from a decoded image by `rule`; throws MaskFormatError when the rule does not fit. */
export function maskFromImage(raster: Raster, rule: MaskRule = {}, bytes?: Uint8Array): BinaryMask {
  const { width, height, channels, data } = raster;
  const n = width * height;
  const out = new Uint8Array(n);
  if (rule.value !== undefined && rule.threshold !== undefined)
    throw new MaskFormatError('give a label value or a threshold, not both');
  if (rule.threshold !== undefined) {
    const t = rule.threshold;
    for (let i = 0; i < n; i++) {
      const grey = channels === 1 ? data[i] : (data[3 * i] + data[3 * i + 1] + data[3 * i + 2]) / 3;
      out[i] = grey > t ? 1 : 0;
    }
    return { width, height, data: out };
  }
  if (rule.value !== undefined) {
    const v = rule.value;
    for (let i = 0; i < n; i++) {
      out[i] =
        channels === 1
          ? data[i] === v
            ? 1
            : 0
          : data[3 * i] === v && data[3 * i + 1] === v && data[3 * i + 2] === v
            ? 1
            : 0;
    }
    return { width, height, data: out };
  }
  // No rule: the image must be binary, i.e. grey with at most two values, one of them 0.
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    let v: number;
    if (channels === 1) v = data[i];
    else {
      v = data[3 * i];
      if (data[3 * i + 1] !== v || data[3 * i + 2] !== v) {
        throw new MaskFormatError(
          `not a mask: a colour image (pixel (${i % width}, ${Math.floor(i / width)}) is not grey); ` +
            'pass a threshold to read it as one',
        );
      }
    }
    if (v !== 0 && !seen.has(v)) {
      seen.add(v);
      if (seen.size > 1) {
        const lossy = bytes !== undefined && sniffImageFormat(bytes) === 'jpeg';
        throw new MaskFormatError(
          `not a binary mask: more than one non-zero value (${[...seen].join(', ')}...)` +
            (lossy
              ? '; JPEG is lossy, so a JPEG mask needs a threshold (e.g. 127)'
              : '; pass a label value to pick one class, or a threshold for a greyscale mask'),
        );
      }
    }
    out[i] = v !== 0 ? 1 : 0;
  }
  return { width, height, data: out };
}

/** Checks a threshold given as text: a number 0..65535. */
export function parseThreshold(text: string): number {
  const t = Number(text);
  if (text.trim() === '' || !Number.isFinite(t) || t < 0 || t > 65535)
    throw new MaskFormatError(`a threshold must be a number 0..65535, got '${text}'`);
  return t;
}
