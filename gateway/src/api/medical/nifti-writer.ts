/**
 * Writes a uint8 label volume as NIfTI-1 (.nii.gz): the 348-byte header, a 4-byte empty extension flag,
 * voxels from byte 352, gzip-compressed (https://nifti.nimh.nih.gov/nifti-1/documentation/nifti1fields).
 */
import { gzipSync } from 'node:zlib';
import type { LabelVolume } from '../../imaging/medical-volume.ts';

const HEADER_BYTES = 348;
const VOX_OFFSET = 352;
const DT_UINT8 = 2;
const NIFTI_INTENT_LABEL = 1002;
const NIFTI_UNITS_MM = 2;
const NIFTI_XFORM_SCANNER_ANAT = 1;

/**
 * The .nii.gz bytes of a label volume (little-endian NIfTI-1, datatype uint8, intent NIFTI_INTENT_LABEL,
 * spatial unit mm). With an affine it goes into the sform (code 1, scanner anatomical); without one only
 * pixdim describes the grid (qform and sform codes 0).
 */
export function writeNiftiLabels(volume: LabelVolume, description = 'medseg-gateway labels'): Uint8Array {
  const [nx, ny, nz] = volume.dims;
  if (volume.data.length !== nx * ny * nz) {
    throw new RangeError(
      `label data has ${volume.data.length} voxels, dims ${nx}x${ny}x${nz} need ${nx * ny * nz}`,
    );
  }
  const out = new Uint8Array(VOX_OFFSET + volume.data.length);
  const v = new DataView(out.buffer);
  v.setInt32(0, HEADER_BYTES, true);
  out[38] = 'r'.charCodeAt(0); // "regular", as NIfTI-1 writers set it for ANALYZE readers
  const dims = [3, nx, ny, nz, 1, 1, 1, 1];
  dims.forEach((d, i) => v.setInt16(40 + 2 * i, d, true));
  v.setInt16(68, NIFTI_INTENT_LABEL, true);
  v.setInt16(70, DT_UINT8, true);
  v.setInt16(72, 8, true);
  const pixdim = [1, volume.spacing[0], volume.spacing[1], volume.spacing[2], 0, 0, 0, 0];
  pixdim.forEach((p, i) => v.setFloat32(76 + 4 * i, p, true));
  v.setFloat32(108, VOX_OFFSET, true);
  v.setFloat32(112, 1, true); // scl_slope 1, scl_inter 0: stored labels are the values
  v.setFloat32(116, 0, true);
  out[123] = NIFTI_UNITS_MM;
  let maxLabel = 0;
  for (const x of volume.data) if (x > maxLabel) maxLabel = x;
  v.setFloat32(124, maxLabel, true); // cal_max / cal_min: display range of the labels
  v.setFloat32(128, 0, true);
  const desc = new TextEncoder().encode(description).subarray(0, 79);
  out.set(desc, 148);
  if (volume.affine) {
    v.setInt16(254, NIFTI_XFORM_SCANNER_ANAT, true);
    for (let r = 0; r < 3; r++)
      for (let c = 0; c < 4; c++) v.setFloat32(280 + 16 * r + 4 * c, volume.affine[r][c], true);
  }
  out.set([0x6e, 0x2b, 0x31, 0x00], 344); // magic "n+1\0": header and data in one file
  // bytes 348..351 stay zero: no header extensions
  out.set(volume.data, VOX_OFFSET);
  const gz = gzipSync(out, { level: 6 });
  return new Uint8Array(gz.buffer, gz.byteOffset, gz.byteLength);
}
