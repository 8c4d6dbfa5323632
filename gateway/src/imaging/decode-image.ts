/** One entry point that decodes any 2-D image input the gateway accepts into a Raster. */
import type { Raster } from '../core/raster.ts';
import { decodeDicom } from './dicom.ts';
import { decodeJpeg } from './decode-jpeg.ts';
import { decodePng } from './decode-png.ts';
import { decodeTiff } from './decode-tiff.ts';
import { DEFAULT_MAX_PIXELS, ImageError } from './image-error.ts';
import { resolveImageFormat } from './image-format.ts';

/** Options of decodeImage. */
export interface DecodeImageOptions {
  /** Largest accepted width x height, checked from the header before pixels are decoded (default 2^26). */
  maxPixels?: number;
}

/**
 * Decodes PNG (8/16-bit grey, grey+alpha, RGB, RGBA, palette; alpha dropped; 16-bit stays Uint16Array),
 * baseline/progressive JPEG (grey or RGB), TIFF (first page; 8/16-bit grey or RGB) and DICOM Part 10
 * (the 8-bit windowed display image; use decodeDicom for real values). The format is sniffed from magic
 * bytes; a given media type must agree with them. Failures are ImageError (BAD_IMAGE, UNSUPPORTED_FORMAT,
 * IMAGE_TOO_LARGE, UNSUPPORTED_TRANSFER_SYNTAX).
 */
export function decodeImage(bytes: Uint8Array, mediaType?: string, options: DecodeImageOptions = {}): Raster {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels > 0)) throw new RangeError(`maxPixels must be positive, got ${maxPixels}`);
  const format = resolveImageFormat(bytes, mediaType);
  switch (format) {
    case 'png':
      return decodePng(bytes, maxPixels);
    case 'jpeg':
      return decodeJpeg(bytes, maxPixels);
    case 'tiff':
      return decodeTiff(bytes, maxPixels);
    case 'dicom':
      return decodeDicom(bytes, { maxPixels }).display;
    case 'nifti':
      throw new ImageError(
        'UNSUPPORTED_FORMAT',
        'NIfTI is a volume: decode it with decodeNifti and pick a slice',
      );
    default: {
      const never: never = format;
      throw new Error(`unknown image format ${String(never)}`);
    }
  }
}
