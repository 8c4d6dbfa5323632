/**
 * NIfTI-1/NIfTI-2 volumes (.nii, .nii.gz): header checks, voxel data with scl_slope/scl_inter, spacing and
 * orientation (qform/sform, https://nifti.nimh.nih.gov/nifti-1/documentation/nifti1fields), and 2-D slicing.
 */
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import * as nifti from 'nifti-reader-js';
import type { Raster } from '../core/raster.ts';
import { checkPixelLimit, DEFAULT_MAX_PIXELS, ImageError } from './image-error.ts';

/** Voxel storage of a volume, in its own datatype or Float32Array/Float64Array once scaled. */
export type VolumeData =
  Uint8Array | Int8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

/** NIfTI datatype names the gateway reads (NIFTI_TYPE_* codes 2, 4, 8, 16, 64, 256, 512, 768). */
export type NiftiDatatype =
  'uint8' | 'int16' | 'int32' | 'float32' | 'float64' | 'int8' | 'uint16' | 'uint32';

const DATATYPES: Record<number, { name: NiftiDatatype; bytes: number }> = {
  2: { name: 'uint8', bytes: 1 },
  4: { name: 'int16', bytes: 2 },
  8: { name: 'int32', bytes: 4 },
  16: { name: 'float32', bytes: 4 },
  64: { name: 'float64', bytes: 8 },
  256: { name: 'int8', bytes: 1 },
  512: { name: 'uint16', bytes: 2 },
  768: { name: 'uint32', bytes: 4 },
};

/** A decoded 3-D volume (one time point of a 4-D file). Voxel (x, y, z) is `data[x + nx * (y + ny * z)]`. */
export interface NiftiVolume {
  /** [nx, ny, nz] voxels (dim[1..3]; a 2-D image has nz = 1). */
  dims: [number, number, number];
  /** Number of volumes along dim[4] in the file (this one is `volumeIndex`). */
  volumes: number;
  /** [dx, dy, dz] voxel size from pixdim[1..3], in the file's spatial unit (normally mm). */
  spacing: [number, number, number];
  datatype: NiftiDatatype;
  littleEndian: boolean;
  /** Real values: stored * scl_slope + scl_inter when scaling applies (slope 0 or NaN means none). */
  data: VolumeData;
  sclSlope: number;
  sclInter: number;
  /** 4x4 voxel-to-world (RAS+ mm) matrix, rows. */
  affine: number[][];
  /** Which header fields gave `affine`: sform (code > 0), else qform (code > 0), else pixdim only. */
  orientationSource: 'sform' | 'qform' | 'pixdim';
  /** The world direction each voxel axis increases toward, e.g. "RAS" or "LPS" (nibabel's aff2axcodes). */
  axisCodes: string;
}

/** Options of decodeNifti. */
export interface NiftiDecodeOptions {
  /** Largest accepted nx*ny*nz; checked from the header before voxel data is copied. */
  maxVoxels?: number;
  /** Which volume of a 4-D file (0-based); default 0. */
  volumeIndex?: number;
}

const bad = (message: string): ImageError => new ImageError('BAD_IMAGE', `NIfTI: ${message}`);

/** NIfTI-1 header bytes handed to the header reader (348 plus the extension flag). */
const NIFTI1_HEADER_BYTES = 352;
/** NIfTI-2 header bytes handed to the header reader. */
const NIFTI2_HEADER_BYTES = 540;
/** Compressed bytes inflated to read the header of a .nii.gz: deflate expands at most ~1032x, so <= 17 MB. */
const GZIP_HEADER_PREFIX = 16 * 1024;

/**
 * A copy of the header bytes only: NIfTI-1 is cut before its extensions and NIfTI-2 at its end, so the
 * reader never walks extension records (their sizes come from the file) and never needs the voxel bytes.
 */
function headerBuffer(raw: Uint8Array): ArrayBuffer {
  // NIfTI-2 keeps its magic at byte 4 (in either byte order); NIfTI-1 at byte 344.
  const nifti2 = raw.length >= 8 && String.fromCharCode(raw[4], raw[5], raw[6]) === 'n+2';
  const size = nifti2 ? NIFTI2_HEADER_BYTES : NIFTI1_HEADER_BYTES;
  const end = Math.min(raw.length, size);
  return raw.buffer.slice(raw.byteOffset, raw.byteOffset + end) as ArrayBuffer;
}

