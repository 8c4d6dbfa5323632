/** Intensity windowing to 8-bit display values: VOI linear windows, presets, percentile and min-max scaling. */
import type { Raster, RasterData } from '../core/raster.ts';
import { ImageError } from './image-error.ts';

/** A VOI window in the image's real-world units (e.g. HU): centre and width, as DICOM (0028,1050)/(0028,1051). */
export interface Window {
  center: number;
  width: number;
}

/** Named display windows in Hounsfield units. */
export type WindowPresetName = 'ct-soft-tissue' | 'ct-lung' | 'ct-bone' | 'ct-brain';

/** Common CT windows (HU): soft tissue W400/L40, lung W1500/L-600, bone W1800/L400, brain W80/L40. */
export const WINDOW_PRESETS: Readonly<Record<WindowPresetName, Readonly<Window>>> = Object.freeze({
  'ct-soft-tissue': Object.freeze({ center: 40, width: 400 }),
  'ct-lung': Object.freeze({ center: -600, width: 1500 }),
  'ct-bone': Object.freeze({ center: 400, width: 1800 }),
  'ct-brain': Object.freeze({ center: 40, width: 80 }),
});

/** How to map real values to 8-bit display values; the default is min-max over the image. */
export type DisplayMapping =
  | { kind: 'window'; window: Window }
  | { kind: 'preset'; preset: WindowPresetName }
  | { kind: 'percentiles'; low: number; high: number }
  | { kind: 'min-max' };

/** Throws BAD_IMAGE unless the window is finite with width >= 1 (DICOM PS3.3 C.11.2.1.2 requires it). */
export function checkWindow(window: Window): void {
  if (!Number.isFinite(window.center) || !Number.isFinite(window.width) || window.width < 1) {
    throw new ImageError(
      'BAD_IMAGE',
      `window must have a finite centre and a width >= 1, got centre ${window.center} width ${window.width}`,
    );
  }
}

/**
 * Maps values through the DICOM linear VOI function (PS3.3 C.11.2.1.2.1) to 0..255, rounded to nearest:
 * x <= c - 0.5 - (w-1)/2 gives 0, x > c - 0.5 + (w-1)/2 gives 255, otherwise ((x - (c-0.5)) / (w-1) + 0.5) * 255.
 */
export function applyWindow(values: ArrayLike<number>, window: Window): Uint8Array {
  checkWindow(window);
  const c = window.center - 0.5;
  const w = window.width - 1;
  const lo = c - w / 2;
  const hi = c + w / 2;
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (x <= lo) out[i] = 0;
    else if (x > hi) out[i] = 255;
    else out[i] = Math.round(((x - c) / w + 0.5) * 255);
  }
  return out;
}

/** Linearly maps [lo, hi] to 0..255, clipping outside, rounded; all zeros when hi <= lo. */
export function applyRange(values: ArrayLike<number>, lo: number, hi: number): Uint8Array {
  const out = new Uint8Array(values.length);
  if (!(hi > lo)) return out;
  const span = hi - lo;
  for (let i = 0; i < values.length; i++) {
    // multiply before dividing so exact halves (e.g. 50 * 255 / 100 = 127.5) round as expected
    const v = ((values[i] - lo) * 255) / span;
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  return out;
}

/** Minimum and maximum of the finite values (NaN ignored); [0, 0] when there are none. */
export function minMax(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

/**
 * The `low` and `high` percentiles (0..100) of the values with linear interpolation between order
 * statistics (numpy's default), e.g. 0.5 and 99.5 as MedSAM clips MR images.
 */
export function percentileRange(values: ArrayLike<number>, low: number, high: number): [number, number] {
  if (!(low >= 0 && high <= 100 && low <= high)) {
    throw new ImageError(
      'BAD_IMAGE',
      `percentiles must satisfy 0 <= low <= high <= 100, got ${low} and ${high}`,
    );
  }
  // Typed-array sort is numeric and puts NaN last, so NaNs are dropped by trimming the tail.
  const all = Float64Array.from(values).sort();
  let n = all.length;
  while (n > 0 && Number.isNaN(all[n - 1])) n--;
  if (n === 0) return [0, 0];
  const sorted = all.subarray(0, n);
  const at = (p: number): number => {
    const rank = (p / 100) * (sorted.length - 1);
    const i = Math.floor(rank);
    const frac = rank - i;
    return i + 1 < sorted.length ? sorted[i] + (sorted[i + 1] - sorted[i]) * frac : sorted[i];
  };
  return [at(low), at(high)];
}

/** Maps real values to 8-bit display values with the given mapping (min-max by default). */
export function toDisplay8(
  values: ArrayLike<number>,
  mapping: DisplayMapping = { kind: 'min-max' },
): Uint8Array {
  switch (mapping.kind) {
    case 'window':
      return applyWindow(values, mapping.window);
    case 'preset':
      return applyWindow(values, WINDOW_PRESETS[mapping.preset]);
    case 'percentiles': {
      const [lo, hi] = percentileRange(values, mapping.low, mapping.high);
      return applyRange(values, lo, hi);
    }
    case 'min-max': {
      const [lo, hi] = minMax(values);
      return applyRange(values, lo, hi);
    }
    default: {
      const never: never = mapping;
      throw new Error(`unknown display mapping ${JSON.stringify(never)}`);
    }
  }
}

/** ITU-R BT.601 luma of interleaved RGB samples (0.299 R + 0.587 G + 0.114 B), unrounded. */
export function rgbToLuma(data: RasterData, pixels: number): Float32Array {
  const out = new Float32Array(pixels);
  for (let i = 0; i < pixels; i++)
    out[i] = 0.299 * data[i * 3] + 0.587 * data[i * 3 + 1] + 0.114 * data[i * 3 + 2];
  return out;
}

/**
 * An 8-bit single-channel copy of a raster for display or for SAM: RGB is reduced to BT.601 luma; an 8-bit
 * grey raster without a mapping is returned as a copy; otherwise values go through `mapping` (default min-max).
 */
export function toGrey8(raster: Raster, mapping?: DisplayMapping): Raster {
  const pixels = raster.width * raster.height;
  let values: ArrayLike<number> = raster.data;
  if (raster.channels === 3) {
    const luma = rgbToLuma(raster.data, pixels);
    if (mapping === undefined && raster.data instanceof Uint8Array) {
      const data = new Uint8Array(pixels);
      for (let i = 0; i < pixels; i++) data[i] = Math.round(luma[i]);
      return withData(raster, data);
    }
    values = luma;
  } else if (mapping === undefined && raster.data instanceof Uint8Array) {
    return withData(raster, raster.data.slice());
  }
  return withData(raster, toDisplay8(values, mapping));
}

function withData(raster: Raster, data: Uint8Array): Raster {
  const out: Raster = { width: raster.width, height: raster.height, channels: 1, data };
  if (raster.spacing !== undefined) out.spacing = [raster.spacing[0], raster.spacing[1]];
  return out;
}
