/**
 * Volumes for 3-D propagation, from bytes: a NIfTI file sliced along one voxel axis, or a DICOM series sorted
 * along its slice normal. Each gives 8-bit slices for SAM under one window for the whole volume, the geometry a
 * label volume needs (dims, spacing, voxel-to-RAS affine) and, for DICOM, the source references a SEG needs.
 * Malformed files are ImageErrors; a series whose instances do not belong together is the asker's mistake
 * (ImageRequestError).
 */
import type { BinaryMask } from '../core/mask.ts';
import type { Raster } from '../core/raster.ts';
import { decodeDicom, type DicomImage } from './dicom.ts';
import { segSourceFromDicom, type SegPatientStudy, type SegSourceImage } from './dicom-seg.ts';
import { decoding, ImageError, ImageRequestError } from './image-error.ts';
import { volumeDisplay, windowChoice, type WindowChoice, type WindowSpec } from './medical-image.ts';
import { decodeNifti, sliceVolume } from './nifti.ts';
import { applyRange, minMax, percentileRange, toDisplay8 } from './windowing.ts';

/** A voxel label volume in the source's voxel order: `data[x + nx * (y + ny * z)]`. */
export interface LabelVolume {
  dims: [number, number, number];
  /** [dx, dy, dz] in mm. */
  spacing: [number, number, number];
  /** 4x4 voxel-to-RAS+ (mm) rows, when the source's orientation is known. */
  affine?: number[][];
  data: Uint8Array;
}

/** The DICOM side of a volume: its slices' SEG references in slice order and where it came from. */
export interface DicomVolumeSources {
  sources: SegSourceImage[];
  context: SegPatientStudy;
  /** The PACS the series was fetched from, when it was. */
  pacs?: string;
}

/** A loaded volume: `depth` slices of `width` x `height`. */
export interface LoadedVolume {
  kind: 'nifti' | 'dicom';
  width: number;
  height: number;
  depth: number;
  /** In-plane spacing [sy, sx] and slice distance, in mm (when known). */
  spacing?: [number, number, number];
  /** The 8-bit slice SAM gets (with spacing [sy, sx]). */
  slice(index: number): Raster;
  /** Writes per-slice masks (slice index -> mask) into a label volume with value `label`. */
  labelVolume(masks: ReadonlyMap<number, BinaryMask>, label?: number): LabelVolume;
  dicom?: DicomVolumeSources;
}

/**
 * A NIfTI volume sliced along voxel `axis` (0, 1 or 2), every slice under one window (min-max of the volume
 * unless `window` says otherwise); more than `maxVoxels` voxels is IMAGE_TOO_LARGE.
 */
export function readNiftiVolumeSlices(
  bytes: Uint8Array,
  axis: 0 | 1 | 2,
  window: WindowSpec | null | undefined,
  maxVoxels: number,
): LoadedVolume {
  const volume = decoding('NIfTI', () => decodeNifti(bytes, { maxVoxels }));
  const display = volumeDisplay(
    volume.data,
    decoding('window', () => windowChoice(window, { kind: 'min-max' })),
  );
  const [nx, ny, nz] = volume.dims;
  const [width, height] = axis === 2 ? [nx, ny] : axis === 1 ? [nx, nz] : [ny, nz];
  const [dx, dy, dz] = volume.spacing;
  const inPlane: [number, number, number] =
    axis === 2 ? [dy, dx, dz] : axis === 1 ? [dz, dx, dy] : [dz, dy, dx];
  return {
    kind: 'nifti',
    width,
    height,
    depth: volume.dims[axis],
    spacing: inPlane,
    slice(index) {
      const { raster, spacing } = decoding('NIfTI', () => sliceVolume(volume, axis, index));
      return { width, height, channels: 1, data: display(raster.data), spacing };
    },
    labelVolume(masks, label = 1) {
      const data = new Uint8Array(nx * ny * nz);
      for (const [index, mask] of masks) {
        for (let v = 0; v < height; v++) {
          for (let u = 0; u < width; u++) {
            if (!mask.data[u + width * v]) continue;
            // the inverse of sliceVolume's indexing for this axis
            const at =
              axis === 2
                ? u + nx * (v + ny * index)
                : axis === 1
                  ? u + nx * (index + ny * v)
                  : index + nx * (u + ny * v);
            data[at] = label;
          }
        }
      }
      return {
        dims: [nx, ny, nz],
        spacing: [dx, dy, dz],
        ...(volume.orientationSource !== 'pixdim' ? { affine: volume.affine.map((r) => [...r]) } : {}),
        data,
      };
    },
  };
}

const cross = (a: number[], b: number[]): number[] => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];
const dot = (a: number[], b: number[]): number => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

/**
 * A DICOM series (single-frame grey Part 10 files of one series, in any order) as a volume sorted along the
 * slice normal, every slice under one window (the files' own unless `window` says otherwise); more than
 * `maxVoxels` voxels in all is IMAGE_TOO_LARGE. `pacs` names where the files came from, for the SEG.
 */
