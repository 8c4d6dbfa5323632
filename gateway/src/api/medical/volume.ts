/**
 * The VolumeInput of the GraphQL API mapped to one imaging call: a NIfTI file, DICOM Part 10 files, or a
 * series fetched by WADO-RS from a configured PACS become bytes, and imaging/medical-volume.ts makes the
 * volume (8-bit slices, geometry, SEG references) from them.
 */
import { checkAxis } from '../../imaging/medical-image.ts';
import {
  readDicomSeriesVolume,
  readNiftiVolumeSlices,
  type LoadedVolume,
} from '../../imaging/medical-volume.ts';
import { ApiError } from '../errors.ts';
import { decodeBase64 } from '../base64.ts';
import { imaging, windowSpec, type MedicalLimits, type WindowArg } from './input.ts';
import { pacsCall } from './pacs.ts';

/** VolumeInput: exactly one of a NIfTI file, a list of DICOM files, or a DICOMweb series. */
export interface VolumeArg {
  nifti?: { base64: string; axis?: number | null } | null;
  dicomSeries?: { instances: string[] } | null;
  dicomweb?: { pacs: string; studyUID: string; seriesUID: string } | null;
}

/** Loads a volume argument within the limits; `window` applies to every slice alike. */
export async function loadVolume(
  arg: VolumeArg,
  window: WindowArg | null | undefined,
  limits: MedicalLimits,
): Promise<LoadedVolume> {
  const given = [arg.nifti, arg.dicomSeries, arg.dicomweb].filter((v) => v != null).length;
  if (given !== 1)
    throw new ApiError(
      'BAD_REQUEST',
      `volume needs exactly one of nifti, dicomSeries, dicomweb; got ${given}`,
    );
  if (arg.nifti) {
    const axis = imaging('NIfTI', () => checkAxis(arg.nifti!.axis));
    const bytes = decodeBase64(arg.nifti.base64, limits.maxBytes);
    return readNiftiVolumeSlices(bytes, axis, windowSpec(window), limits.maxPixels);
  }
  let files: Uint8Array[];
  let pacs: string | undefined;
  if (arg.dicomSeries) {
    if (arg.dicomSeries.instances.length === 0)
      throw new ApiError('BAD_REQUEST', 'dicomSeries.instances is empty: give at least one DICOM file');
    let total = 0;
    files = arg.dicomSeries.instances.map((b64) => {
      const bytes = decodeBase64(b64, limits.maxBytes - total);
      total += bytes.length;
      return bytes;
    });
  } else {
    const ref = arg.dicomweb!;
    const client = limits.pacs.client(ref.pacs);
    files = await pacsCall(`WADO-RS series from '${ref.pacs}'`, () =>
      client.retrieveSeries(ref.studyUID, ref.seriesUID),
    );
    if (files.length === 0) throw new ApiError('NOT_FOUND', `series ${ref.seriesUID} has no instances`);
    pacs = ref.pacs;
  }
  return readDicomSeriesVolume(files, windowSpec(window), limits.maxPixels, pacs);
}
