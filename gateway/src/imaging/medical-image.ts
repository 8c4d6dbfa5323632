/**
 * One medical image for display: a DICOM frame or a NIfTI slice mapped to 8-bit grey with the window a
 * request asks for, returned with its pixel spacing and where it came from, in one call. Also the window
 * logic that volumes share, where every slice must get the same mapping.
 */
import type { Raster } from '../core/raster.ts';
import { decodeDicom, readDicomMetadata } from './dicom.ts';
import { ImageRequestError } from './image-error.ts';
import { decodeNifti, sliceVolume } from './nifti.ts';
import {
  applyRange,
  minMax,
  percentileRange,
  toDisplay8,
  type DisplayMapping,
  type WindowPresetName,
} from './windowing.ts';

export { ImageRequestError };

/** How a request asks to map real values (HU, MR units) to 0..255: exactly one field set, or none at all. */
export interface WindowSpec {
  centerWidth?: { center: number; width: number } | null;
  preset?: WindowPresetName | null;
  percentiles?: { low?: number | null; high?: number | null } | null;
  fromFile?: boolean | null;
  minMax?: boolean | null;
}

/** How intensities are mapped: a display mapping, or the file's own window (DICOM's default). */
export type WindowChoice = DisplayMapping | { kind: 'file' };

/** Turns a window request into a choice; `fallback` applies when none is given. Malformed ones are refused. */
export function windowChoice(spec: WindowSpec | null | undefined, fallback: WindowChoice): WindowChoice {
  if (!spec) return fallback;
  const set = Object.entries(spec).filter(([, v]) => v !== null && v !== undefined);
  if (set.length !== 1) {
    throw new ImageRequestError(
      `window needs exactly one of centerWidth, preset, percentiles, fromFile, minMax; got ${set.length}`,
    );
  }
  if (spec.centerWidth) {
    const { center, width } = spec.centerWidth;
    if (!Number.isFinite(center) || !Number.isFinite(width) || width < 1) {
      throw new ImageRequestError(
        `window.centerWidth needs a finite center and a width >= 1, got center ${center} width ${width}`,
      );
    }
    return { kind: 'window', window: { center, width } };
  }
  if (spec.preset) return { kind: 'preset', preset: spec.preset };
  if (spec.percentiles) {
    const low = spec.percentiles.low ?? 0.5;
    const high = spec.percentiles.high ?? 99.5;
    if (!(low >= 0 && high <= 100 && low < high)) {
      throw new ImageRequestError(
        `window.percentiles must satisfy 0 <= low < high <= 100, got ${low} and ${high}`,
      );
    }
    return { kind: 'percentiles', low, high };
  }
  if (spec.fromFile === true) return { kind: 'file' };
  if (spec.minMax === true) return { kind: 'min-max' };
  throw new ImageRequestError('window.fromFile and window.minMax may only be true');
}

/** Most samples used to estimate volume percentiles; larger volumes are sampled at a regular stride. */
const PERCENTILE_SAMPLES = 2_000_000;

/**
 * A function mapping one slice's real values to 8-bit with one mapping for the whole volume: percentile and
 * min-max ranges are computed over every voxel (strided past 2 million), so all slices share one scale.
 * `fromFile` has no meaning for NIfTI (no window in the header) and falls back to min-max.
 */
export function volumeDisplay(
  values: ArrayLike<number>,
  choice: WindowChoice,
): (slice: ArrayLike<number>) => Uint8Array {
  switch (choice.kind) {
    case 'window':
    case 'preset':
      return (slice) => toDisplay8(slice, choice);
    case 'percentiles': {
      const stride = Math.max(1, Math.ceil(values.length / PERCENTILE_SAMPLES));
      const sample = new Float64Array(Math.ceil(values.length / stride));
      for (let i = 0, j = 0; i < values.length; i += stride, j++) sample[j] = values[i];
      const [lo, hi] = percentileRange(sample, choice.low, choice.high);
      return (slice) => applyRange(slice, lo, hi);
    }
    case 'min-max':
    case 'file': {
      const [lo, hi] = minMax(values);
      return (slice) => applyRange(slice, lo, hi);
    }
    default: {
      const never: never = choice;
      throw new Error(`unknown window choice ${JSON.stringify(never)}`);
    }
  }
}