/**
 * Inflates a .nii.gz no further than its own header says it is: the header is read from an inflated prefix
 * first, and the whole stream is then capped at vox_offset + every voxel of every volume (and at the voxel
 * limit). A small file that inflates past what it declares is BAD_IMAGE; one that declares too much is
 * IMAGE_TOO_LARGE, before the big inflate.
 */
function gunzipBounded(bytes: Uint8Array, maxVoxels: number): Uint8Array {
  let head: Uint8Array;
  try {
    head = gunzipSync(bytes.subarray(0, GZIP_HEADER_PREFIX), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  } catch (err) {
    throw bad(`gzip stream could not be inflated: ${(err as Error).message}`);
  }
  const buffer = headerBuffer(head);
  if (head.length < 348 || !nifti.isNIFTI(buffer))
    throw bad(`no NIfTI-1 ("n+1") or NIfTI-2 ("n+2") magic in the inflated gzip stream`);
  let header: nifti.NIFTI1 | nifti.NIFTI2;
  try {
    header = nifti.readHeader(buffer);
  } catch (err) {
    throw bad(`header could not be read: ${(err as Error).message}`);
  }
  const rank = header.dims[0];
  const dims = Number.isInteger(rank) && rank >= 1 && rank <= 7 ? header.dims.slice(1, rank + 1) : [];
  const voxels = dims.reduce((a, d) => a * (Number.isInteger(d) && d > 0 ? d : 0), dims.length > 0 ? 1 : 0);
  const perVolume = (dims[0] ?? 0) * (dims[1] ?? 1) * (dims[2] ?? 1);
  checkPixelLimit(perVolume, maxVoxels, `NIfTI volume ${dims.slice(0, 3).join('x')}`);
  const voxelBytes = Math.max(1, Math.ceil(header.numBitsPerVoxel / 8));
  const declared = Math.ceil(Math.max(header.vox_offset, 348)) + voxels * voxelBytes;
  const cap = maxVoxels * 8 + (1 << 20);
  if (!Number.isFinite(declared) || declared > cap) {
    throw new ImageError(
      'IMAGE_TOO_LARGE',
      `NIfTI declares ${voxels} voxels in all volumes (${declared} bytes), over the limit of ${cap} bytes`,
    );
  }
  try {
    return gunzipSync(bytes, { maxOutputLength: Math.max(declared, head.length) });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw bad(`gzip stream inflates past the ${declared} bytes its header declares`);
    throw bad(`gzip stream could not be inflated: ${(err as Error).message}`);
  }
}

/**
 * Decodes a .nii or .nii.gz (gzip recognised by its magic bytes). Wrong magic, truncation, absurd or
 * non-positive dimensions, unknown datatypes and missing voxel data are typed errors; gunzip is capped so a
 * small bomb cannot inflate to more than the voxel limit allows.
 */
export function decodeNifti(bytes: Uint8Array, options: NiftiDecodeOptions = {}): NiftiVolume {
  const maxVoxels = options.maxVoxels ?? DEFAULT_MAX_PIXELS;
  let raw = bytes;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) raw = gunzipBounded(bytes, maxVoxels);
  // The header alone goes to nifti-reader (it needs an ArrayBuffer of its own); the voxels are read from
  // `raw` in place, so the volume is never copied whole once more.
  const buffer = headerBuffer(raw);
  if (raw.length < 348 || !nifti.isNIFTI(buffer)) {
    throw bad(`no NIfTI-1 ("n+1") or NIfTI-2 ("n+2") magic in a ${raw.length}-byte input`);
  }
  let header: nifti.NIFTI1 | nifti.NIFTI2;
  try {
    header = nifti.readHeader(buffer);
  } catch (err) {
    throw bad(`header could not be read: ${(err as Error).message}`);
  }
  const rank = header.dims[0];
  if (!Number.isInteger(rank) || rank < 1 || rank > 7) throw bad(`dim[0] is ${rank}, expected 1..7`);
  const dimsAll = header.dims.slice(1, rank + 1);
  if (dimsAll.some((d) => !Number.isInteger(d) || d < 1))
    throw bad(`dimensions [${dimsAll.join(', ')}] must all be positive`);
  if (rank > 4 && dimsAll.slice(4).some((d) => d !== 1)) {
    throw new ImageError(
      'UNSUPPORTED_FORMAT',
      `NIfTI with ${rank} dimensions [${dimsAll.join(', ')}]; at most 4 are read`,
    );
  }
  const nx = dimsAll[0];
  const ny = dimsAll[1] ?? 1;
  const nz = dimsAll[2] ?? 1;
  const volumes = dimsAll[3] ?? 1;
  checkPixelLimit(nx * ny * nz, maxVoxels, `NIfTI volume ${nx}x${ny}x${nz}`);
  const volumeIndex = options.volumeIndex ?? 0;
  if (!Number.isInteger(volumeIndex) || volumeIndex < 0 || volumeIndex >= volumes) {
    throw bad(`volume index ${volumeIndex} is outside 0..${volumes - 1}`);
  }
  const type = DATATYPES[header.datatypeCode];
  if (type === undefined) {
    throw new ImageError(
      'UNSUPPORTED_FORMAT',
      `NIfTI datatype ${header.datatypeCode} is not supported; expected one of ${Object.values(DATATYPES)
        .map((t) => t.name)
        .join(', ')}`,
    );
  }
  if (header.numBitsPerVoxel !== type.bytes * 8) {
    throw bad(`bitpix ${header.numBitsPerVoxel} contradicts datatype ${type.name} (${type.bytes * 8} bits)`);
  }
  const count = nx * ny * nz;
  const offset = Math.floor(header.vox_offset);
  const start = offset + volumeIndex * count * type.bytes;
  const end = start + count * type.bytes;
  if (!(offset >= 348) || end > raw.length) {
    throw bad(
      `voxel data needs bytes ${start}..${end} but the input has ${raw.length} (vox_offset ${header.vox_offset})`,
    );
  }
  const stored = readVoxels(raw, start, count, type.name, header.littleEndian);
  const slope = header.scl_slope;
  const inter = Number.isFinite(header.scl_inter) ? header.scl_inter : 0;
  const scaled = Number.isFinite(slope) && slope !== 0 && !(slope === 1 && inter === 0);
  let data: VolumeData = stored;
  if (scaled) {
    data = stored instanceof Float64Array ? new Float64Array(count) : new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = stored[i] * slope + inter;
  }
  const pix = header.pixDims;
  const spacing: [number, number, number] = [
    Math.abs(pix[1]) || 1,
    Math.abs(pix[2]) || 1,
    Math.abs(pix[3]) || 1,
  ];
  const { affine, source } = affineOf(header, spacing);
  return {
    dims: [nx, ny, nz],
    volumes,
    spacing,
    datatype: type.name,
    littleEndian: header.littleEndian,
    data,
    sclSlope: scaled ? slope : 1,
    sclInter: scaled ? inter : 0,
    affine,
    orientationSource: source,
    axisCodes: axisCodes(affine),
  };
}

