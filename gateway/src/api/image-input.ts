/**
 * Turns a GraphQL ImageInput into a decoded raster: base64 bytes (PNG, JPEG, TIFF) or a path confined to
 * the configured data roots. Failures are the imaging layer's typed errors or ApiError (api/errors.ts maps them).
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { Raster } from '../core/raster.ts';
import { readFileUnder } from '../imaging/confined-file.ts';
import { decodeImage } from '../imaging/decode-image.ts';
import { decoding } from '../imaging/image-error.ts';
import { ApiError } from './errors.ts';
import { decodeBase64 } from './base64.ts';
import {
  readDicomInput,
  readDicomWebInput,
  readNiftiInput,
  type DicomArg,
  type DicomWebArg,
  type NiftiArg,
} from './medical/input.ts';
import type { PacsRegistry } from './medical/pacs.ts';

/** The ImageInput GraphQL input object (exactly one field set). */
export interface ImageInputArg {
  encoded?: { base64: string; mediaType?: string | null } | null;
  path?: string | null;
  dicom?: DicomArg | null;
  nifti?: NiftiArg | null;
  dicomweb?: DicomWebArg | null;
}

/** Limits applied while reading an image. */
export interface ImageLimits {
  /** Largest file in bytes. */
  maxBytes: number;
  /** Largest decoded image in pixels. */
  maxPixels: number;
  /** Folders `path` inputs may read from (absolute). */
  dataRoots: string[];
  /** Configured PACS endpoints for `dicomweb` inputs (none: such inputs are BAD_REQUEST). */
  pacs?: PacsRegistry;
}

/** Resolves a path input inside one of the data roots, following symlinks; refuses anything outside. */
export async function confinePath(path: string, roots: string[]): Promise<string> {
  if (roots.length === 0) {
    throw new ApiError(
      'PATH_NOT_ALLOWED',
      'path inputs are disabled: the gateway has no DATA_ROOTS configured',
    );
  }
  if (path.includes('\0')) throw new ApiError('PATH_NOT_ALLOWED', 'path contains a NUL byte');
  for (const root of roots) {
    const candidate = isAbsolute(path) ? resolve(path) : resolve(root, path);
    let real: string;
    let realRoot: string;
    try {
      realRoot = await realpath(root);
      real = await realpath(candidate);
    } catch {
      continue;
    }
    const rel = relative(realRoot, real);
    if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) && !rel.split(sep).includes('..'))
      return real;
  }
  throw new ApiError('PATH_NOT_ALLOWED', `path '${path}' is not a file under the configured data roots`);
}

/** Reads and decodes an ImageInput. */
export async function readImageInput(input: ImageInputArg, limits: ImageLimits): Promise<Raster> {
  let bytes: Uint8Array;
  let mediaType: string | undefined;
  if (input.dicom || input.nifti || input.dicomweb) {
    if (!limits.pacs && input.dicomweb) throw new ApiError('BAD_REQUEST', 'no PACS endpoints are configured');
    const medical = { maxBytes: limits.maxBytes, maxPixels: limits.maxPixels, pacs: limits.pacs! };
    if (input.dicom) return readDicomInput(input.dicom, medical);
    if (input.nifti) return readNiftiInput(input.nifti, medical);
    return readDicomWebInput(input.dicomweb!, medical);
  }
  if (input.encoded) {
    bytes = decodeBase64(input.encoded.base64, limits.maxBytes);
    mediaType = input.encoded.mediaType ?? undefined;
  } else if (typeof input.path === 'string') {
    const file = await confinePath(input.path, limits.dataRoots);
    // Checked again on the opened file and read through that same descriptor: a file swapped for a
    // symlink after confinePath looked at it is refused, not read.
    bytes = await readFileUnder(file, limits.dataRoots, {
      maxBytes: limits.maxBytes,
      name: `path '${input.path.slice(0, 200)}'`,
    });
  } else {
    throw new ApiError('BAD_REQUEST', 'image input needs exactly one of encoded or path');
  }
  return decoding(undefined, () => decodeImage(bytes, mediaType, { maxPixels: limits.maxPixels }));
}