/** Checks a NIfTI slicing axis (0, 1 or 2; default 2) and returns it. */
export function checkAxis(axis: number | null | undefined): 0 | 1 | 2 {
  const a = axis ?? 2;
  if (a !== 0 && a !== 1 && a !== 2) throw new ImageRequestError(`axis must be 0, 1 or 2, got ${a}`);
  return a;
}

/** Which image of a file to read: a DICOM frame (0-based, default 0) or a NIfTI slice along an axis. */
export type MedicalImageSource =
  | { format: 'dicom'; bytes: Uint8Array; frame?: number | null }
  | { format: 'nifti'; bytes: Uint8Array; axis?: number | null; slice: number };

/** Where an image came from: the file's format, which frame or slice of how many, and the window applied. */
export interface MedicalImageProvenance {
  format: 'dicom' | 'nifti';
  /** The 0-based frame (DICOM) or slice (NIfTI) index. */
  index: number;
  /** Frames in the file, or slices along the axis. */
  count: number;
  /** The NIfTI slicing axis. */
  axis?: 0 | 1 | 2;
  /** The mapping applied, after the format's default when the request gave none. */
  window: WindowChoice;
}

/** A medical image ready for SAM: 8-bit grey pixels (with spacing [sy, sx] in mm when known) and provenance. */
export interface MedicalImage {
  raster: Raster;
  provenance: MedicalImageProvenance;
}

/**
 * Reads one image of a DICOM or NIfTI file as 8-bit grey, windowed as `window` asks (default: the file's own
 * window for DICOM, min-max over the whole volume for NIfTI). A frame, slice, axis or window the file cannot
 * satisfy is an ImageRequestError; a file that cannot be read is an ImageError.
 */
export function readMedicalImage(
  source: MedicalImageSource,
  window: WindowSpec | null | undefined,
  limits: { maxPixels: number },
): MedicalImage {
  return source.format === 'dicom'
    ? dicomFrame(source.bytes, source.frame, window, limits.maxPixels)
    : niftiSlice(source.bytes, source.axis, source.slice, window, limits.maxPixels);
}

function niftiSlice(
  bytes: Uint8Array,
  axisArg: number | null | undefined,
  slice: number,
  window: WindowSpec | null | undefined,
  maxPixels: number,
): MedicalImage {
  const axis = checkAxis(axisArg);
  const volume = decodeNifti(bytes, { maxVoxels: maxPixels });
  const n = volume.dims[axis];
  if (!Number.isInteger(slice) || slice < 0 || slice >= n) {
    throw new ImageRequestError(
      `slice ${slice} is outside 0..${n - 1} along axis ${axis} of a ${volume.dims.join('x')} volume`,
    );
  }
  const choice = windowChoice(window, { kind: 'min-max' });
  const display = volumeDisplay(volume.data, choice);
  const { raster, spacing } = sliceVolume(volume, axis, slice);
  return {
    raster: { width: raster.width, height: raster.height, channels: 1, data: display(raster.data), spacing },
    provenance: { format: 'nifti', index: slice, count: n, axis, window: choice },
  };
}

function dicomFrame(
  bytes: Uint8Array,
  frame: number | null | undefined,
  window: WindowSpec | null | undefined,
  maxPixels: number,
): MedicalImage {
  const frameIndex = frame ?? 0;
  const meta = readDicomMetadata(bytes);
  if (!Number.isInteger(frameIndex) || frameIndex < 0 || frameIndex >= meta.numberOfFrames) {
    throw new ImageRequestError(
      `frame ${frameIndex} is outside 0..${meta.numberOfFrames - 1} (0-based) of a ${meta.numberOfFrames}-frame DICOM`,
    );
  }
  const choice = windowChoice(window, { kind: 'file' });
  const decoded = decodeDicom(bytes, {
    frameIndex,
    maxPixels,
    ...(choice.kind === 'file' ? {} : { display: choice }),
  });
  return {
    raster: decoded.display,
    provenance: { format: 'dicom', index: frameIndex, count: meta.numberOfFrames, window: choice },
  };
}
