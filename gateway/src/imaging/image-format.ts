/** Image container formats the gateway recognises, sniffed from magic bytes or named by media type. */
import { ImageError } from './image-error.ts';

/** A container format the imaging layer can identify. */
export type ImageFormat = 'png' | 'jpeg' | 'tiff' | 'dicom' | 'nifti';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The format named by the file's magic bytes (PNG signature, JPEG SOI, TIFF II*\0 / MM\0*, DICOM Part 10
 * "DICM" at offset 128, NIfTI-1 "n+1\0" at offset 344 or gzip), or undefined when none matches.
 * A gzip stream is reported as `nifti` because `.nii.gz` is the only gzip input the gateway accepts.
 */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const starts = (sig: number[], at = 0): boolean =>
    bytes.length >= at + sig.length && sig.every((b, i) => bytes[at + i] === b);
  if (starts(PNG_SIGNATURE)) return 'png';
  if (starts([0xff, 0xd8, 0xff])) return 'jpeg';
  // DICOM before TIFF: a Part 10 preamble may itself hold a TIFF header (dual-personality files).
  if (starts([0x44, 0x49, 0x43, 0x4d], 128)) return 'dicom';
  if (starts([0x49, 0x49, 0x2a, 0x00]) || starts([0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (starts([0x1f, 0x8b])) return 'nifti';
  if (starts([0x6e, 0x2b, 0x31, 0x00], 344) || starts([0x6e, 0x69, 0x31, 0x00], 344)) return 'nifti';
  if (starts([0x6e, 0x2b, 0x32, 0x00], 4)) return 'nifti';
  return undefined;
}

/**
 * The format a media type names (parameters ignored, case-insensitive); undefined for generic types
 * (`application/octet-stream`) that say nothing; UNSUPPORTED_FORMAT for any other type.
 */
export function formatOfMediaType(mediaType: string): ImageFormat | undefined {
  const base = mediaType.split(';')[0].trim().toLowerCase();
  switch (base) {
    case '':
    case 'application/octet-stream':
      return undefined;
    case 'image/png':
      return 'png';
    case 'image/jpeg':
    case 'image/jpg':
      return 'jpeg';
    case 'image/tiff':
    case 'image/tif':
      return 'tiff';
    case 'application/dicom':
      return 'dicom';
    case 'application/x-nifti':
    case 'application/nifti':
    case 'image/nifti':
    case 'application/gzip':
      return 'nifti';
    default:
      throw new ImageError(
        'UNSUPPORTED_FORMAT',
        `media type "${mediaType}" is not accepted; expected image/png, image/jpeg, image/tiff, application/dicom or application/x-nifti`,
      );
  }
}

/**
 * The format of `bytes`, sniffed from magic bytes and, when a media type is given, checked against it:
 * BAD_IMAGE when the bytes are no known format or contradict the declared type.
 */
export function resolveImageFormat(bytes: Uint8Array, mediaType?: string): ImageFormat {
  const declared = mediaType === undefined ? undefined : formatOfMediaType(mediaType);
  const sniffed = sniffImageFormat(bytes);
  if (sniffed === undefined) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new ImageError(
      'BAD_IMAGE',
      `unrecognised image bytes (${bytes.length} bytes, starting ${head || '<empty>'}); expected PNG, JPEG, TIFF, DICOM Part 10 or NIfTI`,
    );
  }
  if (declared !== undefined && declared !== sniffed) {
    throw new ImageError(
      'BAD_IMAGE',
      `declared media type ${mediaType} but the bytes are ${sniffed.toUpperCase()}`,
    );
  }
  return sniffed;
}