const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

const CONSTRUCTORS = {
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;

function readVoxels(
  raw: Uint8Array,
  start: number,
  count: number,
  type: NiftiDatatype,
  little: boolean,
): VolumeData {
  if (little === HOST_LITTLE_ENDIAN) {
    // Same byte order as the host: one aligned copy instead of a per-voxel DataView loop.
    const Ctor = CONSTRUCTORS[type];
    // new Uint8Array(view) copies into a fresh buffer (Buffer#slice would share node's pool).
    return new Ctor(new Uint8Array(raw.subarray(start, start + count * Ctor.BYTES_PER_ELEMENT)).buffer);
  }
  const view = new DataView(raw.buffer, raw.byteOffset + start, raw.byteLength - start);
  switch (type) {
    case 'uint8':
      return new Uint8Array(raw.subarray(start, start + count));
    case 'int8':
      return new Int8Array(new Uint8Array(raw.subarray(start, start + count)).buffer);
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, little);
      return out;
    }
    case 'uint16': {
      const out = new Uint16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getUint16(2 * i, little);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, little);
      return out;
    }
    case 'uint32': {
      const out = new Uint32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getUint32(4 * i, little);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, little);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, little);
      return out;
    }
    default: {
      const never: never = type;
      throw new Error(`unknown datatype ${String(never)}`);
    }
  }
}

