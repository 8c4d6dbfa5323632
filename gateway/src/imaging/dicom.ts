/**
 * DICOM image decoding (PS3.3 C.7.6.3 Image Pixel, C.11.1 Modality LUT, C.11.2 VOI LUT; PS3.5 8 and Annex
 * A/G): stored values, rescaled real values (e.g. HU), an 8-bit windowed display image, spacing and metadata.
 */
import type { DataSet } from 'dicom-parser';
import type { Raster, RasterData } from '../core/raster.ts';
import { decodeJpeg } from './decode-jpeg.ts';
import type { CodecFrame } from './dicom-codecs.ts';
import { decodeJpeg2000Frame, decodeJpegLosslessFrame, decodeJpegLsFrame } from './dicom-codecs.ts';
import {
  checkTransferSyntax,
  dicomParser,
  firstItem,
  items,
  numberValue,
  numberValues,
  parseDicomPart10,
  stringValue,
} from './dicom-dataset.ts';
import { decodeRleFrame } from './dicom-rle.ts';
import { checkPixelLimit, DEFAULT_MAX_PIXELS, ImageError } from './image-error.ts';
import { pixelEncodingOf } from './transfer-syntax.ts';
import type { DisplayMapping, Window } from './windowing.ts';
import { toDisplay8, WINDOW_PRESETS } from './windowing.ts';

/** What the gateway keeps of a DICOM image's header. No patient identifiers unless asked for. */
export interface DicomMetadata {
  transferSyntaxUid: string;
  sopClassUid?: string;
  sopInstanceUid?: string;
  seriesInstanceUid?: string;
  studyInstanceUid?: string;
  frameOfReferenceUid?: string;
  modality?: string;
  instanceNumber?: number;
  rows: number;
  columns: number;
  numberOfFrames: number;
  samplesPerPixel: number;
  photometricInterpretation: string;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
  planarConfiguration: 0 | 1;
  /** (0028,0030) [row spacing, column spacing] in mm, from the top level or the shared functional groups. */
  pixelSpacing?: [number, number];
  /** (0020,0032) in mm (for multi-frame, that of the decoded frame when per-frame groups give it). */
  imagePositionPatient?: [number, number, number];
  /** (0020,0037) row and column direction cosines. */
  imageOrientationPatient?: [number, number, number, number, number, number];
  sliceThickness?: number;
  rescaleSlope: number;
  rescaleIntercept: number;
  rescaleType?: string;
  /** The first Window Center / Width of the file, if any. */
  windowCenter?: number;
  windowWidth?: number;
  /** Only with `includePatient: true`. */
  patient?: { name?: string; id?: string };
}

/** Options of decodeDicom. */
export interface DicomDecodeOptions {
  /** 0-based index of the frame to decode in a multi-frame image (frame number minus one); default 0. */
  frameIndex?: number;
  /**
   * Display mapping for `display`; default: the file's first Window Center/Width, else min-max. Applied
   * to rescaled values (modality LUT output), as PS3.3 C.11.2 orders them.
   */
  display?: DisplayMapping;
  /** Largest accepted Rows x Columns (checked from the header before pixels are read). */
  maxPixels?: number;
  /** Adds PatientName and PatientID to the metadata; off by default so identifiers do not spread. */
  includePatient?: boolean;
}

/** A decoded DICOM frame. */
export interface DicomImage {
  /**
   * Real values: stored values through the modality LUT (Float32Array when slope/intercept change them,
   * otherwise Int16Array for signed, Uint16Array/Uint8Array for unsigned samples); RGB as 3 channels.
   */
  raster: Raster;
  /** 8-bit display image: windowed grey (MONOCHROME1 inverted), or the RGB samples themselves. */
  display: Raster;
  /** The window actually applied to `display` (absent for RGB or non-window mappings). */
  window?: Window;
  /** [sy, sx] in mm from Pixel Spacing, when present. */
  spacing?: [number, number];
  metadata: DicomMetadata;
}

/** Reads the header of a DICOM Part 10 file (stops before Pixel Data); see DicomMetadata. */
export function readDicomMetadata(
  bytes: Uint8Array,
  options: { includePatient?: boolean } = {},
): DicomMetadata {
  const { dataSet, transferSyntaxUid } = parseDicomPart10(bytes, 'x7fe00010');
  return extractMetadata(dataSet, transferSyntaxUid, 0, options.includePatient === true);
}

