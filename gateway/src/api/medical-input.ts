/**
 * Medical image inputs of the GraphQL API: a DICOM Part 10 file (one frame), one slice of a NIfTI volume, or
 * one instance fetched by WADO-RS from a configured PACS; each becomes the 8-bit grey raster SAM is given,
 * windowed as the request says, with its pixel spacing. Imaging and PACS failures leave as public codes.
 */
import type { Raster } from '../core/raster.ts';
import { decodeDicom, readDicomMetadata } from '../imaging/dicom.ts';
import { decoding } from '../imaging/image-error.ts';
import { decodeNifti, sliceVolume, type NiftiVolume } from '../imaging/nifti.ts';
import {
  applyRange,
  minMax,
  percentileRange,
  toDisplay8,
  type DisplayMapping,
  type WindowPresetName,
} from '../imaging/windowing.ts';
import { ApiError } from './errors.ts';
import { decodeBase64 } from './base64.ts';
import { pacsCall, type PacsRegistry } from './medical-pacs.ts';

/** The WindowInput GraphQL object: exactly one way to map real values (HU, MR units) to 0..255. */
export interface WindowArg {
  centerWidth?: { center: number; width: number } | null;
  preset?: 'CT_SOFT_TISSUE' | 'CT_LUNG' | 'CT_BONE' | 'CT_BRAIN' | null;
  percentiles?: { low?: number | null; high?: number | null } | null;
  fromFile?: boolean | null;
  minMax?: boolean | null;
}

/** DicomInput: base64 Part 10 bytes, a 0-based frame index, a window. */
export interface DicomArg {
  base64: string;
  frame?: number | null;
  window?: WindowArg | null;
}

/** NiftiInput: base64 .nii/.nii.gz bytes, the slicing axis and slice index, a window. */
export interface NiftiArg {
  base64: string;
  axis?: number | null;
  slice: number;
  window?: WindowArg | null;
}

/** DicomWebInput: a configured PACS name and the instance's UIDs, a 0-based frame, a window. */
export interface DicomWebArg {
  pacs: string;
  studyUID: string;
  seriesUID: string;
  instanceUID: string;
  frame?: number | null;
  window?: WindowArg | null;
}

/** How a request maps intensities: a display mapping, or the file's own window (DICOM's default). */
export type WindowChoice = DisplayMapping | { kind: 'file' };

/** What reading a medical input needs from the gateway. */
export interface MedicalLimits {
  /** Largest file in bytes. */
  maxBytes: number;
  /** Largest decoded image (or volume) in pixels (voxels). */
  maxPixels: number;
  pacs: PacsRegistry;
}

const PRESETS: Record<NonNullable<WindowArg['preset']>, WindowPresetName> = {
  CT_SOFT_TISSUE: 'ct-soft-tissue',
  CT_LUNG: 'ct-lung',
  CT_BONE: 'ct-bone',
  CT_BRAIN: 'ct-brain',
};

/** Turns a WindowInput into a choice; `fallback` applies when none is given. Malformed ones are BAD_REQUEST. */
export function windowChoice(arg: WindowArg | null | undefined, fallback: WindowChoice): WindowChoice {
  if (!arg) return fallback;
  const set = Object.entries(arg).filter(([, v]) => v !== null && v !== undefined);
  if (set.length !== 1) {
    throw new ApiError(
      'BAD_REQUEST',
      `window needs exactly one of centerWidth, preset, percentiles, fromFile, minMax; got ${set.length}`,
    );
  }
  if (arg.centerWidth) {
    const { center, width } = arg.centerWidth;
    if (!Number.isFinite(center) || !Number.isFinite(width) || width < 1) {
      throw new ApiError(
        'BAD_REQUEST',
        `window.centerWidth needs a finite center and a width >= 1, got center ${center} width ${width}`,
      );
    }
    return { kind: 'window', window: { center, width } };
  }
  if (arg.preset) return { kind: 'preset', preset: PRESETS[arg.preset] };
  if (arg.percentiles) {
    const low = arg.percentiles.low ?? 0.5;
    const high = arg.percentiles.high ?? 99.5;
    if (!(low >= 0 && high <= 100 && low < high)) {
      throw new ApiError(
        'BAD_REQUEST',
        `window.percentiles must satisfy 0 <= low < high <= 100, got ${low} and ${high}`,
      );
    }
    return { kind: 'percentiles', low, high };
  }
  if (arg.fromFile === true) return { kind: 'file' };
  if (arg.minMax === true) return { kind: 'min-max' };
  throw new ApiError('BAD_REQUEST', 'window.fromFile and window.minMax may only be true');
}