// NIfTI-1 methods 3 (sform), 2 (qform quaternion) and 1 (pixdim scaling only), in that order of preference.
function affineOf(
  h: nifti.NIFTI1 | nifti.NIFTI2,
  spacing: [number, number, number],
): { affine: number[][]; source: NiftiVolume['orientationSource'] } {
  if (h.sform_code > 0 && Array.isArray(h.affine) && h.affine.length >= 3) {
    return {
      affine: [h.affine[0].slice(0, 4), h.affine[1].slice(0, 4), h.affine[2].slice(0, 4), [0, 0, 0, 1]],
      source: 'sform',
    };
  }
  if (h.qform_code > 0) {
    const b = h.quatern_b;
    const c = h.quatern_c;
    const d = h.quatern_d;
    const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
    const qfac = h.pixDims[0] < 0 ? -1 : 1;
    const r = [
      [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
      [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
      [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ];
    const s = [spacing[0], spacing[1], spacing[2] * qfac];
    const off = [h.qoffset_x, h.qoffset_y, h.qoffset_z];
    return {
      affine: [0, 1, 2]
        // "+ 0" turns the -0 that sign flips of zero entries produce into 0
        .map((i) => [r[i][0] * s[0] + 0, r[i][1] * s[1] + 0, r[i][2] * s[2] + 0, off[i]])
        .concat([[0, 0, 0, 1]]),
      source: 'qform',
    };
  }
  return {
    affine: [
      [spacing[0], 0, 0, 0],
      [0, spacing[1], 0, 0],
      [0, 0, spacing[2], 0],
      [0, 0, 0, 1],
    ],
    source: 'pixdim',
  };
}

/**
 * Axis codes of a voxel-to-world affine: for each voxel axis, the world axis its column points along most
 * (each world axis used once) and the letter of its positive direction (R, A, S) or negative one (L, P, I).
 */
export function axisCodes(affine: number[][]): string {
  const letters = [
    ['L', 'R'],
    ['P', 'A'],
    ['I', 'S'],
  ];
  const used = new Set<number>();
  let codes = '';
  for (let axis = 0; axis < 3; axis++) {
    let best = -1;
    for (let w = 0; w < 3; w++) {
      if (used.has(w)) continue;
      if (best < 0 || Math.abs(affine[w][axis]) > Math.abs(affine[best][axis])) best = w;
    }
    used.add(best);
    codes += letters[best][affine[best][axis] >= 0 ? 1 : 0];
  }
  return codes;
}

/** A 2-D slice and its in-plane spacing [sy, sx]. */
export interface VolumeSlice {
  raster: Raster;
  spacing: [number, number];
}

/**
 * The 2-D slice at `index` across voxel axis `axis` (no reorientation, voxel order kept):
 * axis 2 gives width nx, height ny (spacing [dy, dx]); axis 1 gives width nx, height nz ([dz, dx]);
 * axis 0 gives width ny, height nz ([dz, dy]). Samples keep Uint8/Uint16/Int16/Float32 storage,
 * other datatypes become Float32Array.
 */
export function sliceVolume(volume: NiftiVolume, axis: 0 | 1 | 2, index: number): VolumeSlice {
  const [nx, ny, nz] = volume.dims;
  const [dx, dy, dz] = volume.spacing;
  if (axis !== 0 && axis !== 1 && axis !== 2) throw bad(`slice axis ${String(axis)}; expected 0, 1 or 2`);
  const n = volume.dims[axis];
  if (!Number.isInteger(index) || index < 0 || index >= n)
    throw bad(`slice index ${index} along axis ${axis} is outside 0..${n - 1}`);
  const [width, height, spacing] =
    axis === 2 ? [nx, ny, [dy, dx]] : axis === 1 ? [nx, nz, [dz, dx]] : ([ny, nz, [dz, dy]] as const);
  const src = volume.data;
  const keep =
    src instanceof Uint8Array ||
    src instanceof Uint16Array ||
    src instanceof Int16Array ||
    src instanceof Float32Array;
  const data = keep
    ? new (src.constructor as Float32ArrayConstructor)(width * height)
    : new Float32Array(width * height);
  for (let v = 0; v < height; v++) {
    for (let u = 0; u < width; u++) {
      const at =
        axis === 2
          ? u + nx * (v + ny * index)
          : axis === 1
            ? u + nx * (index + ny * v)
            : index + nx * (u + ny * v);
      data[u + width * v] = src[at];
    }
  }
  const s: [number, number] = [spacing[0], spacing[1]];
  return { raster: { width, height, channels: 1, data: data as Raster['data'], spacing: s }, spacing: s };
}