/**
 * Decodes one frame of a DICOM image: native (Implicit/Explicit VR LE, Explicit VR BE, Deflated), RLE Lossless,
 * JPEG Baseline, JPEG Lossless (process 14), JPEG-LS (lossless and near-lossless) or JPEG 2000 pixel data; 8/16-bit signed or unsigned grey (any Bits Stored up to Bits Allocated),
 * MONOCHROME1/2, RGB or YBR_FULL with either planar configuration. Other transfer syntaxes are
 * UNSUPPORTED_TRANSFER_SYNTAX; malformed files BAD_IMAGE; oversized ones IMAGE_TOO_LARGE.
 */
export function decodeDicom(bytes: Uint8Array, options: DicomDecodeOptions = {}): DicomImage {
  const { dataSet, transferSyntaxUid } = parseDicomPart10(bytes);
  checkTransferSyntax(transferSyntaxUid);
  const frameIndex = options.frameIndex ?? 0;
  const meta = extractMetadata(dataSet, transferSyntaxUid, frameIndex, options.includePatient === true);
  const { rows, columns, samplesPerPixel: spp, bitsAllocated, bitsStored, numberOfFrames } = meta;
  if (rows <= 0 || columns <= 0)
    throw new ImageError('BAD_IMAGE', `DICOM declares ${rows} rows and ${columns} columns`);
  checkPixelLimit(rows * columns, options.maxPixels ?? DEFAULT_MAX_PIXELS, `DICOM ${columns}x${rows}`);
  if (!Number.isInteger(frameIndex) || frameIndex < 0 || frameIndex >= numberOfFrames) {
    throw new ImageError('BAD_IMAGE', `frame index ${frameIndex} is outside 0..${numberOfFrames - 1}`);
  }
  if (spp !== 1 && spp !== 3)
    throw new ImageError('UNSUPPORTED_FORMAT', `DICOM Samples per Pixel ${spp}; expected 1 or 3`);
  if (bitsAllocated !== 8 && bitsAllocated !== 16) {
    throw new ImageError('UNSUPPORTED_FORMAT', `DICOM Bits Allocated ${bitsAllocated}; expected 8 or 16`);
  }
  if (bitsStored < 1 || bitsStored > bitsAllocated) {
    throw new ImageError(
      'BAD_IMAGE',
      `DICOM Bits Stored ${bitsStored} does not fit Bits Allocated ${bitsAllocated}`,
    );
  }
  const encoding = pixelEncodingOf(transferSyntaxUid);
  const photometric = meta.photometricInterpretation;
  const grey = photometric === 'MONOCHROME1' || photometric === 'MONOCHROME2';
  // YBR_RCT / YBR_ICT name JPEG 2000's component transforms, which the codec itself inverts to RGB (PS3.5 8.2.4).
  const colours = [
    'RGB',
    'YBR_FULL',
    'YBR_FULL_422',
    ...(encoding === 'jpeg2000' ? ['YBR_RCT', 'YBR_ICT'] : []),
  ];
  if (grey !== (spp === 1) || !(grey || colours.includes(photometric))) {
    throw new ImageError(
      'UNSUPPORTED_FORMAT',
      `DICOM photometric interpretation ${photometric} with ${spp} samples per pixel; expected MONOCHROME1/2 or RGB/YBR_FULL`,
    );
  }
  if (spp === 3 && bitsAllocated !== 8) {
    throw new ImageError(
      'UNSUPPORTED_FORMAT',
      `DICOM colour images with ${bitsAllocated}-bit samples; expected 8`,
    );
  }

  const pixelElement = dataSet.elements.x7fe00010;
  if (pixelElement === undefined)
    throw new ImageError('BAD_IMAGE', 'DICOM file has no Pixel Data (7FE0,0010)');
  const pixels = rows * columns;
  let stored: Uint8Array | Uint16Array | Int16Array;
  let colour: Uint8Array | undefined;
  switch (encoding) {
    case 'native-le':
    case 'native-be':
    case 'deflate-le': {
      const frameBytes = (pixels * spp * bitsAllocated) / 8;
      // Number of Frames is checked against the bytes present, so no caller iterates frames that are not there.
      if (numberOfFrames * frameBytes > pixelElement.length) {
        throw new ImageError(
          'BAD_IMAGE',
          `DICOM declares ${numberOfFrames} frames of ${frameBytes} bytes but Pixel Data holds ${pixelElement.length} bytes`,
        );
      }
      const start = pixelElement.dataOffset + frameIndex * frameBytes;
      if (
        pixelElement.encapsulatedPixelData === true ||
        start + frameBytes > pixelElement.dataOffset + pixelElement.length
      ) {
        throw new ImageError(
          'BAD_IMAGE',
          `DICOM Pixel Data holds ${pixelElement.length} bytes; frame ${frameIndex} needs bytes ${start - pixelElement.dataOffset}..${start - pixelElement.dataOffset + frameBytes}`,
        );
      }
      const raw = dataSet.byteArray.subarray(start, start + frameBytes);
      if (spp === 3) colour = planarToInterleaved(raw, pixels, meta.planarConfiguration);
      else stored = readGrey(raw, pixels, meta, encoding !== 'native-be');
      break;
    }
    case 'rle': {
      const frame = encapsulatedFrame(dataSet, frameIndex, numberOfFrames, false);
      const raw = decodeRleFrame(frame, rows, columns, spp, bitsAllocated);
      // RLE segments are decoded to pixel-interleaved order regardless of Planar Configuration (PS3.5 G.2).
      if (spp === 3) colour = raw;
      else stored = readGrey(raw, pixels, meta, true);
      break;
    }
    case 'jpeg-baseline': {
      const frame = encapsulatedFrame(dataSet, frameIndex, numberOfFrames, true);
      const decoded = decodeJpeg(frame, options.maxPixels ?? DEFAULT_MAX_PIXELS);
      if (decoded.width !== columns || decoded.height !== rows || decoded.channels !== spp) {
        throw new ImageError(
          'BAD_IMAGE',
          `JPEG frame is ${decoded.width}x${decoded.height}x${decoded.channels}, the header says ${columns}x${rows}x${spp}`,
        );
      }
      // jpeg-js has already converted YCbCr to RGB.
      if (spp === 3) colour = decoded.data as Uint8Array;
      else stored = readGrey(new Uint8Array(decoded.data.buffer), pixels, meta, true);
      break;
    }
    case 'jpeg-lossless':
    case 'jpeg-ls':
    case 'jpeg2000': {
      const frame = encapsulatedFrame(dataSet, frameIndex, numberOfFrames, encoding === 'jpeg-lossless');
      const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
      const decoded =
        encoding === 'jpeg-lossless'
          ? decodeJpegLosslessFrame(frame, maxPixels)
          : encoding === 'jpeg-ls'
            ? decodeJpegLsFrame(frame, maxPixels)
            : decodeJpeg2000Frame(frame, maxPixels);
      checkCodecFrame(decoded, columns, rows, spp, bitsAllocated);
      // The codecs return pixel-interleaved little-endian samples whatever the Planar Configuration says.
      if (spp === 3) colour = decoded.data;
      else stored = readGrey(decoded.data, pixels, meta, true);
      break;
    }
    case 'unsupported':
      throw new Error('unreachable: checkTransferSyntax accepted an unsupported syntax');
    default: {
      const never: never = encoding;
      throw new Error(`unknown pixel encoding ${String(never)}`);
    }
  }

  const spacing = meta.pixelSpacing;
  const withSpacing = (r: Raster): Raster =>
    spacing === undefined ? r : { ...r, spacing: [spacing[0], spacing[1]] };
  if (colour !== undefined) {
    if (photometric === 'YBR_FULL' && encoding !== 'jpeg-baseline') ybrFullToRgbInPlace(colour);
    const raster = withSpacing({ width: columns, height: rows, channels: 3, data: colour });
    return {
      raster,
      display: withSpacing({ ...raster, data: colour.slice() }),
      ...(spacing ? { spacing } : {}),
      metadata: meta,
    };
  }
  const real = applyModalityLut(stored!, meta.rescaleSlope, meta.rescaleIntercept);
  const mapping = displayMappingFor(options.display, meta);
  const display = toDisplay8(real, mapping);
  if (photometric === 'MONOCHROME1') for (let i = 0; i < display.length; i++) display[i] = 255 - display[i];
  const window =
    mapping.kind === 'window'
      ? mapping.window
      : mapping.kind === 'preset'
        ? { ...WINDOW_PRESETS[mapping.preset] }
        : undefined;
  return {
    raster: withSpacing({ width: columns, height: rows, channels: 1, data: real }),
    display: withSpacing({ width: columns, height: rows, channels: 1, data: display }),
    ...(window ? { window } : {}),
    ...(spacing ? { spacing } : {}),
    metadata: meta,
  };
}