/** Runs imaging code so that only ImageErrors leave it, named by `what` (see {@link decoding}). */
export const imaging: <T>(what: string, fn: () => T) => T = decoding;

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

/** Checks a NIfTI slicing axis (0, 1 or 2) and returns it. */
export function checkAxis(axis: number | null | undefined): 0 | 1 | 2 {
  const a = axis ?? 2;
  if (a !== 0 && a !== 1 && a !== 2) throw new ApiError('BAD_REQUEST', `axis must be 0, 1 or 2, got ${a}`);
  return a;
}

/** Decodes NIfTI bytes within the limits. */
export function readNiftiVolume(
  base64: string,
  limits: Pick<MedicalLimits, 'maxBytes' | 'maxPixels'>,
): NiftiVolume {
  const bytes = decodeBase64(base64, limits.maxBytes);
  return imaging('NIfTI', () => decodeNifti(bytes, { maxVoxels: limits.maxPixels }));
}

/** One slice of a NIfTI volume as SAM's 8-bit input (spacing [sy, sx] kept). */
export function readNiftiInput(arg: NiftiArg, limits: MedicalLimits): Raster {
  const axis = checkAxis(arg.axis);
  const volume = readNiftiVolume(arg.base64, limits);
  const n = volume.dims[axis];
  if (!Number.isInteger(arg.slice) || arg.slice < 0 || arg.slice >= n) {
    throw new ApiError(
      'BAD_REQUEST',
      `slice ${arg.slice} is outside 0..${n - 1} along axis ${axis} of a ${volume.dims.join('x')} volume`,
    );
  }
  const display = volumeDisplay(volume.data, windowChoice(arg.window, { kind: 'min-max' }));
  const { raster, spacing } = imaging('NIfTI', () => sliceVolume(volume, axis, arg.slice));
  return { width: raster.width, height: raster.height, channels: 1, data: display(raster.data), spacing };
}

/** One frame of DICOM Part 10 bytes as SAM's 8-bit input; `frame` is 0-based. */
export function decodeDicomFrame(
  bytes: Uint8Array,
  frame: number | null | undefined,
  window: WindowArg | null | undefined,
  maxPixels: number,
): Raster {
  const frameIndex = frame ?? 0;
  const meta = imaging('DICOM', () => readDicomMetadata(bytes));
  if (!Number.isInteger(frameIndex) || frameIndex < 0 || frameIndex >= meta.numberOfFrames) {
    throw new ApiError(
      'BAD_REQUEST',
      `frame ${frameIndex} is outside 0..${meta.numberOfFrames - 1} (0-based) of a ${meta.numberOfFrames}-frame DICOM`,
    );
  }
  const choice = windowChoice(window, { kind: 'file' });
  const decoded = imaging('DICOM', () =>
    decodeDicom(bytes, {
      frameIndex,
      maxPixels,
      ...(choice.kind === 'file' ? {} : { display: choice }),
    }),
  );
  return decoded.display;
}

/** A DicomInput as SAM's 8-bit input. */
export function readDicomInput(arg: DicomArg, limits: MedicalLimits): Raster {
  const bytes = decodeBase64(arg.base64, limits.maxBytes);
  return decodeDicomFrame(bytes, arg.frame, arg.window, limits.maxPixels);
}

/** Fetches one instance by WADO-RS from the named PACS and decodes it as SAM's 8-bit input. */
export async function readDicomWebInput(arg: DicomWebArg, limits: MedicalLimits): Promise<Raster> {
  const client = limits.pacs.client(arg.pacs);
  const bytes = await pacsCall(`WADO-RS from '${arg.pacs}'`, () =>
    client.retrieveInstance(arg.studyUID, arg.seriesUID, arg.instanceUID),
  );
  return decodeDicomFrame(bytes, arg.frame, arg.window, limits.maxPixels);
}