export function readDicomSeriesVolume(
  files: Uint8Array[],
  window: WindowSpec | null | undefined,
  maxVoxels: number,
  pacs?: string,
): LoadedVolume {
  if (files.length === 0) throw new ImageRequestError('a DICOM series volume needs at least one instance');
  const decoded: DicomImage[] = files.map((bytes, i) =>
    decoding(`DICOM instance ${i}`, () => decodeDicom(bytes, { maxPixels: maxVoxels })),
  );
  const first = decoded[0].metadata;
  const voxels = first.rows * first.columns * decoded.length;
  if (voxels > maxVoxels) {
    throw new ImageError(
      'IMAGE_TOO_LARGE',
      `DICOM series of ${voxels} voxels exceeds the limit of ${maxVoxels}`,
    );
  }
  decoded.forEach((d, i) => {
    const m = d.metadata;
    if (m.rows !== first.rows || m.columns !== first.columns)
      throw new ImageRequestError(
        `DICOM instance ${i} is ${m.columns}x${m.rows}, instance 0 is ${first.columns}x${first.rows}`,
      );
    if (m.seriesInstanceUid !== first.seriesInstanceUid)
      throw new ImageRequestError(`DICOM instance ${i} belongs to another series than instance 0`);
    if (m.numberOfFrames !== 1 || d.raster.channels !== 1)
      throw new ImageRequestError(
        `DICOM instance ${i} is not a single-frame grey image; a series volume needs those`,
      );
  });
  // Sort along the slice normal when the geometry is known (PS3.3 C.7.6.2), else by Instance Number.
  const iop = first.imageOrientationPatient;
  const normal = iop ? cross(iop.slice(0, 3), iop.slice(3, 6)) : undefined;
  const order = decoded.map((_, i) => i);
  const key = (i: number): number => {
    const p = decoded[i].metadata.imagePositionPatient;
    if (normal && p) return dot(normal, p);
    return decoded[i].metadata.instanceNumber ?? i;
  };
  order.sort((a, b) => key(a) - key(b));
  const sorted = order.map((i) => decoded[i]);
  const sortedFiles = order.map((i) => files[i]);
  const refs = sortedFiles.map((f, i) => decoding(`DICOM instance ${order[i]}`, () => segSourceFromDicom(f)));

  const choice: WindowChoice = decoding('window', () => windowChoice(window, { kind: 'file' }));
  let display: (d: DicomImage) => Uint8Array;
  switch (choice.kind) {
    case 'file':
      display = (d) => d.display.data as Uint8Array;
      break;
    case 'window':
    case 'preset':
      display = (d) => toDisplay8(d.raster.data, choice);
      break;
    case 'percentiles':
    case 'min-max': {
      const all = new Float32Array(voxels);
      sorted.forEach((d, k) => all.set(d.raster.data, k * first.rows * first.columns));
      const [lo, hi] =
        choice.kind === 'min-max' ? minMax(all) : percentileRange(all, choice.low, choice.high);
      display = (d) => applyRange(d.raster.data, lo, hi);
      break;
    }
    default: {
      const never: never = choice;
      throw new Error(`unknown window choice ${JSON.stringify(never)}`);
    }
  }

  const ps = first.pixelSpacing;
  const positions = sorted.map((d) => d.metadata.imagePositionPatient);
  let sliceStep: number[] | undefined;
  if (positions.every((p) => p !== undefined) && sorted.length > 1) {
    const a = positions[0]!;
    const b = positions[positions.length - 1]!;
    sliceStep = [0, 1, 2].map((k) => (b[k] - a[k]) / (sorted.length - 1));
  } else if (normal && first.sliceThickness) {
    sliceStep = normal.map((v) => v * first.sliceThickness!);
  }
  const sliceDistance = sliceStep
    ? Math.hypot(sliceStep[0], sliceStep[1], sliceStep[2])
    : (first.sliceThickness ?? 1);
  let affine: number[][] | undefined;
  if (iop && ps && positions[0] && sliceStep) {
    // Columns advance along IOP's row direction by sx, rows along its column direction by sy (LPS);
    // NIfTI's world is RAS, so x and y flip sign.
    const lps = [0, 1, 2].map((k) => [iop[k] * ps[1], iop[3 + k] * ps[0], sliceStep[k], positions[0]![k]]);
    affine = [lps[0].map((v) => -v), lps[1].map((v) => -v), lps[2], [0, 0, 0, 1]];
  }
  const width = first.columns;
  const height = first.rows;
  return {
    kind: 'dicom',
    width,
    height,
    depth: sorted.length,
    ...(ps ? { spacing: [ps[0], ps[1], sliceDistance] as [number, number, number] } : {}),
    slice(index) {
      const d = sorted[index];
      return { width, height, channels: 1, data: display(d), ...(ps ? { spacing: [ps[0], ps[1]] } : {}) };
    },
    labelVolume(masks, label = 1) {
      const data = new Uint8Array(width * height * sorted.length);
      for (const [index, mask] of masks) {
        const base = index * width * height;
        for (let i = 0; i < width * height; i++) if (mask.data[i]) data[base + i] = label;
      }
      return {
        dims: [width, height, sorted.length],
        spacing: [ps?.[1] ?? 1, ps?.[0] ?? 1, sliceDistance],
        ...(affine ? { affine } : {}),
        data,
      };
    },
    dicom: { sources: refs.map((r) => r.source), context: refs[0].context, ...(pacs ? { pacs } : {}) },
  };
}