function checkCodecFrame(
  f: CodecFrame,
  columns: number,
  rows: number,
  spp: number,
  bitsAllocated: number,
): void {
  if (
    f.width !== columns ||
    f.height !== rows ||
    f.components !== spp ||
    f.bytesPerSample * 8 !== bitsAllocated
  ) {
    throw new ImageError(
      'BAD_IMAGE',
      `compressed frame is ${f.width}x${f.height}x${f.components} with ${f.bytesPerSample * 8}-bit samples, the header says ${columns}x${rows}x${spp} with ${bitsAllocated}`,
    );
  }
}

function displayMappingFor(requested: DisplayMapping | undefined, meta: DicomMetadata): DisplayMapping {
  if (requested !== undefined) return requested;
  if (meta.windowCenter !== undefined && meta.windowWidth !== undefined && meta.windowWidth >= 1) {
    return { kind: 'window', window: { center: meta.windowCenter, width: meta.windowWidth } };
  }
  return { kind: 'min-max' };
}

// Masks the Bits Stored low bits and sign-extends them for Pixel Representation 1 (PS3.5 8.1.1).
function readGrey(
  raw: Uint8Array,
  pixels: number,
  meta: DicomMetadata,
  little: boolean,
): Uint8Array | Uint16Array | Int16Array {
  const { bitsAllocated, bitsStored, pixelRepresentation } = meta;
  const signed = pixelRepresentation === 1;
  const mask = bitsStored >= 32 ? 0xffffffff : 2 ** bitsStored - 1;
  const signBit = 2 ** (bitsStored - 1);
  const out = signed
    ? new Int16Array(pixels)
    : bitsAllocated === 8
      ? new Uint8Array(pixels)
      : new Uint16Array(pixels);
  if (raw.length < (pixels * bitsAllocated) / 8) {
    throw new ImageError(
      'BAD_IMAGE',
      `DICOM frame holds ${raw.length} bytes, expected ${(pixels * bitsAllocated) / 8}`,
    );
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < pixels; i++) {
    let v = (bitsAllocated === 8 ? raw[i] : view.getUint16(2 * i, little)) & mask;
    if (signed && v >= signBit) v -= 2 * signBit;
    out[i] = v;
  }
  return out;
}

