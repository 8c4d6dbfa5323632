/**
 * Medical image inputs of the GraphQL API: a DICOM Part 10 file (one frame), one slice of a NIfTI volume, or
 * one instance fetched by WADO-RS from a configured PACS; each becomes the 8-bit grey raster SAM is given,
 * windowed as the request says, with its pixel spacing. Imaging and PACS failures leave as public codes.
 */
import type { Raster } from '../../core/raster.ts';
import { decoding } from '../../imaging/image-error.ts';
import { readMedicalImage, type MedicalImageSource, type WindowSpec } from '../../imaging/medical-image.ts';
import type { WindowPresetName } from '../../imaging/windowing.ts';
import { decodeBase64 } from '../base64.ts';
import { pacsCall, type PacsRegistry } from './pacs.ts';

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

/** The WindowInput GraphQL object as imaging's window request (the same fields, imaging's preset names). */
export function windowSpec(arg: WindowArg | null | undefined): WindowSpec | null | undefined {
  if (!arg) return arg;
  const { preset, ...rest } = arg;
  return preset ? { ...rest, preset: PRESETS[preset] } : { ...rest, preset };
}

/**
 * Runs imaging code so that only ImageErrors (and ImageRequestErrors, the asker's mistakes) leave it, named by
 * `what`; the error table (api/errors.ts) gives them their public codes.
 */
export const imaging: <T>(what: string, fn: () => T) => T = decoding;

/** One slice of a NIfTI volume as SAM's 8-bit input (spacing [sy, sx] kept). */
export function readNiftiInput(arg: NiftiArg, limits: MedicalLimits): Raster {
  const bytes = decodeBase64(arg.base64, limits.maxBytes);
  return readImage('NIfTI', { format: 'nifti', bytes, axis: arg.axis, slice: arg.slice }, arg.window, limits);
}

/** A DicomInput as SAM's 8-bit input; `frame` is 0-based. */
export function readDicomInput(arg: DicomArg, limits: MedicalLimits): Raster {
  const bytes = decodeBase64(arg.base64, limits.maxBytes);
  return readImage('DICOM', { format: 'dicom', bytes, frame: arg.frame }, arg.window, limits);
}

/** Fetches one instance by WADO-RS from the named PACS and decodes it as SAM's 8-bit input. */
export async function readDicomWebInput(arg: DicomWebArg, limits: MedicalLimits): Promise<Raster> {
  const client = limits.pacs.client(arg.pacs);
  const bytes = await pacsCall(`WADO-RS from '${arg.pacs}'`, () =>
    client.retrieveInstance(arg.studyUID, arg.seriesUID, arg.instanceUID),
  );
  return readImage('DICOM', { format: 'dicom', bytes, frame: arg.frame }, arg.window, limits);
}

/** The one imaging call of a medical input: its GraphQL window mapped, its failures mapped to public codes. */
function readImage(
  what: string,
  source: MedicalImageSource,
  window: WindowArg | null | undefined,
  limits: Pick<MedicalLimits, 'maxPixels'>,
): Raster {
  return imaging(what, () => readMedicalImage(source, windowSpec(window), limits)).raster;
}