function applyModalityLut(
  stored: Uint8Array | Uint16Array | Int16Array,
  slope: number,
  intercept: number,
): RasterData {
  if (slope === 1 && intercept === 0) return stored;
  const out = new Float32Array(stored.length);
  for (let i = 0; i < stored.length; i++) out[i] = stored[i] * slope + intercept;
  return out;
}

function planarToInterleaved(raw: Uint8Array, pixels: number, planar: 0 | 1): Uint8Array {
  if (planar === 0) return new Uint8Array(raw.subarray(0, pixels * 3)); // a copy even when raw is a Buffer
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    out[i * 3] = raw[i];
    out[i * 3 + 1] = raw[pixels + i];
    out[i * 3 + 2] = raw[2 * pixels + i];
  }
  return out;
}

// YBR_FULL to RGB as PS3.3 C.7.6.3.1.2 defines it (full-range ITU-R BT.601).
function ybrFullToRgbInPlace(data: Uint8Array): void {
  const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  for (let i = 0; i < data.length; i += 3) {
    const y = data[i];
    const cb = data[i + 1] - 128;
    const cr = data[i + 2] - 128;
    data[i] = clamp(y + 1.402 * cr);
    data[i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
    data[i + 2] = clamp(y + 1.772 * cb);
  }
}

function encapsulatedFrame(ds: DataSet, frameIndex: number, frames: number, isJpeg: boolean): Uint8Array {
  const el = ds.elements.x7fe00010;
  const fragments = el.fragments ?? [];
  if (el.encapsulatedPixelData !== true || fragments.length === 0) {
    throw new ImageError(
      'BAD_IMAGE',
      'compressed transfer syntax but Pixel Data is not encapsulated in fragments',
    );
  }
  try {
    if (frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length);
    if ((el.basicOffsetTable ?? []).length > 0)
      return dicomParser.readEncapsulatedImageFrame(ds, el, frameIndex);
    if (fragments.length === frames)
      return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, frameIndex, 1);
    if (isJpeg) {
      const table = dicomParser.createJPEGBasicOffsetTable(ds, el);
      return dicomParser.readEncapsulatedImageFrame(ds, el, frameIndex, table);
    }
  } catch (err) {
    throw new ImageError(
      'BAD_IMAGE',
      `encapsulated frame ${frameIndex} unreadable: ${(err as Error).message}`,
      { cause: err },
    );
  }
  throw new ImageError(
    'BAD_IMAGE',
    `cannot locate frame ${frameIndex}: ${fragments.length} fragments for ${frames} frames and no Basic Offset Table`,
  );
}

function tuple<N extends number>(values: number[], n: N, tag: string): number[] | undefined {
  if (values.length === 0) return undefined;
  if (values.length !== n)
    throw new ImageError('BAD_IMAGE', `DICOM ${tag} has ${values.length} values, expected ${n}`);
  return values;
}

function extractMetadata(
  ds: DataSet,
  transferSyntaxUid: string,
  frameIndex: number,
  includePatient: boolean,
): DicomMetadata {
  const us = (tag: string, fallback: number): number => ds.uint16(tag) ?? fallback;
  const shared = firstItem(ds, 'x52009229');
  const perFrame = items(ds, 'x52009230')[frameIndex];
  // Enhanced multi-frame objects keep geometry in functional groups (PS3.3 C.7.6.16); classic ones at the top.
  const pick = (seqTag: string, tag: string): number[] => {
    const top = numberValues(ds, tag);
    if (top.length > 0) return top;
    const own = firstItem(perFrame, seqTag);
    const fromFrame = own === undefined ? [] : numberValues(own, tag);
    if (fromFrame.length > 0) return fromFrame;
    const common = firstItem(shared, seqTag);
    return common === undefined ? [] : numberValues(common, tag);
  };
  const spacing = tuple(pick('x00289110', 'x00280030'), 2, 'Pixel Spacing');
  const position = tuple(pick('x00209113', 'x00200032'), 3, 'Image Position (Patient)');
  const orientation = tuple(pick('x00209116', 'x00200037'), 6, 'Image Orientation (Patient)');
  const thickness = pick('x00289110', 'x00180050')[0];
  // Enhanced objects: Pixel Value Transformation (0028,9145) and Frame VOI LUT (0028,9132) functional groups.
  const slope = pick('x00289145', 'x00281053')[0];
  const intercept = pick('x00289145', 'x00281052')[0];
  const frames = numberValue(ds, 'x00280008') ?? 1;
  const meta: DicomMetadata = {
    transferSyntaxUid,
    rows: us('x00280010', 0),
    columns: us('x00280011', 0),
    numberOfFrames: frames >= 1 ? Math.floor(frames) : 1,
    samplesPerPixel: us('x00280002', 1),
    photometricInterpretation: stringValue(ds, 'x00280004') ?? 'MONOCHROME2',
    bitsAllocated: us('x00280100', 16),
    bitsStored: us('x00280101', us('x00280100', 16)),
    pixelRepresentation: us('x00280103', 0) === 1 ? 1 : 0,
    planarConfiguration: us('x00280006', 0) === 1 ? 1 : 0,
    rescaleSlope: slope ?? 1,
    rescaleIntercept: intercept ?? 0,
  };
  const optional: Partial<DicomMetadata> = {
    sopClassUid: stringValue(ds, 'x00080016'),
    sopInstanceUid: stringValue(ds, 'x00080018'),
    seriesInstanceUid: stringValue(ds, 'x0020000e'),
    studyInstanceUid: stringValue(ds, 'x0020000d'),
    frameOfReferenceUid: stringValue(ds, 'x00200052'),
    modality: stringValue(ds, 'x00080060'),
    instanceNumber: numberValue(ds, 'x00200013'),
    pixelSpacing: spacing as [number, number] | undefined,
    imagePositionPatient: position as [number, number, number] | undefined,
    imageOrientationPatient: orientation as DicomMetadata['imageOrientationPatient'],
    sliceThickness: thickness,
    rescaleType: stringValue(ds, 'x00281054'),
    windowCenter: pick('x00289132', 'x00281050')[0],
    windowWidth: pick('x00289132', 'x00281051')[0],
  };
  for (const [k, v] of Object.entries(optional))
    if (v !== undefined) (meta as unknown as Record<string, unknown>)[k] = v;
  if (includePatient) {
    const name = stringValue(ds, 'x00100010');
    const id = stringValue(ds, 'x00100020');
    meta.patient = { ...(name === undefined ? {} : { name }), ...(id === undefined ? {} : { id }) };
  }
  return meta;
}
